"""A kernel's outgoing side without a kernel: what a display update or a widget message costs.

`RecordingPublisher` replaces an IPython shell's display publisher and `RecordingComm` is
the comm that widgets get from ``comm.create_comm``. Both serialize every message the way
ipykernel does (``jupyter_client.Session``: signed JSON frames plus binary buffers) and
record when serialization finished and how many bytes went out, so the numbers include
what a real kernel pays before the bytes reach its socket.

Also here: the recorded-stream server (``bench._sse_server``) in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench._common import clean_env, stop_process


@dataclass
class Sent:
    """One message as it left: when (``perf_counter``), its type, content, and wire size."""

    at: float
    msg_type: str
    content: dict[str, Any]
    metadata: dict[str, Any]
    wire_bytes: int
    buffer_bytes: int = 0
    frames: list[int] = field(default_factory=list)


def _session() -> Any:
    from jupyter_client.session import Session

    return Session(key=b"bench-signing-key", username="bench")


def _serialize(session: Any, msg_type: str, content: dict[str, Any], metadata: dict[str, Any],
               buffers: list[Any] | None) -> tuple[int, int, list[int]]:
    """Bytes on the wire for one iopub message: ipykernel's frames (identity, delimiter,
    signature, header, parent, metadata, content) and the buffers."""
    from jupyter_client.jsonutil import json_clean

    msg = session.msg(msg_type, json_clean(content), metadata=json_clean(metadata))
    frames = session.serialize(msg, ident=b"comm-or-display")
    sizes = [len(f) for f in frames] + [memoryview(b).nbytes for b in buffers or []]
    buffer_bytes = sum(memoryview(b).nbytes for b in buffers or [])
    return sum(sizes), buffer_bytes, sizes


class Recorder:
    def __init__(self) -> None:
        self.session = _session()
        self.sent: list[Sent] = []

    def record(self, msg_type: str, content: dict[str, Any], metadata: dict[str, Any] | None,
               buffers: list[Any] | None = None) -> None:
        total, buffer_bytes, frames = _serialize(self.session, msg_type, content, metadata or {}, buffers)
        self.sent.append(Sent(time.perf_counter(), msg_type, content, metadata or {}, total, buffer_bytes, frames))


def install_display_recorder(shell: Any) -> Recorder:
    """Make ``shell`` publish displays into a `Recorder` (display_data / update_display_data)."""
    from IPython.core.displaypub import DisplayPublisher

    recorder = Recorder()

    class RecordingPublisher(DisplayPublisher):  # type: ignore[misc]
        def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None, source: Any = None, *,
                    transient: dict[str, Any] | None = None, update: bool = False, **kwargs: Any) -> None:
            content = {"data": data, "metadata": metadata or {}, "transient": transient or {}}
            recorder.record("update_display_data" if update else "display_data", content, {})

    shell.display_pub = RecordingPublisher(shell=shell)
    return recorder


def install_comm_recorder() -> Recorder:
    """Make every new widget's comm serialize its messages into a `Recorder`."""
    import comm
    from comm.base_comm import BaseComm

    recorder = Recorder()

    class RecordingComm(BaseComm):  # type: ignore[misc]
        def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                        **keys: Any) -> None:
            content = dict(data=data or {}, comm_id=self.comm_id, **keys)
            recorder.record(msg_type, content, metadata, buffers)

    comm.create_comm = lambda *args, **kwargs: RecordingComm(*args, **kwargs)
    return recorder


# -- the recorded stream over a socket ---------------------------------------------------------
@contextmanager
def sse_server(width: int, height: int, pause: float, variants: int = 1, partials: int = 3) -> Iterator[str]:
    """``python -m bench._sse_server``: yields its base URL (``http://127.0.0.1:P/v1``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench._sse_server", str(width), str(height), str(pause), str(variants), str(partials)],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            err = proc.stderr.read()[-2000:] if proc.stderr else ""
            raise RuntimeError(f"bench._sse_server did not start: {line!r} {err}")
        yield f"http://127.0.0.1:{int(line)}/v1"
    finally:
        stop_process(proc)


def marks(url: str) -> list[list[float]]:
    """Per request served so far: when the last byte of each event was handed to the socket."""
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/marks", timeout=10) as response:
        return json.loads(response.read())

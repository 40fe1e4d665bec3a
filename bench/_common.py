"""What every benchmark shares: the result row, timing helpers, test images, subprocesses."""

from __future__ import annotations

import io
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config:
    """How hard to run: ``quick`` shrinks sizes and repeats so that the whole run takes seconds."""

    quick: bool = False
    repeats: int = 7

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the table: a measured value against its anchor, and the target ratio.

    ``target`` is the highest ratio that passes (every target here is an upper bound);
    None means the row is informative only.
    """

    name: str
    value: float | None
    anchor: float | None
    unit: str
    target: float | None
    target_text: str = ""
    anchor_name: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor:
            return None
        return self.value / self.anchor

    @property
    def status(self) -> str:
        if self.error:
            return "ERROR"
        if self.ratio is None:
            return "n/a"
        if self.target is None:
            return "info"
        return "pass" if self.ratio <= self.target else "FAIL"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        data["status"] = self.status
        return data


def failed(name: str, exc: BaseException) -> Row:
    return Row(name, None, None, "", None, error=f"{type(exc).__name__}: {exc}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def rounded(values: list[float], digits: int = 6) -> list[float]:
    return [round(v, digits) for v in values]


# -- images -----------------------------------------------------------------------------
def noisy_png(width: int, height: int, amplitude: int, seed: int = 0) -> bytes:
    """A PNG that compresses like a photo-ish generation: a gradient plus noise.

    ``amplitude`` sets the noise (and so the file size): at 1024x1024, 12 gives about 2 MB
    (zlib level 1: five times quicker to make than the default, ~15% larger).
    """
    import numpy as np
    from PIL import Image as PIL

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.int16)
    if amplitude:
        base += rng.integers(-(amplitude // 2), amplitude // 2 + 1, base.shape, dtype=np.int16)
    buffer = io.BytesIO()
    PIL.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# -- processes --------------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """The environment without OpenAI credentials (nothing here may reach the internet)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "NBIMAGES_BACKEND"}
    # Bytecode is written, as an installed package has it: with PYTHONDONTWRITEBYTECODE set, every
    # fresh interpreter would compile nbimages from source (and not the SDK, installed with its .pyc).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout (raise with stderr on failure)."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env or clean_env(), timeout=timeout
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"subprocess failed ({proc.returncode}): {last}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def simulator_server(latency: float, partial_interval: float = 0.0, home: str | None = None,
                     options: tuple[str, ...] = ()) -> Iterator[str]:
    """``nbimages serve`` in its own process (``options``: more of its command-line options);
    yields its base URL (``http://127.0.0.1:P/v1``)."""
    port = free_port()
    env = clean_env()
    if home:
        env["NBIMAGES_HOME"] = home
    cmd = [
        sys.executable, "-m", "nbimages", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--latency", str(latency), "--partial-interval", str(partial_interval), "--quiet", *options,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nbimages serve exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nbimages serve did not start within 30 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[Any]) -> None:
    """Terminate a server started for a benchmark (kill it if it lingers) and close its pipes."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe:
            pipe.close()

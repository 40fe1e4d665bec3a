"""The API key never leaves the kernel: a sentinel key is used for real, then searched for everywhere.

The key travels as OpenAI's does (``Authorization: Bearer ...`` to a server on 127.0.0.1,
observed there), while the tutorials, the magics, the widgets and the error paths run; then
every artifact is searched for the key and for its random suffix: executed notebooks (with
their saved widget state), widget state and messages, every file of the store (PNG text
chunks decompressed, the SQLite index and its WAL), logs, captured output, exception
messages, tracebacks and reprs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import shutil
import sqlite3
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import nbimages
from nbimages.errors import NbImagesError

ROOT = Path(__file__).resolve().parent.parent
SENTINEL_PREFIX = "sk-nbimages-SENTINEL-"


# -- the key and the search ------------------------------------------------------------------
@dataclass(frozen=True)
class Secret:
    key: str
    suffix: str  # the random part: found even if the prefix were cut or rewritten

    @classmethod
    def new(cls) -> Secret:
        suffix = secrets.token_hex(16)
        return cls(SENTINEL_PREFIX + suffix, suffix)

    @property
    def needles(self) -> list[bytes]:
        # The suffix is searched as written and in UTF-16 (Windows-style text chunks).
        return [self.key.encode(), self.suffix.encode(), self.suffix.encode("utf-16-le")]


_B64_RUN = re.compile(rb"[A-Za-z0-9+/]{48,}={0,2}")


@dataclass
class Scan:
    """Searches bytes for the secret, looking inside PNG text chunks and base64 payloads."""

    secret: Secret
    hits: list[str] = field(default_factory=list)
    items: int = 0
    files: int = 0
    bytes: int = 0

    def blob(self, where: str, data: bytes, depth: int = 0) -> None:
        self.items += 1
        self.bytes += len(data)
        for needle in self.secret.needles:
            if needle in data:
                at = data.index(needle)
                self.hits.append(f"{where}: ...{data[max(0, at - 60):at + 10]!r}...")
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            for name, text in png_texts(data):
                self.blob(f"{where} [PNG {name}]", text, depth + 1)
        if depth < 2:  # base64 inside JSON (notebook images, widget buffers), and inside that a PNG
            for match in _B64_RUN.finditer(data):
                try:
                    decoded = base64.b64decode(match[0] + b"=" * (-len(match[0]) % 4))
                except (binascii.Error, ValueError):
                    continue
                self.blob(f"{where} [base64 at {match.start()}]", decoded, depth + 1)

    def text(self, where: str, text: str) -> None:
        self.blob(where, text.encode("utf-8", "surrogatepass"))

    def tree(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.files += 1
                self.blob(str(path), path.read_bytes())
                if path.suffix in (".db", ".sqlite", ".sqlite3") or path.name.endswith((".db", ".sqlite")):
                    self.text(f"{path} [rows]", sqlite_dump(path))

    def report(self) -> str:
        return f"{self.items} items, {self.files} files, {self.bytes:,} bytes scanned"


def png_texts(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Every text chunk of a PNG, decompressed (tEXt, zTXt, iTXt) — and any other chunk's raw bytes."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        try:
            if kind == b"zTXt":
                keyword, _, rest = body.partition(b"\0")
                yield f"zTXt {keyword.decode('latin-1')}", zlib.decompress(rest[1:])
            elif kind == b"iTXt":
                keyword, _, rest = body.partition(b"\0")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _translated, _, text = rest.partition(b"\0")
                yield f"iTXt {keyword.decode('latin-1')}", zlib.decompress(text) if compressed else text
            elif kind not in (b"IDAT", b"IHDR", b"IEND"):
                yield kind.decode("latin-1"), body
        except zlib.error:
            yield f"{kind!r} (undecodable)", body


def sqlite_dump(path: Path) -> str:
    """All rows of all tables, as text (reads through the WAL like any reader)."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return ""
    try:
        out = []
        for (table,) in con.execute("select name from sqlite_master where type='table'").fetchall():
            for row in con.execute(f'select * from "{table}"'):
                out.append(repr(row))
        return "\n".join(out)
    except sqlite3.Error:
        return ""
    finally:
        con.close()


def test_the_scan_finds_a_planted_key_in_every_hiding_place(tmp_path: Path) -> None:
    """The control: each place the real scan looks would reveal the key if it were there."""
    from PIL import Image as PIL
    from PIL.PngImagePlugin import PngInfo

    secret = Secret.new()
    info = PngInfo()
    info.add_text("parameters", json.dumps({"api_key": secret.key}), zip=True)  # zTXt
    pil_png = tmp_path / "a.png"
    PIL.new("RGB", (4, 4)).save(pil_png, pnginfo=info)
    assert secret.key.encode() not in pil_png.read_bytes()  # compressed: a plain search misses it
    nb = tmp_path / "nb.ipynb"
    nb.write_text(json.dumps({"outputs": [{"image/png": base64.b64encode(pil_png.read_bytes()).decode()}]}))
    db = tmp_path / "index.db"
    con = sqlite3.connect(db)
    con.execute("create table t (x)")
    con.execute("insert into t values (?)", (secret.suffix,))
    con.commit()
    con.close()
    scan = Scan(secret)
    scan.tree(tmp_path)
    where = "\n".join(scan.hits)
    assert "a.png [PNG zTXt parameters]" in where
    assert "nb.ipynb [base64" in where and "[PNG zTXt parameters]" in where
    assert "index.db" in where
    clean = Scan(secret)
    clean.text("other", "sk-nbimages-SENTINEL-" + secrets.token_hex(16))  # another key: no hit
    assert clean.hits == []


# -- a server that sees the key --------------------------------------------------------------
@dataclass
class AuthSeen:
    with_key: int = 0
    without: int = 0


@pytest.fixture
def secret() -> Secret:
    return Secret.new()


@pytest.fixture
def keyed_server(sim_server: Any, secret: Secret, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, AuthSeen]]:
    """The simulator on 127.0.0.1, counting requests that carried the sentinel as a Bearer token.

    The simulator never records the Authorization header (by design), so a thin observer
    wraps its entry point; only the comparison's outcome is kept, never the header.
    """
    seen = AuthSeen()
    simulator = sim_server.simulator
    handle = simulator.handle

    def observed(method: str, path: str, headers: Any, *args: Any, **kwargs: Any) -> Any:
        auth = dict((k.lower(), v) for k, v in headers).get("authorization")
        if auth == f"Bearer {secret.key}":
            seen.with_key += 1
        else:
            seen.without += 1
        return handle(method, path, headers, *args, **kwargs)

    monkeypatch.setattr(simulator, "handle", observed)
    monkeypatch.setenv("OPENAI_API_KEY", secret.key)
    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    yield sim_server, seen


class RecordingComm:
    """A comm that keeps every message a widget would send to the browser."""

    messages: list[tuple[str, Any, list[bytes]]] = []

    def __init__(self, *args: Any, data: Any = None, buffers: Any = None, **kwargs: Any) -> None:
        import uuid

        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self.kernel = True  # ipywidgets sends only through a comm that has a kernel
        self._handlers: list[Any] = []
        self.messages.append(("open", data, [bytes(b) for b in buffers or []]))

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.messages.append(("msg", data, [bytes(b) for b in buffers or []]))

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.messages.append(("close", None, []))

    def on_msg(self, callback: Any) -> None:
        self._handlers.append(callback)

    def on_close(self, callback: Any) -> None:
        pass


@pytest.fixture
def comm_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, list[bytes]]]:
    import comm

    log: list[tuple[str, Any, list[bytes]]] = []
    monkeypatch.setattr(RecordingComm, "messages", log)
    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    return log


def _describe_error(exc: BaseException) -> str:
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for name in ("body", "message", "value", "expected", "partials", "images"):
        if hasattr(exc, name):
            parts.append(repr(getattr(exc, name)))
    return "\n".join(parts)


def _provoke_errors(client: nbimages.Client, server: Any, secret: Secret, png: bytes) -> list[str]:
    """Error paths that might echo a request: 401, moderation, broken streams, timeouts, bad input."""
    faults = server.simulator.faults
    out = []

    def catch(call: Any) -> None:
        try:
            result = call()
            if isinstance(result, nbimages.Stream):
                list(result)
        except NbImagesError as exc:
            out.append(_describe_error(exc))
        else:
            raise AssertionError("expected an error")

    faults.add("status", status=401, code="invalid_api_key",
               message="Incorrect API key provided. You can find your API key at platform.openai.com.")
    catch(lambda: client.generate("a fox"))
    faults.add("status", status=429, times=3, code="rate_limit_exceeded", retry_after=0)
    catch(lambda: client.generate("a fox"))
    catch(lambda: client.generate("forbidden-content"))
    faults.add("cut", after_events=1)
    catch(lambda: client.generate("a fox", stream=True, partial_images=2))
    faults.add("error_event", at_event=1, code="server_error", message="boom")
    catch(lambda: client.generate("a fox", stream=True, partial_images=2))
    faults.add("stall", seconds=3)
    with nbimages.Client(base_url=server.url, timeout=0.3, max_retries=0) as slow:
        catch(lambda: slow.generate("a fox"))
        out.append(repr(slow))
    with nbimages.Client(base_url="http://127.0.0.1:9/v1", max_retries=0) as nowhere:  # nothing listens on 9
        catch(lambda: nowhere.generate("a fox"))
    catch(lambda: client.generate("a fox", size="1000x1000"))
    catch(lambda: client.edit("a fox", png, mask=png))
    catch(lambda: client.describe("ftp://example.com/a.png"))
    return out


def test_sentinel_key_never_leaves_the_kernel(
    keyed_server: tuple[Any, AuthSeen], secret: Secret, hermetic_env: Path, comm_log: list[Any],
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], ipshell: Any, png: Any,
) -> None:
    server, seen = keyed_server
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    for name in ("httpx", "httpcore", "nbimages", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts: list[tuple[str, str]] = []  # (where, text) of everything that is not a file
    image_png = png((64, 64), (30, 140, 90))
    mask = nbimages.mask_from_box(image_png, (8, 8, 40, 40))

    # The Python API, with the key from the environment as users set it.
    client = nbimages.Client()
    assert client.backend == "custom"
    conv = nbimages.Conversation(client)
    first = conv.generate("a fox in the snow")
    conv.send("now at night")
    edited = conv.edit("add a moon", image_png, mask=mask)
    stream = client.generate("a fox", stream=True, partial_images=2)
    events = list(stream)
    answer = client.describe(image_png, "what colour?")
    file_id = client.upload(image_png)
    nbimages.Store().save(client.generate("a stored fox")[0])

    async def async_calls() -> list[str]:
        async with nbimages.AsyncClient() as aclient:
            images = await aclient.generate("an async fox")
            return [repr(aclient), repr(images)]

    texts.append(("async", "\n".join(asyncio.run(async_calls()))))
    texts.append(("reprs", "\n".join(repr(x) for x in (
        client, client._backend, conv, first, edited, events, answer, file_id, stream, conv.turns))))
    texts.append(("image bundles", json.dumps([img._repr_mimebundle_() for img in [*first.images, *edited.images]],
                                              default=repr)))
    texts.append(("errors", "\n".join(_provoke_errors(client, server, secret, image_png))))

    # The magics, in a real shell: every display output.
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        for cell in ("%%imagine --partial-images 1\na lighthouse", "%%imagine --continue\nadd fog",
                     "%describe last what is this?", "%imagine_history --all", "%imagine_usage",
                     "%%imagine --size 1000x1000\nbad size", "%config Imagine", "%imagine_undo"):
            ipshell.run_cell(cell)
        server.simulator.faults.add("status", status=401, code="invalid_api_key", message="Incorrect API key")
        ipshell.run_cell("%%imagine --fresh\na lighthouse")
    texts.append(("magic outputs", json.dumps([[o.data, o.metadata] for o in captured.outputs], default=repr)))
    texts.append(("magic stdout/stderr", captured.stdout + captured.stderr))
    assert any("AuthenticationError" in str(o.data) for o in captured.outputs)  # the 401 was shown

    # The widgets, driven as the browser would, with the key in the environment and in the client.
    from nbimages.widgets import Gallery, MaskPainter, Studio

    studio = Studio(client=client)
    studio.generate("a red kite")
    studio.wait(30)
    studio.refine("make it blue")
    studio.wait(30)
    server.simulator.faults.add("status", status=401, code="invalid_api_key", message="Incorrect API key")
    studio.generate("fails with 401")
    studio.wait(30)
    assert "AuthenticationError" in studio.error
    painter = MaskPainter(image_png)
    painter.set_painted(mask)
    painter.edit("a hat", client=client)
    gallery = Gallery()
    gallery.select(gallery.items[0]["id"])
    for widget in (studio, painter, gallery):
        widget._handle_custom_msg({"action": "hello"}, [])
        state = widget.get_state()
        for name, value in state.items():
            if isinstance(value, (bytes, bytearray, memoryview)):
                texts.append((f"{type(widget).__name__}.{name} (buffer)", bytes(value).decode("latin-1")))
        texts.append((f"{type(widget).__name__} state", json.dumps(state, default=lambda v: f"<{len(v)} bytes>")))
        texts.append((f"{type(widget).__name__} repr", repr(widget) + json.dumps(widget._repr_mimebundle_(),
                                                                                 default=repr)))
    assert len(comm_log) > 10
    for kind, data, buffers in comm_log:
        texts.append((f"comm {kind}", json.dumps(data, default=lambda v: f"<{len(v)} bytes>")))
        texts.extend((f"comm {kind} buffer", bytes(b).decode("latin-1")) for b in buffers)

    for c in (client,):
        c.close()
    out, err = capfd.readouterr()
    texts.append(("stdout", out))
    texts.append(("stderr", err))
    texts.append(("log records", "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}"
                                             for r in caplog.records)))
    assert any(r.name.startswith("httpx") for r in caplog.records)  # logging was really on

    scan = Scan(secret)
    for where, text in texts:
        scan.text(where, text)
    scan.tree(hermetic_env)
    stored = [p for p in hermetic_env.rglob("*") if p.is_file()]
    kinds = sorted({p.suffix for p in stored})
    assert ".png" in kinds and ".sqlite" in kinds, kinds  # images and the index were written, and scanned
    print(f"secret scan (in process): {scan.report()} (stored: {', '.join(kinds)}); "
          f"{seen.with_key} requests carried the key", file=sys.__stderr__)
    assert scan.hits == [], "\n".join(scan.hits[:20])
    assert seen.with_key >= 20, seen  # the sentinel really was the key in use
    assert seen.without == 0, seen  # every request carried it


# -- the tutorials, executed in a kernel whose environment holds the key ------------------------
def _notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
def test_tutorials_never_show_or_store_the_key(
    keyed_server: tuple[Any, AuthSeen], secret: Secret, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebooks = _notebooks()
    assert notebooks, "no tutorial notebooks in notebooks/"
    server, seen = keyed_server
    home = tmp_path / "home"
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work)
    monkeypatch.setenv("NBIMAGES_HOME", str(home))  # the kernel inherits this environment
    scan = Scan(secret)
    executed = tmp_path / "executed"
    executed.mkdir()
    per_notebook = {}
    timings = {}
    for source in notebooks:
        before, started = seen.with_key, time.monotonic()
        nb = nbformat.read(work / source.name, as_version=4)
        NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(work)}},
                       store_widget_state=True).execute()
        target = executed / source.name
        nbformat.write(nb, target)
        per_notebook[source.name] = seen.with_key - before
        timings[source.name] = round(time.monotonic() - started, 1)
    out, err = capfd.readouterr()
    scan.text("kernel and server stdout", out)
    scan.text("kernel and server stderr", err)
    scan.tree(executed)
    scan.tree(home)
    scan.tree(work)  # files the notebooks wrote next to themselves
    assert any(p.suffix == ".png" for p in home.rglob("*")), "the tutorials stored no image"
    widget_state = [nb for nb in executed.glob("*.ipynb")
                    if "application/vnd.jupyter.widget-state+json" in nb.read_text()]
    print(f"secret scan (tutorials): {scan.report()}; requests with the key per notebook: {per_notebook}; "
          f"{len(widget_state)} notebook(s) with saved widget state; seconds: {timings}", file=sys.__stderr__)
    assert scan.hits == [], "\n".join(scan.hits[:20])
    assert seen.with_key > 0 and sum(per_notebook.values()) == seen.with_key, per_notebook
    assert seen.without == 0, seen

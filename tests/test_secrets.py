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
import threading
import time
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import pytest

import nbimages
from nbimages._secrets import REDACTED
from nbimages.errors import NbImagesError

from _images import make_png

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
        auth = {k.lower(): v for k, v in headers}.get("authorization")
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

    messages: ClassVar[list[tuple[str, Any, list[bytes]]]] = []

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
    _server, seen = keyed_server
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


# -- a server that echoes the credential it was sent -----------------------------------------------
# A real server on 127.0.0.1 that quotes, in everything it sends back, the credential the request
# carried (the bearer key; ``user:password`` of Basic auth; an ``api-key`` query parameter): in a
# 401's message, param and ``x-request-id``, a stream's ``error`` event, a ``revised_prompt``, an
# answer's text. The prompt picks the reply: "unauthorized" -> 401, "broken" -> an ``error`` event
# after a partial image, "split" -> an answer streamed a few characters at a time.
ECHO_PNG = make_png((64, 64), (200, 120, 40))
ECHO_PNG_B64 = base64.b64encode(ECHO_PNG).decode()
ECHO_USAGE = {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30}
SPLIT_PIECE_CHARS = 5
SPLIT_PIECE_SECONDS = 0.06  # longer than LiveMarkdown's min_interval: every piece is shown on its own


@dataclass
class EchoLog:
    """What the echo server received: one credential per request (kept here, never printed)."""

    credentials: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class _EchoHandler(BaseHTTPRequestHandler):
    server: _EchoHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._credential()
        self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        credential = self._credential()
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        request = json.loads(raw) if raw.startswith(b"{") else {}
        asked = json.dumps([request.get("prompt"), request.get("input")])
        path = urlsplit(self.path).path
        if "unauthorized" in asked:
            self._json(401, {"error": {"message": f"Incorrect API key provided: {credential}.",
                                       "type": "invalid_request_error", "param": f"key {credential}",
                                       "code": "invalid_api_key"}},
                       {"x-request-id": f"req_{credential}"})
        elif path.endswith("/responses"):
            self._response(request, credential, split="split" in asked)
        elif path.endswith("/images/generations") and request.get("stream"):
            self._image_stream(credential, broken="broken" in asked)
        elif path.endswith("/images/generations"):
            self._json(200, {"created": 1760000000, "usage": ECHO_USAGE, "data": [
                {"b64_json": ECHO_PNG_B64, "revised_prompt": f"a fox, as asked by {credential}"}]})
        else:
            self._json(404, {"error": {"message": f"no {path} for {credential}", "type": "invalid_request_error"}})

    def _credential(self) -> str:
        scheme, _, value = (self.headers.get("authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            credential = base64.b64decode(value).decode()
        else:
            credential = value or dict(parse_qsl(urlsplit(self.path).query)).get("api-key", "")
        self.server.log.credentials.append(credential)
        self.server.log.paths.append(self.path)
        return credential

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", "content-length": str(len(data)),
                            **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _events(self, events: Iterator[dict[str, Any]], pause: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("x-request-id", "req_stream")
        self.end_headers()  # HTTP/1.0: the stream ends when the connection closes
        for event in events:
            self.wfile.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
            if pause:
                time.sleep(pause)

    def _image_stream(self, credential: str, broken: bool) -> None:
        partial = {"type": "image_generation.partial_image", "b64_json": ECHO_PNG_B64, "partial_image_index": 0}
        if broken:
            error = {"type": "error", "error": {"code": "server_error", "message": f"it failed for {credential}"}}
            self._events(iter([partial, error]))
            return
        completed = {"type": "image_generation.completed", "b64_json": ECHO_PNG_B64, "usage": ECHO_USAGE,
                     "revised_prompt": f"a fox, as asked by {credential}"}
        self._events(iter([partial, completed]))

    def _response(self, request: dict[str, Any], credential: str, split: bool) -> None:
        answer = f"A fox. Your key is {credential} and that is all."
        message = {"type": "message", "id": "msg_echo", "role": "assistant",
                   "content": [{"type": "output_text", "text": answer}]}
        body = {"id": "resp_echo", "object": "response", "status": "completed", "model": "echo",
                "output": [message], "usage": ECHO_USAGE}
        if not request.get("stream"):
            self._json(200, body)
            return
        size = SPLIT_PIECE_CHARS if split else len(answer)
        pieces = [answer[i:i + size] for i in range(0, len(answer), size)]

        def events() -> Iterator[dict[str, Any]]:
            yield {"type": "response.created", "response": {**body, "status": "in_progress", "output": []}}
            for piece in pieces:
                yield {"type": "response.output_text.delta", "item_id": "msg_echo", "output_index": 0, "delta": piece}
            yield {"type": "response.output_text.done", "item_id": "msg_echo", "text": answer}
            yield {"type": "response.completed", "response": body}

        self._events(events(), SPLIT_PIECE_SECONDS if split else 0.0)


class _EchoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.log = EchoLog()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def url_with(self, userinfo: str = "", query: str = "") -> str:
        host = f"{userinfo}@" if userinfo else ""
        return f"http://{host}127.0.0.1:{self.server_address[1]}/v1" + (f"?{query}" if query else "")


@pytest.fixture
def echo_server() -> Iterator[_EchoHTTPServer]:
    server = _EchoHTTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def sinks(caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder,
          capfd: pytest.CaptureFixture[str]) -> Iterator[Sinks]:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "nbimages"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield Sinks(caplog, recwarn, capfd)


@dataclass
class Sinks:
    """Where text goes besides return values: log records, warnings, the process's stdout and stderr."""

    caplog: pytest.LogCaptureFixture
    recwarn: pytest.WarningsRecorder
    capfd: pytest.CaptureFixture[str]

    def texts(self) -> list[tuple[str, str]]:
        out, err = self.capfd.readouterr()
        records = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in self.caplog.records)
        warned = "\n".join(f"{w.category.__name__}: {w.message}" for w in self.recwarn.list)
        return [("stdout", out), ("stderr", err), ("log records", records), ("warnings", warned)]


def _everything_about(exc: BaseException) -> str:
    """An exception as every sink could show it: str, repr, args, attributes, traceback, and the
    same for the exceptions chained to it."""
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc)), "".join(traceback.format_exception(exc))]
    for chained in (exc.__context__, exc.__cause__):
        if chained is not None:
            parts.append(_everything_about(chained))
    return "\n".join(parts)


def _raised(call: Any) -> BaseException:
    try:
        result = call()
        if isinstance(result, nbimages.Stream):
            list(result)
    except NbImagesError as exc:
        return exc
    raise AssertionError("expected an error")


async def _araised(call: Any) -> BaseException:
    try:
        result = await call()
        if isinstance(result, nbimages.AsyncStream):
            async for _ in result:
                pass
    except NbImagesError as exc:
        return exc
    raise AssertionError("expected an error")


def _assert_clean(secret: Secret, texts: list[tuple[str, str]], home: Path | None = None) -> Scan:
    scan = Scan(secret)
    for where, text in texts:
        scan.text(where, text)
    if home is not None:
        scan.tree(home)
    assert scan.hits == [], "\n".join(scan.hits[:20])
    return scan


def _client_echoes(client: nbimages.Client) -> list[tuple[str, str]]:
    """Every kind of server text the echo server sends, through the blocking client."""
    unauthorized = _raised(lambda: client.generate("unauthorized fox"))
    assert isinstance(unauthorized, nbimages.AuthenticationError)
    assert unauthorized.request_id and unauthorized.request_id.startswith("req_")  # the header arrived
    broken = _raised(lambda: client.generate("broken fox", stream=True, partial_images=1))
    assert isinstance(broken, nbimages.StreamError) and broken.partials
    images = client.generate("a fox")
    streamed = list(client.generate("a fox", stream=True, partial_images=1))
    answer = client.describe(ECHO_PNG, "what is it?")
    stream = client.describe(ECHO_PNG, "what is it?", stream=True)
    deltas = [e.delta for e in stream if isinstance(e, nbimages.TextDelta)]
    response = client.respond("tell me")
    shown = [images[0].revised_prompt, answer, response.output_text]
    assert all(text and REDACTED in text for text in shown), shown  # the echo arrived, redacted
    return [
        ("401", _everything_about(unauthorized)), ("stream error event", _everything_about(broken)),
        ("revised prompts", repr([images, images[0].revised_prompt, streamed])),
        ("image bundles", json.dumps([images[0]._repr_mimebundle_()], default=repr)),
        ("answer", answer), ("streamed answer", repr([deltas, stream.text, stream.result])),
        ("response", repr(response) + repr(response.raw)), ("client", repr(client) + client.base_url),
    ]


async def _async_client_echoes(client: nbimages.AsyncClient) -> list[tuple[str, str]]:
    unauthorized = await _araised(lambda: client.generate("unauthorized fox"))
    broken = await _araised(lambda: client.generate("broken fox", stream=True, partial_images=1))
    assert isinstance(unauthorized, nbimages.AuthenticationError) and isinstance(broken, nbimages.StreamError)
    images = await client.generate("a fox")
    answer = await client.describe(ECHO_PNG, "what is it?")
    assert REDACTED in (images[0].revised_prompt or "") and REDACTED in answer
    return [("async 401", _everything_about(unauthorized)), ("async stream error", _everything_about(broken)),
            ("async results", repr([images, images[0].revised_prompt, answer, client]))]


@pytest.mark.parametrize("given", ["argument", "environment"])
def test_a_key_the_server_echoes_is_never_shown_by_the_clients(
    echo_server: _EchoHTTPServer, secret: Secret, given: str, sinks: Sinks, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(a) a 401 quoting the key in its message, param and x-request-id, (b) a stream's error
    event, (c) revised prompts, (d) answers, through `Client` and `AsyncClient`."""
    if given == "environment":
        monkeypatch.setenv("OPENAI_API_KEY", secret.key)
        options: dict[str, Any] = {}
    else:
        options = {"api_key": secret.key}
    with nbimages.Client(base_url=echo_server.url, max_retries=0, **options) as client:
        texts = _client_echoes(client)

    async def run_async() -> list[tuple[str, str]]:
        async with nbimages.AsyncClient(base_url=echo_server.url, max_retries=0, **options) as aclient:
            return await _async_client_echoes(aclient)

    texts += asyncio.run(run_async())
    _assert_clean(secret, texts + sinks.texts())
    assert echo_server.log.credentials.count(secret.key) == len(echo_server.log.credentials) == 11


def test_a_key_the_server_echoes_is_never_shown_by_the_magics(
    echo_server: _EchoHTTPServer, secret: Secret, hermetic_env: Path, ipshell: Any, sinks: Sinks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``%%imagine`` and ``%describe`` in a real shell: every output (text, HTML, metadata), the store."""
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("OPENAI_API_KEY", secret.key)
    monkeypatch.setenv("OPENAI_BASE_URL", echo_server.url)
    with capture_output() as captured:
        for cell in ("%%imagine --partial-images 1\na fox", "%describe last what is it?",
                     "%%imagine --partial-images 1 --fresh\nbroken fox", "%%imagine --fresh\nunauthorized fox",
                     "%imagine_history --all"):
            ipshell.run_cell(cell)
    outputs = json.dumps([[o.data, o.metadata] for o in captured.outputs], default=repr)
    assert "AuthenticationError" in outputs and "StreamError" in outputs  # both errors were shown
    assert REDACTED in outputs  # and the echoes arrived: the revised prompt, the answer
    _assert_clean(secret, [("magic outputs", outputs), ("magic stdout/stderr", captured.stdout + captured.stderr),
                           *sinks.texts()], hermetic_env)
    assert any(p.suffix == ".sqlite" for p in hermetic_env.rglob("*"))  # the index was written, and scanned
    assert echo_server.log.credentials and set(echo_server.log.credentials) == {secret.key}


def test_a_key_the_server_echoes_is_never_shown_by_the_studio(
    echo_server: _EchoHTTPServer, secret: Secret, hermetic_env: Path, comm_log: list[Any], sinks: Sinks,
) -> None:
    """The Studio's synced state (its ``error`` trait among it) and every message it sends."""
    from nbimages.widgets import Studio

    client = nbimages.Client(api_key=secret.key, base_url=echo_server.url, max_retries=0)
    studio = Studio(client=client)
    shown = []
    for prompt in ("a fox", "unauthorized fox", "broken fox"):
        studio.generate(prompt)
        studio.wait(30)
        shown.append(studio.error)
    client.close()
    assert shown[0] == "" and "AuthenticationError" in shown[1] and "StreamError" in shown[2], shown
    state = studio.get_state()
    texts = [("Studio state", json.dumps(state, default=lambda v: f"<{len(v)} bytes>")),
             ("Studio errors", "\n".join(shown)), ("Studio repr", repr(studio))]
    texts += [(f"comm {kind}", json.dumps(data, default=lambda v: f"<{len(v)} bytes>")) for kind, data, _ in comm_log]
    _assert_clean(secret, texts + sinks.texts(), hermetic_env)
    assert set(echo_server.log.credentials) == {secret.key}


@pytest.fixture
def password() -> Secret:
    suffix = secrets.token_hex(16)
    return Secret("s3cretpassw0rd" + suffix, suffix)


def test_a_password_in_the_base_url_is_never_shown(
    echo_server: _EchoHTTPServer, password: Secret, hermetic_env: Path, ipshell: Any, sinks: Sinks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """(e) ``http://user:PASSWORD@host/v1``: status lines, reprs, errors, echoes, the store, logs."""
    from IPython.utils.capture import capture_output

    url = echo_server.url_with(userinfo=f"user:{password.key}")
    with nbimages.Client(base_url=url, max_retries=0) as client:
        assert client.base_url == echo_server.url_with(userinfo="user:***")
        texts = _client_echoes(client)
        texts.append(("backend", repr(client._backend)))
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with capture_output() as captured:
        for cell in ("%%imagine --partial-images 1\na fox", "%describe last what is it?",
                     "%%imagine --fresh\nunauthorized fox"):
            ipshell.run_cell(cell)
    outputs = json.dumps([[o.data, o.metadata] for o in captured.outputs], default=repr)
    assert "user:***@127.0.0.1" in outputs  # the status line names the server, without its password
    texts += [("magic outputs", outputs), ("magic stdout/stderr", captured.stdout + captured.stderr)]
    _assert_clean(password, texts + sinks.texts(), hermetic_env)
    assert set(echo_server.log.credentials) == {f"user:{password.key}"}  # every request carried it


def test_a_key_in_the_base_url_query_is_never_shown(
    echo_server: _EchoHTTPServer, secret: Secret, sinks: Sinks,
) -> None:
    """An Azure-style ``?api-key=...``: masked where the URL is shown, and still sent with every request."""
    url = echo_server.url_with(query=f"api-version=2025-04-01&api-key={secret.key}")
    with nbimages.Client(base_url=url, max_retries=0) as client:
        assert client.base_url == echo_server.url_with(query="api-version=2025-04-01&api-key=***")
        texts = _client_echoes(client)
        texts.append(("backend", repr(client._backend)))
    _assert_clean(secret, texts + sinks.texts())
    assert set(echo_server.log.credentials) == {secret.key}
    assert all(urlsplit(p).path.startswith("/v1/") and "api-version=2025-04-01" in p for p in echo_server.log.paths)


def test_a_key_split_across_text_deltas_is_never_shown(
    echo_server: _EchoHTTPServer, secret: Secret, hermetic_env: Path, ipshell: Any, sinks: Sinks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model streams an echoed key a few characters at a time: no piece of it may be shown."""
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("OPENAI_API_KEY", secret.key)
    monkeypatch.setenv("OPENAI_BASE_URL", echo_server.url)
    with nbimages.Client() as client:
        stream = client.describe(ECHO_PNG, "split it", stream=True)
        deltas = [e.delta for e in stream if isinstance(e, nbimages.TextDelta)]
        texts = [("deltas", "".join(deltas)), ("stream text", stream.text)]
    with capture_output() as captured:
        ipshell.run_cell("%%imagine --partial-images 0\na fox")
        ipshell.run_cell("%describe last split it")
    outputs = json.dumps([[o.data, o.metadata] for o in captured.outputs], default=repr)
    texts += [("magic outputs", outputs), ("magic stdout", captured.stdout)]
    _assert_clean(secret, texts + sinks.texts(), hermetic_env)


# -- the redaction itself ---------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pa55word-x@127.0.0.1:8000/v1", "http://user:***@127.0.0.1:8000/v1"),
    ("https://t0ken-as-user@proxy.example/v1", "https://***@proxy.example/v1"),
    ("https://r.openai.azure.com/openai?api-version=2025-04-01&api-key=abc123",
     "https://r.openai.azure.com/openai?api-version=2025-04-01&api-key=***"),
    ("https://h.example/v1?sig=abc&se=2030&Signature=x%2By", "https://h.example/v1?sig=***&se=2030&Signature=***"),
    ("http://user:pa55word@host:abc/v1", "http://***@host:abc/v1"),  # unparsable: no user info at all
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
])
def test_display_url_masks_credentials(url: str, shown: str) -> None:
    from nbimages._secrets import display_url

    assert display_url(url) == shown


def test_an_image_url_the_server_returns_stays_usable() -> None:
    """A signed download URL (DALL-E's ``url`` replies) is not a credential of the user: kept whole."""
    from nbimages._secrets import redact

    url = ("https://blob.example.net/private/img-abc.png?st=2025-01-01T00%3A00%3A00Z&se=2025-01-01T02%3A00%3A00Z"
           "&sp=r&sv=2021-08-06&sr=b&rscd=inline&rsct=image/png&skoid=6aaadede&sig=Zm9vYmFy%2Bc2ln%3D")
    assert redact(url) == url
    assert redact(f"{url}&api-key=abc123") == f"{url}&api-key=***"


def test_url_credentials_are_remembered_as_written_and_decoded() -> None:
    from nbimages._secrets import redact, remember_url_secrets

    token = secrets.token_hex(8)
    remember_url_secrets(f"https://user:pw%2F{token}@host/v1?api-key=k%2B{token}")
    text = f"pw%2F{token} pw/{token} k%2B{token} k+{token}"
    assert redact(text) == " ".join([REDACTED] * 4)


def test_text_redactor_never_lets_a_split_secret_through() -> None:
    """Whatever the cut points, what `TextRedactor` lets out holds no piece of a secret."""
    import random

    from nbimages._secrets import TextRedactor, redact, remember_secret

    known = "pa55-" + secrets.token_hex(12) + "!x"  # characters outside a key's: a run boundary inside
    remember_secret(known)
    key = "sk-echo-" + secrets.token_hex(20)
    text = (f"Here is {known}, then {key}. Bearer abc.{secrets.token_hex(6)} and "
            f"http://bob:{secrets.token_hex(6)}@x.example/a?api-key={secrets.token_hex(6)} — done.")
    needles = [known[2:-2], key[3:], text.split("Bearer ")[1].split(" ")[0],
               text.split("bob:")[1].split("@")[0], text.split("api-key=")[1].split(" ")[0]]
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 40)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        redactor = TextRedactor()
        shown = "".join(redactor.feed(p) for p in pieces) + redactor.flush()
        assert not [n for n in needles if n in shown], (pieces, shown)
        assert shown == redact(text)


def test_text_redactor_holds_back_only_what_may_grow_into_a_secret() -> None:
    from nbimages._secrets import TextRedactor

    redactor = TextRedactor()
    assert redactor.feed("The fox is red. ") == "The fox is red. "
    assert redactor.feed("It jum") == "It "  # an unfinished word might be the start of a key
    assert redactor.feed("ps.\n") == "jumps.\n"
    assert redactor.flush() == ""


def test_an_error_body_that_is_not_json_is_redacted_before_it_is_cut(secret: Secret) -> None:
    import httpx

    from nbimages._retry import MAX_ERROR_TEXT, api_error
    from nbimages._secrets import remember_secret

    remember_secret(secret.key)
    body = "x" * (MAX_ERROR_TEXT - 10) + secret.key  # the cut falls inside the key
    error = api_error(httpx.Response(502, text=body, headers={"x-request-id": secret.key}))
    _assert_clean(secret, [("error", _everything_about(error))])
    assert error.request_id == REDACTED


def test_transport_errors_show_no_url_credentials(password: Secret) -> None:
    import httpx

    from nbimages._retry import connection_error

    url = f"http://user:{password.key}@proxy.example/v1"
    for exc in (httpx.ConnectError(f"cannot connect to {url}"), httpx.ReadError(f"reset by {url}")):
        _assert_clean(password, [("error", _everything_about(connection_error(exc)))])


def test_an_invalid_base_url_is_reported_without_its_password(password: Secret) -> None:
    from nbimages.errors import ConfigurationError

    with nbimages.Client(base_url=f"http://user:{password.key}@[::1/v1", max_retries=0) as client:
        error = _raised(lambda: client.generate("a fox"))
    assert isinstance(error, ConfigurationError)
    _assert_clean(password, [("error", _everything_about(error)), ("client", repr(client))])

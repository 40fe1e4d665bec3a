"""The simulator over real HTTP (stdlib ``http.server``; HTTP/1.1, chunked SSE).

    with start_server() as server:            # 127.0.0.1, a free port, a daemon thread
        client = OpenAI(api_key="sk-test", base_url=server.url)

``nbimages serve`` runs the same server in the foreground. Azure OpenAI clients reach it
too, at Azure's paths: ``AzureOpenAI(azure_endpoint=server.url.removesuffix("/v1"), ...)``.

Whatever a client sends, it gets an answer in OpenAI's error shape
(``{"error": {"message", "type", "param", "code"}}``) with a 4xx status, promptly
(a request line that is not HTTP/1.x is a 505 and the one exception):

- framing: ``Content-Length`` must be one run of digits; ``Transfer-Encoding`` may only
  be ``chunked``, never together with ``Content-Length``; chunk sizes are hex digits
  followed by exactly the data and a CRLF, ending with a zero chunk and a blank line.
  Anything else is a 400 and the connection is closed (the rest of the stream cannot
  be trusted); a body over ``max_body`` bytes is a 413.
- time: once a request's first byte arrives, the client may pause at most
  ``read_timeout`` seconds between bytes and must finish within ``REQUEST_DEADLINE``;
  otherwise 408. Idle keep-alive connections wait up to ``IDLE_TIMEOUT``.
- every body but a multipart form must be a UTF-8 JSON object (a list of faults is
  also accepted) nesting at most ``MAX_JSON_DEPTH`` levels; otherwise 400, before the
  simulator sees it. Multipart forms are checked by the parser (``multipart.py``).

The control endpoints (``/v1/_simulator/...``: faults, recorded requests, reset) are
for tests and scripts on this machine, never for web pages a browser happens to show.
A request to them is refused with 403 when its ``Host`` is a name other than
``localhost`` (or ``*.localhost``) or an IP address, which defeats DNS rebinding; when it
carries an ``Origin`` other than the server's own (``http://`` + ``Host``); or when its
``Sec-Fetch-Site`` is anything but ``same-origin`` or ``none``. ``POST``, ``PUT`` and
``PATCH`` must also say ``Content-Type: application/json`` (415 otherwise), which no
HTML form can send and which a cross-site ``fetch`` may only send after a CORS
preflight, which this server never grants (``OPTIONS`` is a 405).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

from .._secrets import redact
from .protocol import CUT, APIError, Pause, SimResponse, Sleep, dumps, new_id, parse_json_body
from .simulator import Simulator

_STEP = 0.02  # how often a waiting handler checks whether the client went away
BANNER = "nbimages simulator listening on {url} (offline: procedural images, no API key needed)"

IDLE_TIMEOUT = 300.0  # an idle keep-alive connection is closed after this
READ_TIMEOUT = 0.75  # the longest pause allowed between bytes of a request
REQUEST_DEADLINE = 30.0  # a whole request (line, headers, body) must arrive within this
MAX_BODY = 256 * 1024 * 1024  # room for a 200 MB batch input file and its multipart framing

_MAX_LINE = 65536  # request line and header lines (http.server's own limit)
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
_MAX_TRAILER_LINES = 64
_MAX_BLANK_LINES = 8  # blank lines tolerated before a request line (RFC 9112 section 2.2)
_READ_PIECE = 1024 * 1024
_LINGER = 1.0  # seconds to swallow input before closing after an early error
_BODY_METHODS = ("POST", "PUT", "PATCH")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class _ClientGone(Exception):
    pass


class _TimedSocketReader(io.RawIOBase):
    """The read side of a connection: idle reads wait long, reads inside a request don't.

    ``http.server`` reads through one socket timeout, so a client that stops halfway
    through a request would hold its thread until the idle timeout. Writes keep the
    socket's own timeout: a slow reader of a long stream is not a stalled request.
    """

    def __init__(self, sock: socket.socket, idle_timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._idle_timeout = idle_timeout
        self._pause: float | None = None
        self._deadline = 0.0

    def readable(self) -> bool:
        return True

    def start_request(self, pause: float, within: float) -> None:
        self._pause = pause
        self._deadline = time.monotonic() + within

    def end_request(self) -> None:
        self._pause = None

    def _timeout(self) -> float:
        if self._pause is None:
            return self._idle_timeout
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took longer than its deadline")
        return min(self._pause, left)

    def readinto(self, buffer: Any) -> int:
        previous = self._sock.gettimeout()
        self._sock.settimeout(self._timeout())
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(previous)


def _error(status: int, message: str, code: str) -> APIError:
    return APIError(status, message, code=code)


def _timed_out() -> APIError:
    return _error(408, "The request did not arrive in time: the client paused for more "
                  "than the server waits, or sent fewer bytes than it announced.",
                  "request_timeout")


def _content_length(values: list[str], max_body: int) -> int:
    if len(values) > 1:
        raise _error(400, "The request has more than one Content-Length header.",
                     "invalid_content_length")
    value = values[0].strip(" \t")
    if not (value.isascii() and value.isdigit()):
        raise _error(400, f"Content-Length must be a non-negative integer, not {value!r}.",
                     "invalid_content_length")
    if len(value.lstrip("0")) > len(str(max_body)) or int(value) > max_body:
        raise _too_large(max_body)
    return int(value)


def _too_large(max_body: int) -> APIError:
    return _error(413, f"The request body is larger than {max_body} bytes.",
                  "request_too_large")


def _check_transfer_encoding(values: list[str], version: str) -> None:
    codings = [c.strip().lower() for value in values for c in value.split(",")]
    if codings != ["chunked"]:
        raise _error(400, f"Unsupported Transfer-Encoding {', '.join(values)!r}: only "
                     "'chunked' is accepted.", "invalid_transfer_encoding")
    if version == "HTTP/1.0":
        raise _error(400, "HTTP/1.0 has no chunked transfer coding.",
                     "invalid_transfer_encoding")


def _chunk_size(line: bytes, max_body: int) -> int:
    size = line.rstrip(b"\r\n").split(b";", 1)[0].rstrip(b" \t")
    if not size or size.strip(b"0123456789abcdefABCDEF"):
        raise _error(400, f"Invalid chunk size line {line[:40]!r}.", "invalid_chunked_body")
    if len(size.lstrip(b"0")) > 16:
        raise _too_large(max_body)
    return int(size, 16)


def _is_control_path(path: str) -> bool:
    # Deliberately broad: any path the simulator might route to its control API.
    return "_simulator" in path.partition("?")[0]


def _names_this_machine(host: str) -> bool:
    """Whether a ``Host`` header can only have come from a client on this machine's
    addresses, not from a domain that a browser resolved (DNS rebinding)."""
    try:
        name = urlsplit("//" + host).hostname
    except ValueError:
        return False
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _cross_site(message: str) -> APIError:
    return _error(403, f"{message} The simulator's control endpoints only answer clients on "
                  "this machine, not web pages.", "cross_site_request")


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


@dataclass(frozen=True)
class RequestEnd:
    """How the server finished answering one request (``time`` is ``time.monotonic()``).

    ``outcome``: ``"complete"``, ``"client_gone"`` (the client closed the connection
    first, e.g. a cancelled stream), ``"cut"`` or ``"dropped"`` (faults), or
    ``"refused"`` (an error answered by the server before the simulator saw the request:
    a malformed or late body, or a cross-site call to a control endpoint).
    """

    method: str
    path: str
    outcome: str
    time: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nbimages-simulator/0.1"
    sys_version = ""
    default_request_version = "HTTP/1.0"  # so even a bad request line gets a status line
    timeout = IDLE_TIMEOUT
    server: SimulatorHTTPServer

    # -- plumbing ----------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self._reader = _TimedSocketReader(self.connection, self.timeout)
        self.rfile.close()
        self.rfile = io.BufferedReader(self._reader, 64 * 1024)
        self._answered = False  # a final status line has been sent for this request
        self._body_read = False  # the request's body has been read to its end
        self.server._track(self, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server._track(self, False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:  # a request line may carry a key (`?api-key=`, `user:password@`)
            sys.stderr.write(f"{self.address_string()} - {redact(format % args)}\n")

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _wait(self, seconds: float) -> None:
        """Sleep, but give up as soon as the client closes the connection."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            if self.server.stopping.is_set() or self._client_gone():
                raise _ClientGone
            time.sleep(min(_STEP, left))

    def _abort(self) -> None:
        """Close the connection abruptly (no more bytes, no end of body)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def send_response_only(self, code: int, message: str | None = None) -> None:
        if code >= 200:
            self._answered = True
        super().send_response_only(code, message)

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise _ClientGone from None

    # -- request line and headers ---------------------------------------------------

    def handle_one_request(self) -> None:
        self._answered = self._body_read = False
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.0"
        if not self._await_request():
            self.close_connection = True
            return
        self._reader.start_request(self.server.read_timeout, REQUEST_DEADLINE)
        try:
            self._read_and_answer()
        except TimeoutError:
            if not self._answered:
                self._refuse(_timed_out())
            self.close_connection = True
        finally:
            self._reader.end_request()

    def _await_request(self) -> bool:
        """Wait, as long as an idle connection may, for the next request's first byte."""
        reader: Any = self.rfile  # a buffered reader: it has peek()
        try:
            return bool(reader.peek(1))
        except (OSError, ValueError):
            return False

    def _read_and_answer(self) -> None:
        """``BaseHTTPRequestHandler.handle_one_request``, answering every failure."""
        line = self.raw_requestline = self._read_request_line()
        self.requestline = line[:200].decode("latin-1").rstrip("\r\n")
        if not line:
            self.close_connection = True
        elif len(line) > _MAX_LINE:
            self.send_error(414)
        elif line in (b"\r\n", b"\n"):
            self._refuse(_error(400, "Too many blank lines instead of a request line.",
                                "malformed_request"))
        elif len(line.split()) != 3:
            self._refuse(_error(400, f"Malformed request line {self.requestline!r}: expected "
                                "'METHOD /path HTTP/1.1'.", "malformed_request"))
        elif not self.parse_request():
            if not self._answered:
                self.send_error(400)
        else:
            self._dispatch()

    def _read_request_line(self) -> bytes:
        """The request line, after the few blank lines RFC 9112 asks servers to ignore."""
        for _ in range(_MAX_BLANK_LINES):
            line = self.rfile.readline(_MAX_LINE + 1)
            if line not in (b"\r\n", b"\n"):
                return line
        return line

    def _dispatch(self) -> None:
        handler = getattr(self, "do_" + self.command, None)
        if handler is None:
            self._refuse(APIError(405, f"Method {self.command!r} is not supported.",
                                  code="method_not_allowed",
                                  headers=[("Allow", ", ".join(_METHODS))]))
            return
        handler()
        self.wfile.flush()

    def handle_expect_100(self) -> bool:
        """Refuse a body we would refuse anyway before the client sends it."""
        try:
            self._body_length()
            self._check_control_access()
        except APIError as err:
            self._refuse(err)
            return False
        return super().handle_expect_100()

    # -- errors --------------------------------------------------------------------

    _ERROR_CODES: ClassVar[dict[int, str]] = {
        400: "malformed_request", 405: "method_not_allowed", 408: "request_timeout",
        414: "request_line_too_long", 431: "headers_too_large", 505: "http_version_not_supported",
    }

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """The errors ``http.server`` detects itself, in OpenAI's shape like all others."""
        text = message or self.responses.get(code, ("Error",))[0]
        if explain:
            text = f"{text}: {explain}"
        self._refuse(_error(code, text, self._ERROR_CODES.get(code, "invalid_request")))

    def _refuse(self, err: APIError) -> None:
        """Answer with ``err``; unless the whole body was read, close the connection."""
        if not self._body_read:
            self.close_connection = True
        self._send_error_reply(err)
        if not self._body_read:
            self._linger()

    def _send_error_reply(self, err: APIError) -> None:
        body = dumps(err.body())
        self.log_error("code %d, message %s", err.status, err.message)
        try:
            self.send_response(err.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-request-id", new_id("req_", 16))
            for name, value in err.headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self._write(b"" if self.command == "HEAD" else body)
        except (_ClientGone, OSError):
            self.close_connection = True

    def _linger(self) -> None:
        """Swallow what the client still sends for a moment before the connection closes:
        closing with unread input resets it, and the client could lose the error reply."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            return
        end = time.monotonic() + _LINGER
        while (left := end - time.monotonic()) > 0:
            try:
                readable, _, _ = select.select([self.connection], [], [], left)
                if not readable or not self.connection.recv(_READ_PIECE):
                    return
            except (OSError, ValueError):
                return

    # -- the body --------------------------------------------------------------------

    def _receive_body(self) -> bytes:
        length = self._body_length()
        self._check_control_access()
        body = self._read_chunked() if length is None else self._read_exact(length)
        self._body_read = True
        self._check_json_body(body)
        return body

    def _body_length(self) -> int | None:
        """The body's length as the headers announce it; None for a chunked body."""
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings and lengths:
            raise _error(400, "The request has both Transfer-Encoding and Content-Length.",
                         "invalid_content_length")
        if encodings:
            _check_transfer_encoding(encodings, self.request_version)
            return None
        return _content_length(lengths, self.server.max_body) if lengths else 0

    def _read_exact(self, size: int) -> bytes:
        parts: list[bytes] = []
        left = size
        while left:
            piece = self.rfile.read(min(left, _READ_PIECE))
            if not piece:
                raise _error(400, f"The request body ended after {size - left} of the {size} "
                             "bytes announced.", "incomplete_body")
            parts.append(piece)
            left -= len(piece)
        return b"".join(parts)

    def _read_line(self, limit: int, what: str) -> bytes:
        line = self.rfile.readline(limit + 1)
        if line.endswith(b"\n"):
            return line
        if len(line) > limit:
            raise _error(400, f"A {what} is longer than {limit} bytes.", "invalid_chunked_body")
        raise _error(400, f"The request ended inside a {what}.", "incomplete_body")

    def _read_chunked(self) -> bytes:
        max_body = self.server.max_body
        chunks: list[bytes] = []
        total = 0
        while size := _chunk_size(self._read_line(_MAX_CHUNK_LINE, "chunk size line"),
                                  max_body):
            total += size
            if total > max_body:
                raise _too_large(max_body)
            chunks.append(self._read_exact(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _error(400, "A chunk's data is not followed by CRLF: its size is wrong.",
                             "invalid_chunked_body")
        self._skip_trailers()
        return b"".join(chunks)

    def _skip_trailers(self) -> None:
        for _ in range(_MAX_TRAILER_LINES):
            if self._read_line(_MAX_LINE, "trailer line") in (b"\r\n", b"\n"):
                return
        raise _error(400, f"More than {_MAX_TRAILER_LINES} trailer lines after the last chunk.",
                     "invalid_chunked_body")

    def _check_json_body(self, body: bytes) -> None:
        """Every body but a multipart form is read as JSON: make sure that is safe."""
        content_type = self.headers.get("Content-Type", "")
        if _media_type(content_type).startswith("multipart/") or not body.strip():
            return
        value = parse_json_body(body)
        if isinstance(value, dict) or (isinstance(value, list) and _is_control_path(self.path)):
            return
        raise _error(400, "The JSON body must be an object.", "invalid_json")

    def _check_control_access(self) -> None:
        """Keep web pages away from the control endpoints (see the module docstring)."""
        if not _is_control_path(self.path):
            return
        host = self.headers.get("Host")
        if host is not None and not _names_this_machine(host):
            raise _cross_site(f"Host {host!r} is neither localhost nor an IP address.")
        origin = self.headers.get("Origin")
        if origin is not None and (host is None or
                                   origin.strip().lower() != f"http://{host.strip().lower()}"):
            raise _cross_site(f"Origin {origin!r} is not this server.")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            raise _cross_site(f"The request is {site.strip()!r} (Sec-Fetch-Site).")
        if (self.command in _BODY_METHODS
                and _media_type(self.headers.get("Content-Type", "")) != "application/json"):
            raise _error(415, "The control endpoints only take Content-Type: application/json.",
                         "unsupported_media_type")

    # -- requests ----------------------------------------------------------------

    def _handle(self) -> None:
        try:
            body = self._receive_body()
        except TimeoutError:
            self._refuse(_timed_out())
            self._record_end("refused")
            return
        except APIError as err:
            self._refuse(err)
            self._record_end("refused")
            return
        except OSError:  # the connection broke while the body was arriving
            self.close_connection = True
            return
        resp = self._simulate(body)
        outcome = "client_gone"
        try:
            outcome = self._send(resp)
        except _ClientGone:
            self.close_connection = True
            if resp.stream is not None and hasattr(resp.stream, "close"):
                resp.stream.close()
        finally:
            self._record_end(outcome)

    def _simulate(self, body: bytes) -> SimResponse:
        host = self.headers.get("Host")
        base_url = f"http://{host}/v1" if host else self.server.url
        try:
            return self.server.simulator.handle(self.command, self.path, self.headers.items(),
                                                body, base_url=base_url)
        except Exception as exc:  # a bug must still get an answer, not a reset connection
            self.log_error("simulator failed: %r", exc)
            err = APIError(500, f"The simulator failed: {type(exc).__name__}: {exc}",
                           type="server_error", code="simulator_error")
            return SimResponse(500, [("content-type", "application/json")], dumps(err.body()))

    def _record_end(self, outcome: str) -> None:
        self.server._ended(RequestEnd(self.command, self.path, outcome, time.monotonic()))

    def _send(self, resp: SimResponse) -> str:
        """Send the reply; how it ended: ``"complete"``, ``"dropped"`` or ``"cut"``."""
        wait = self.server.latency + resp.stall
        if wait > 0:
            self._wait(wait)
        if resp.drop:
            self._abort()
            return "dropped"
        self.send_response(resp.status)
        for k, v in resp.headers:
            self.send_header(k, v)
        if resp.stream is None:
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self._write(resp.body)
            return "complete"
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        interval = self.server.partial_interval
        for item in resp.stream:
            if isinstance(item, bytes):
                if item:
                    self._write(b"%x\r\n%s\r\n" % (len(item), item))
            elif isinstance(item, Pause):
                if interval:
                    self._wait(interval * item.factor)
            elif isinstance(item, Sleep):
                self._wait(item.seconds)
            elif item is CUT:
                self._abort()
                return "cut"
        self._write(b"0\r\n\r\n")
        return "complete"

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _handle


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], simulator: Simulator, *, latency: float = 0.0,
                 partial_interval: float | None = None, log: bool = False,
                 max_body: int = MAX_BODY, read_timeout: float = READ_TIMEOUT) -> None:
        self.simulator = simulator
        self.latency = latency
        self.partial_interval = partial_interval
        self.log = log
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.stopping = threading.Event()
        self._active: dict[_Handler, threading.Thread] = {}
        self._active_lock = threading.Lock()
        self.endings: list[RequestEnd] = []
        self._ending = threading.Condition()
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}/v1"

    def _track(self, handler: _Handler, add: bool) -> None:
        with self._active_lock:
            if add:
                self._active[handler] = threading.current_thread()
            else:
                self._active.pop(handler, None)

    def _ended(self, end: RequestEnd) -> None:
        with self._ending:
            self.endings.append(end)
            self._ending.notify_all()

    def wait_for_endings(self, count: int, timeout: float = 5.0) -> list[RequestEnd]:
        """Block until ``count`` requests have been answered (or given up); all endings so far."""
        with self._ending:
            self._ending.wait_for(lambda: len(self.endings) >= count, timeout)
            return list(self.endings)

    def close_connections(self, timeout: float = 2.0) -> None:
        """Close every open client connection and wait for its thread."""
        self.stopping.set()
        with self._active_lock:
            active = list(self._active.items())
        for handler, _ in active:
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in active:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)) or self.stopping.is_set():
            return
        super().handle_error(request, client_address)


class ServerHandle:
    """A running simulator server: ``url``, ``simulator``, ``stop()``; a context manager."""

    def __init__(self, server: SimulatorHTTPServer, thread: threading.Thread | None) -> None:
        self._server = server
        self._thread = thread
        self._stopped = False

    @property
    def url(self) -> str:
        """The API base URL, ``http://127.0.0.1:PORT/v1``."""
        return self._server.url

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def simulator(self) -> Simulator:
        return self._server.simulator

    @property
    def server(self) -> SimulatorHTTPServer:
        return self._server

    @property
    def endings(self) -> list[RequestEnd]:
        """How each request so far ended, in order (see `RequestEnd`)."""
        return list(self._server.endings)

    def wait_for_endings(self, count: int, timeout: float = 5.0) -> list[RequestEnd]:
        return self._server.wait_for_endings(count, timeout)

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerHandle {self.url}{' stopped' if self._stopped else ''}>"


def make_server(host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                partial_interval: float | None = None, simulator: Simulator | None = None,
                log: bool = False, max_body: int = MAX_BODY, read_timeout: float = READ_TIMEOUT,
                **sim_options: Any) -> ServerHandle:
    """A bound server that is not serving yet (call ``serve_forever`` on the handle).

    ``max_body``: the largest request body accepted (bytes); ``read_timeout``: the longest
    pause between a request's bytes (seconds).
    """
    sim = simulator if simulator is not None else Simulator(
        latency=latency, partial_interval=partial_interval, **sim_options)
    server = SimulatorHTTPServer((host, port), sim, latency=latency,
                                 partial_interval=partial_interval, log=log,
                                 max_body=max_body, read_timeout=read_timeout)
    return ServerHandle(server, None)


def start_server(host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 partial_interval: float | None = None, simulator: Simulator | None = None,
                 log: bool = False, max_body: int = MAX_BODY, read_timeout: float = READ_TIMEOUT,
                 **sim_options: Any) -> ServerHandle:
    """Serve the simulator over HTTP from a daemon thread; ``port=0`` picks a free port."""
    handle = make_server(host, port, latency=latency, partial_interval=partial_interval,
                         simulator=simulator, log=log, max_body=max_body,
                         read_timeout=read_timeout, **sim_options)
    thread = threading.Thread(target=handle._server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"nbimages-simulator:{handle.port}", daemon=True)
    handle._thread = thread
    thread.start()
    return handle

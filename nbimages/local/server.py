"""The simulator over real HTTP (stdlib ``http.server``; HTTP/1.1, chunked SSE).

    with start_server() as server:            # 127.0.0.1, a free port, a daemon thread
        client = OpenAI(api_key="sk-test", base_url=server.url)

``nbimages serve`` runs the same server in the foreground.
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .protocol import CUT, Pause, SimResponse, Sleep
from .simulator import Simulator

_STEP = 0.02  # how often a waiting handler checks whether the client went away
BANNER = "nbimages simulator listening on {url} (offline: procedural images, no API key needed)"


class _ClientGone(Exception):
    pass


@dataclass(frozen=True)
class RequestEnd:
    """How the server finished answering one request (``time`` is ``time.monotonic()``).

    ``outcome``: ``"complete"``, ``"client_gone"`` (the client closed the connection
    first, e.g. a cancelled stream), ``"cut"`` or ``"dropped"`` (faults).
    """

    method: str
    path: str
    outcome: str
    time: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nbimages-simulator/0.1"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are closed after this
    server: SimulatorHTTPServer

    # -- plumbing ----------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server._track(self, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server._track(self, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.log:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

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
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise _ClientGone from None

    # -- requests ----------------------------------------------------------------

    def _handle(self) -> None:
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        host = self.headers.get("Host")
        base_url = f"http://{host}/v1" if host else self.server.url
        resp = self.server.simulator.handle(self.command, self.path, self.headers.items(),
                                            body, base_url=base_url)
        outcome = "client_gone"
        try:
            outcome = self._send(resp)
        except _ClientGone:
            self.close_connection = True
            if resp.stream is not None and hasattr(resp.stream, "close"):
                resp.stream.close()  # type: ignore[union-attr]
        finally:
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
                 partial_interval: float | None = None, log: bool = False) -> None:
        self.simulator = simulator
        self.latency = latency
        self.partial_interval = partial_interval
        self.log = log
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
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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
                log: bool = False, **sim_options: Any) -> ServerHandle:
    """A bound server that is not serving yet (call ``serve_forever`` on the handle)."""
    sim = simulator if simulator is not None else Simulator(
        latency=latency, partial_interval=partial_interval, **sim_options)
    server = SimulatorHTTPServer((host, port), sim, latency=latency,
                                 partial_interval=partial_interval, log=log)
    return ServerHandle(server, None)


def start_server(host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 partial_interval: float | None = None, simulator: Simulator | None = None,
                 log: bool = False, **sim_options: Any) -> ServerHandle:
    """Serve the simulator over HTTP from a daemon thread; ``port=0`` picks a free port."""
    handle = make_server(host, port, latency=latency, partial_interval=partial_interval,
                         simulator=simulator, log=log, **sim_options)
    thread = threading.Thread(target=handle._server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"nbimages-simulator:{handle.port}", daemon=True)
    handle._thread = thread
    thread.start()
    return handle

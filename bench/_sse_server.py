"""A recorded image stream served over a real socket, noting when each event's last byte left.

Run as ``python -m bench._sse_server WIDTH HEIGHT PAUSE [VARIANTS [PARTIALS]]``: it prints its port,
then answers every POST with a recording (VARIANTS different ones, in turn; default 1; with
PARTIALS partial images, default 3) (three partial images and a final image as SSE), written in
64 KiB pieces with TCP_NODELAY, pausing ``PAUSE`` seconds after each event (as a real
server does between partials). ``GET /marks`` returns, per request so far, the
``time.perf_counter()`` (CLOCK_MONOTONIC: comparable across processes on Linux) at which
the last byte of each event was handed to the socket.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


def events(width: int, height: int, seed: int = 0, partials: int = 3) -> list[bytes]:
    from bench.stream_decode import recording

    body, _ = recording(width, height, seed, partials)
    return [frame + b"\n\n" for frame in body.split(b"\n\n") if frame]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        body = json.dumps(self.server.marks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            frames = self.server.variants[self.server.served % len(self.server.variants)]
            self.server.served += 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(sum(len(f) for f in frames)))
        self.end_headers()
        marks: list[float] = []
        with self.server.lock:
            self.server.marks.append(marks)  # filled in as events go out
        for frame in frames:
            for start in range(0, len(frame), CHUNK):
                self.wfile.write(frame[start : start + CHUNK])
            marks.append(time.perf_counter())
            time.sleep(self.server.pause)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, variants: list[list[bytes]], pause: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.variants = variants
        self.served = 0
        self.pause = pause
        self.marks: list[list[float]] = []
        self.lock = threading.Lock()


def main() -> None:
    width, height, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    partials = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    server = Server([events(width, height, seed, partials) for seed in range(count)], pause)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

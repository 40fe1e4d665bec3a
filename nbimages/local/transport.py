"""The simulator as an httpx transport, for ``httpx.Client`` and ``httpx.AsyncClient``.

    client = httpx.Client(transport=LocalTransport(), base_url="http://simulator/v1")

Streamed replies are real streams: events arrive one by one, ``partial_interval``
seconds apart, so a client sees partial images come in over time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from typing import Any

import httpx

from .protocol import CUT, Pause, SimResponse, Sleep, StreamItem
from .simulator import Simulator

_STEP = 0.05  # granularity of interruptible sleeps
_END = object()

CUT_MESSAGE = "peer closed connection without sending complete message body " \
              "(incomplete chunked read)"
DROP_MESSAGE = "Server disconnected without sending a response."


def _read_timeout(request: httpx.Request) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if value is not None else None


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, items: Iterator[StreamItem], interval: float | None,
                 request: httpx.Request) -> None:
        self._items = items
        self._interval = interval
        self._request = request
        self._closed = False

    def _sleep(self, seconds: float, stall: bool = False) -> None:
        limit = _read_timeout(self._request) if stall else None
        wait = seconds if limit is None else min(seconds, limit)
        end = time.monotonic() + wait
        while not self._closed:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(_STEP, left))
        if stall and limit is not None and seconds > limit and not self._closed:
            raise httpx.ReadTimeout("The read operation timed out", request=self._request)

    def __iter__(self) -> Iterator[bytes]:
        for item in self._items:
            if self._closed:
                return
            if isinstance(item, bytes):
                yield item
            elif isinstance(item, Pause):
                if self._interval:
                    self._sleep(self._interval * item.factor)
            elif isinstance(item, Sleep):
                self._sleep(item.seconds, stall=True)
            elif item is CUT:
                raise httpx.RemoteProtocolError(CUT_MESSAGE, request=self._request)

    def close(self) -> None:
        self._closed = True
        with suppress(ValueError, AttributeError):  # still running in another thread
            self._items.close()  # type: ignore[attr-defined]


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, items: Iterator[StreamItem], interval: float | None,
                 request: httpx.Request) -> None:
        self._items = items
        self._interval = interval
        self._request = request
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._closed:
            # produce the next item (rendering, encoding) off the event loop
            item: Any = await asyncio.to_thread(next, self._items, _END)
            if item is _END or self._closed:
                return
            if isinstance(item, bytes):
                yield item
            elif isinstance(item, Pause):
                if self._interval:
                    await asyncio.sleep(self._interval * item.factor)
            elif isinstance(item, Sleep):
                limit = _read_timeout(self._request)
                if limit is not None and item.seconds > limit:
                    await asyncio.sleep(limit)
                    raise httpx.ReadTimeout("The read operation timed out",
                                            request=self._request)
                await asyncio.sleep(item.seconds)
            elif item is CUT:
                raise httpx.RemoteProtocolError(CUT_MESSAGE, request=self._request)

    async def aclose(self) -> None:
        self._closed = True
        with suppress(ValueError, AttributeError):
            self._items.close()  # type: ignore[attr-defined]


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An httpx transport (sync and async) answering from an in-process :class:`Simulator`.

    ``latency`` delays the response headers; ``partial_interval`` spaces streamed events.
    """

    def __init__(self, *, latency: float = 0.0, partial_interval: float | None = None,
                 simulator: Simulator | None = None) -> None:
        self.simulator = simulator if simulator is not None else Simulator(
            latency=latency, partial_interval=partial_interval)
        self.latency = latency
        self.partial_interval = partial_interval

    def __repr__(self) -> str:
        return (f"LocalTransport(latency={self.latency!r}, "
                f"partial_interval={self.partial_interval!r})")

    def _call(self, request: httpx.Request, body: bytes) -> SimResponse:
        return self.simulator.handle(request.method, request.url.path,
                                     list(request.headers.multi_items()), body,
                                     query=request.url.query.decode("ascii", "replace"))

    def _pre_headers_wait(self, request: httpx.Request, resp: SimResponse) -> tuple[float, bool]:
        """(seconds to wait before headers, whether a read timeout fires at the end)."""
        wait = self.latency + resp.stall
        limit = _read_timeout(request)
        if resp.stall and limit is not None and wait > limit:
            return limit, True
        return wait, False

    def _response(self, request: httpx.Request, resp: SimResponse, stream: Any) -> httpx.Response:
        return httpx.Response(resp.status, headers=resp.headers, stream=stream,
                              request=request, extensions={"http_version": b"HTTP/1.1"})

    # sync ------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        resp = self._call(request, body)
        wait, timeout = self._pre_headers_wait(request, resp)
        if wait > 0:
            time.sleep(wait)
        if timeout:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        if resp.drop:
            raise httpx.RemoteProtocolError(DROP_MESSAGE, request=request)
        if resp.stream is not None:
            return self._response(request, resp,
                                  _SyncStream(resp.stream, self.partial_interval, request))
        return self._response(request, resp, httpx.ByteStream(resp.body))

    def close(self) -> None:
        pass

    # async -----------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        resp = await asyncio.to_thread(self._call, request, body)
        wait, timeout = self._pre_headers_wait(request, resp)
        if wait > 0:
            await asyncio.sleep(wait)
        if timeout:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        if resp.drop:
            raise httpx.RemoteProtocolError(DROP_MESSAGE, request=request)
        if resp.stream is not None:
            return self._response(request, resp,
                                  _AsyncStream(resp.stream, self.partial_interval, request))
        return self._response(request, resp, httpx.ByteStream(resp.body))

    async def aclose(self) -> None:
        pass

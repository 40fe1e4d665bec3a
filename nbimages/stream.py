"""`Stream` and `AsyncStream`: iterate typed events; close to cancel.

Both are thin loops around the same sans-IO pieces (`SSEDecoder` and `EventDecoder`);
they only differ in how bytes are awaited. Leaving the loop early, an exception or a
KeyboardInterrupt closes the connection at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

from ._retry import connection_error
from .events import Event, EventDecoder
from .sse import EventTooLarge, SSEDecoder

if TYPE_CHECKING:
    import httpx

    from .errors import StreamError
    from .image import Image

__all__ = ["AsyncStream", "Stream"]

R = TypeVar("R")  # what the unstreamed call returns: list[Image], Response, str


class _StreamState(Generic[R]):
    def __init__(self, decoder: EventDecoder, result: Callable[[EventDecoder], R]) -> None:
        self._sse = SSEDecoder()
        self._decoder = decoder
        self._result = result
        self.cancelled = False  # close() was called before the stream ended

    _response: httpx.Response

    @property
    def closed(self) -> bool:
        """The connection is closed: the stream ended, broke or was cancelled."""
        return self._response.is_closed

    def _events(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        try:
            frames = self._sse.feed(chunk)
        except EventTooLarge as exc:
            for frame in exc.frames:  # what completed before the oversized event is kept
                self._decoder.feed(frame)
            raise self._decoder.broken(f"the server sent {exc}", code="event_too_large") from None
        for frame in frames:
            events += self._decoder.feed(frame)
        return events

    def _tail(self) -> list[Event]:
        events: list[Event] = []
        for frame in self._sse.flush():
            events += self._decoder.feed(frame)
        self._decoder.finish()
        return events

    def _failure(self, exc: Exception) -> StreamError | None:
        """What losing the connection mid-stream means; None when nothing asked for is missing."""
        if self.cancelled:
            return self._decoder.broken("the stream was cancelled (closed)", code="cancelled")
        if self._decoder.finished:
            return None
        reason = connection_error(exc)
        return self._decoder.broken(f"the stream broke: {reason}", code="stream_broken")

    def _cancel(self) -> None:
        if not self._decoder.finished:
            self.cancelled = True

    @property
    def partials(self) -> list[Image]:
        """Partial images received so far (newest last)."""
        return self._decoder.partials

    @property
    def images(self) -> list[Image]:
        """Completed images received so far."""
        return self._decoder.images

    @property
    def text(self) -> str:
        return self._decoder.text

    @property
    def response_id(self) -> str | None:
        return self._decoder.response_id

    @property
    def result(self) -> R:
        """What the unstreamed call would have returned (once the stream is complete)."""
        return self._result(self._decoder)


def _wake_reader(response: httpx.Response) -> None:
    """Shut the socket of an unfinished response down, so a read blocked in another thread
    (a widget's worker on Cancel) returns now instead of when the server next sends."""
    if response.is_closed:
        return  # its connection may be back in the pool, serving someone else
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        import socket

        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Stream(_StreamState[R]):
    def __init__(self, response: httpx.Response, decoder: EventDecoder, result: Callable[[EventDecoder], R]) -> None:
        super().__init__(decoder, result)
        self._response = response

    def __iter__(self) -> Iterator[Event]:
        import httpx

        try:
            broke: Exception | None = None
            try:
                for chunk in self._response.iter_bytes():
                    yield from self._events(chunk)
            except (httpx.TransportError, httpx.StreamClosed) as exc:
                broke = exc
            if broke is not None:
                # Raised here, not in the handler: httpx's exception (which holds the request and
                # its headers) must not travel along as the error's context.
                error = self._failure(broke)
                del broke
                if error is not None:
                    raise error
                return  # everything asked for had arrived: a bad ending loses nothing
            yield from self._tail()
        finally:
            self._close()

    def until_done(self) -> R:
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Cancel: close the connection now (also from another thread); iterating raises a
        `StreamError` with ``code="cancelled"`` carrying what had arrived."""
        self._cancel()
        self._close()

    def _close(self) -> None:
        _wake_reader(self._response)
        self._response.close()

    def __enter__(self) -> Stream[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncStream(_StreamState[R]):
    def __init__(self, response: httpx.Response, decoder: EventDecoder, result: Callable[[EventDecoder], R]) -> None:
        super().__init__(decoder, result)
        self._response = response

    async def __aiter__(self) -> AsyncIterator[Event]:
        import httpx

        try:
            broke: Exception | None = None
            try:
                async for chunk in self._response.aiter_bytes():
                    for event in self._events(chunk):
                        yield event
            except (httpx.TransportError, httpx.StreamClosed) as exc:
                broke = exc
            if broke is not None:  # raised outside the handler, as in `Stream`
                error = self._failure(broke)
                del broke
                if error is not None:
                    raise error
                return
            for event in self._tail():
                yield event
        finally:
            await self._response.aclose()

    async def until_done(self) -> R:
        async for _ in self:
            pass
        return self.result

    async def close(self) -> None:
        """Cancel, like `Stream.close`."""
        self._cancel()
        _wake_reader(self._response)
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

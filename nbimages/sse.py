"""Server-sent events: bytes in, frames out. Sans-IO, shared by the sync and async paths.

Handles multi-megabyte ``data:`` lines without rescanning them, ``event:`` / ``id:`` /
``retry:`` fields, comments, LF, CRLF and lone CR line endings, and a final ``[DONE]``.
One event may hold at most ``max_event_bytes`` (a final image of the largest size is a
fraction of it); a server sending more gets `EventTooLarge`, not the kernel's memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_EVENT_BYTES", "EventTooLarge", "SSEDecoder", "SSEFrame"]

MAX_EVENT_BYTES = 48 * 2**20


class EventTooLarge(ValueError):
    """One event grew past the decoder's limit; ``frames`` were completed before it."""

    def __init__(self, message: str, frames: list[SSEFrame]) -> None:
        super().__init__(message)
        self.frames = frames


@dataclass(frozen=True)
class SSEFrame:
    event: str | None
    data: bytes

    @property
    def is_done(self) -> bool:
        return self.data.strip() == b"[DONE]"


class SSEDecoder:
    """Feed it chunks as they arrive; it returns the frames completed by each chunk."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no line ending
        self._event: str | None = None
        self._data: list[bytes] = []
        self._data_bytes = 0

    def feed(self, chunk: bytes) -> list[SSEFrame]:
        buffer = self._buffer
        buffer += chunk
        frames: list[SSEFrame] = []
        pos = self._scanned
        start = 0
        end = len(buffer)
        # The next LF and CR at or after `pos` (-1: none in the buffer). Each is searched
        # again only once consumed, so CR-only streams are not rescanned line after line.
        lf = buffer.find(b"\n", pos)
        cr = buffer.find(b"\r", pos)
        while True:
            if 0 <= lf < pos:
                lf = buffer.find(b"\n", pos)
            if 0 <= cr < pos:
                cr = buffer.find(b"\r", pos)
            if cr != -1 and (lf == -1 or cr < lf):
                if cr + 1 == end:  # a CR at the very end may be the first half of CRLF
                    pos = cr
                    break
                line_end, next_start = cr, (cr + 2 if buffer[cr + 1] == 0x0A else cr + 1)
            elif lf != -1:
                line_end, next_start = lf, lf + 1
            else:
                pos = end
                break
            frame = self._line(bytes(buffer[start:line_end]))
            if frame is not None:
                frames.append(frame)
            start = pos = next_start
        if start:
            del buffer[:start]
        self._scanned = pos - start
        if len(buffer) + self._data_bytes > self.max_event_bytes:
            raise EventTooLarge(f"an event larger than {self.max_event_bytes // 2**20} MB", frames)
        return frames

    def flush(self) -> list[SSEFrame]:
        """End of stream: a last event not followed by a blank line still counts."""
        frames: list[SSEFrame] = []
        if self._buffer:
            line = bytes(self._buffer)
            self._buffer.clear()
            self._scanned = 0
            # A CR held back in case an LF followed ends the last line.
            frame = self._line(line[:-1] if line.endswith(b"\r") else line)
            if frame is not None:
                frames.append(frame)
        frame = self._dispatch()
        if frame is not None:
            frames.append(frame)
        return frames

    def _line(self, line: bytes) -> SSEFrame | None:
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._data_bytes += len(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" carry nothing this protocol uses.
        return None

    def _dispatch(self) -> SSEFrame | None:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        event = self._event
        self._event = None
        self._data = []
        self._data_bytes = 0
        if not data.strip():  # no data, or empty `data:` lines: nothing to dispatch (as the SSE spec says)
            return None
        return SSEFrame(event, data)

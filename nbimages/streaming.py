"""Server-sent events: bytes in, frames out. Sans-IO, shared by the sync and async paths.

Handles multi-megabyte ``data:`` lines without rescanning them, ``event:`` / ``id:`` /
``retry:`` fields, comments, LF, CRLF and lone CR line endings, and a final ``[DONE]``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEFrame"]


@dataclass(frozen=True)
class SSEFrame:
    event: str | None
    data: bytes

    @property
    def is_done(self) -> bool:
        return self.data.strip() == b"[DONE]"


class SSEDecoder:
    """Feed it chunks as they arrive; it returns the frames completed by each chunk."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no line ending
        self._event: str | None = None
        self._data: list[bytes] = []

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
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" carry nothing this protocol uses.
        return None

    def _dispatch(self) -> SSEFrame | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        frame = SSEFrame(self._event, data)
        self._event = None
        self._data = []
        return frame

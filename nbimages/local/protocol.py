"""Sans-IO pieces shared by the simulator's transport and HTTP server.

The simulator answers a request with a :class:`SimResponse`: a status, headers and
either a complete ``body`` or a ``stream`` of items. Stream items are ``bytes`` to send,
or directives for the I/O layer: :data:`PAUSE` (sleep the configured partial interval),
:class:`Sleep` (a stall, to be cut short if the client goes away) and :data:`CUT`
(end the connection abruptly, without a proper end of body).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Iterator, Union


class Pause:
    """Sleep ``factor`` x ``partial_interval`` (the I/O layer's setting) before the next item.

    Image events (partial and final images) wait the full interval; the small events
    around them (lifecycle, text deltas) a tenth of it, as on the live API where text
    streams much faster than images render.
    """

    def __init__(self, factor: float = 1.0) -> None:
        self.factor = factor

    def __repr__(self) -> str:
        return "PAUSE" if self.factor == 1.0 else f"Pause({self.factor})"


class Cut:
    """End the body abruptly: the client sees a broken connection."""

    def __repr__(self) -> str:
        return "CUT"


@dataclass(frozen=True)
class Sleep:
    """Stall for ``seconds``; the I/O layer stops early if the client went away."""

    seconds: float


PAUSE = Pause()
SHORT_PAUSE = Pause(0.1)
CUT = Cut()

StreamItem = Union[bytes, Pause, Sleep, Cut]


@dataclass
class SimResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[StreamItem] | None = None
    events: Iterator[dict[str, Any]] | None = None  # the events behind ``stream``
    drop: bool = False  # close the connection before sending anything
    stall: float = 0.0  # seconds to wait before sending the headers

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class APIError(Exception):
    """An OpenAI-shaped error reply, raised inside request handlers."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: list[tuple[str, str]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or []
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code, **self.extra}}


def new_id(prefix: str, nbytes: int = 12) -> str:
    return f"{prefix}{secrets.token_hex(nbytes)}"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sse_event(event: dict[str, Any], *, crlf: bool = False, event_id: str | None = None,
              retry: int | None = None, comment: str | None = None) -> bytes:
    """One server-sent event, ``event:`` line named after the payload's ``type``."""
    nl = "\r\n" if crlf else "\n"
    lines = []
    if comment is not None:
        lines.append(f": {comment}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event.get("type"):
        lines.append(f"event: {event['type']}")
    lines.append("data: " + dumps(event).decode("utf-8"))
    if retry is not None:
        lines.append(f"retry: {retry}")
    return (nl.join(lines) + nl + nl).encode("utf-8")

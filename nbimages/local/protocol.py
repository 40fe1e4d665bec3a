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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


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

StreamItem = bytes | Pause | Sleep | Cut


@dataclass
class SimResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[StreamItem] | None = None
    events: Iterator[dict[str, Any]] | None = None  # the events behind ``stream``
    json_value: Any = None  # the value ``body`` encodes, as `json_reply` had it: read without parsing ``body``
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


MAX_JSON_DEPTH = 64  # arrays and objects inside each other; real requests stay far below


def missing_parameter(param: str) -> APIError:
    """OpenAI's answer to a request without a parameter it needs."""
    return APIError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def parse_json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value of a request body, or an `APIError` (400) saying what is wrong with it.

    The body must be UTF-8 and nest at most ``max_depth`` arrays and objects: Python's
    parser recurses, so a deep enough document would otherwise end in a RecursionError.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise APIError(400, f"The request body is not valid UTF-8 (at byte {exc.start}).",
                       code="invalid_utf8") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError as exc:
        raise APIError(400, f"We could not parse the JSON body of your request: {exc}.",
                       code="invalid_json") from None
    if _nests_deeper_than(value, max_depth):
        raise _too_deep(max_depth)
    return value


def _too_deep(max_depth: int) -> APIError:
    return APIError(400, f"The JSON body nests arrays and objects more than {max_depth} "
                    "levels deep.", code="json_too_deep")


def _nests_deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)] if isinstance(value, (dict, list)) else []
    while pending:
        node, depth = pending.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, (dict, list)))
    return False


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

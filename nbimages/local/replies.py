"""Replies as the simulator sends them: JSON bodies, errors, and server-sent event streams."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .protocol import PAUSE, SHORT_PAUSE, APIError, Pause, SimResponse, StreamItem, dumps, sse_event


def json_reply(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> SimResponse:
    return SimResponse(status, [("content-type", "application/json"), *(headers or [])], dumps(obj), json_value=obj)


def error_reply(err: APIError) -> SimResponse:
    return json_reply(err.status, err.body(), list(err.headers))


def event_stream(events: Iterator[dict[str, Any]]) -> SimResponse:
    """A 200 streaming ``events``; they stay on the reply (a fault may frame them anew)."""
    return SimResponse(200, [("content-type", "text/event-stream; charset=utf-8"),
                             ("cache-control", "no-cache")],
                       stream=frames(events), events=events)


def frames(events: Iterator[dict[str, Any]]) -> Iterator[StreamItem]:
    """Each event as an SSE frame, paced as the live API paces them."""
    for n, event in enumerate(events):
        if n:
            yield pause_before(event)
        yield sse_event(event)


def pause_before(event: dict[str, Any]) -> Pause:
    """Images take the full interval to arrive; the small events around them a tenth of it."""
    etype = str(event.get("type", ""))
    if ("partial_image" in etype or etype.startswith("image_")
            or etype == "response.image_generation_call.completed"):
        return PAUSE
    return SHORT_PAUSE

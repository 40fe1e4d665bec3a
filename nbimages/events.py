"""Typed stream events and the decoder that turns SSE frames into them.

Events are frozen dataclasses keeping OpenAI's names where they exist. Unknown event
types are skipped. The decoder is sans-IO: the sync and async streams both feed it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ._payload import MalformedPayload, image_field, int_field, list_field, object_field, text_field
from ._secrets import IMAGE_FIELDS, TextRedactor, redact_json
from .errors import StreamError, error_class
from .image import Image, Usage
from .sse import SSEFrame

__all__ = [
    "Event",
    "EventDecoder",
    "ImageCompleted",
    "ImageGenerationProgress",
    "PartialImage",
    "Response",
    "ResponseCompleted",
    "ResponseCreated",
    "TextDelta",
    "TextDone",
]


@dataclass(frozen=True)
class Response:
    """A Responses API reply: its text, the images its tool calls produced, its usage."""

    id: str
    model: str | None = None
    status: str | None = None
    output_text: str = ""
    images: list[Image] = field(default_factory=list)
    usage: Usage | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def image(self) -> Image | None:
        return self.images[-1] if self.images else None

    @property
    def image_call_ids(self) -> list[str]:
        return [img.call_id for img in self.images if img.call_id]


@dataclass(frozen=True)
class PartialImage:
    """A low-fidelity preview; ``index`` is OpenAI's ``partial_image_index`` (0-based)."""

    index: int
    image: Image
    item_id: str | None = None
    output_index: int | None = None


@dataclass(frozen=True)
class ImageCompleted:
    image: Image
    usage: Usage | None = None
    item_id: str | None = None


@dataclass(frozen=True)
class ImageGenerationProgress:
    """``response.image_generation_call.{in_progress,generating,completed}``."""

    item_id: str
    status: str


@dataclass(frozen=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True)
class TextDelta:
    delta: str
    item_id: str | None = None
    output_index: int | None = None


@dataclass(frozen=True)
class TextDone:
    text: str
    item_id: str | None = None


@dataclass(frozen=True)
class ResponseCompleted:
    response: Response


Event = (
    PartialImage | ImageCompleted | ImageGenerationProgress | ResponseCreated | TextDelta | TextDone
    | ResponseCompleted
)

_IMAGE_FIELDS = ("size", "quality", "background", "output_format")
# More than any request asks for (10 images x 3 partials): a server that sends more is broken,
# and every one of them would be held in memory.
MAX_STREAM_PARTIALS = 64
MAX_STREAM_IMAGES = 32
MAX_STREAM_TEXT_CHARS = 4_000_000
_UNREDACTED_FIELDS = IMAGE_FIELDS | {"delta"}


def image_meta_from(obj: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Image metadata: what was asked (``base``) updated with what the server reports."""
    params = dict(base.get("params") or {})
    for key in _IMAGE_FIELDS:
        value = text_field(obj, key)
        if value is not None:
            params[key] = value
    meta = {**base, "params": params}
    revised = text_field(obj, "revised_prompt")
    if revised:
        meta["revised_prompt"] = revised
    meta.setdefault("created", time.time())
    return meta


def parse_response(data: dict[str, Any], meta: dict[str, Any]) -> Response:
    """Build a `Response` from a Responses API object (non-streamed or ``response.completed``).

    Raises `MalformedPayload` when its output is not what the API describes.
    """
    images: list[Image] = []
    errors: list[dict[str, Any]] = []
    texts: list[str] = []
    response_id = text_field(data, "id")
    base = {**meta, "response_id": response_id}
    for item in list_field(data, "output"):
        kind = item.get("type")
        if kind == "image_generation_call":
            if item.get("result"):
                images.append(_call_image(item, base))
            elif isinstance(item.get("error"), dict):
                errors.append(dict(item["error"], item_id=text_field(item, "id")))
        elif kind == "message":
            for part in list_field(item, "content"):
                if part.get("type") == "output_text":
                    texts.append(text_field(part, "text") or "")
    return Response(
        id=response_id or "",
        model=text_field(data, "model"),
        status=text_field(data, "status"),
        output_text="".join(texts),
        images=images,
        usage=Usage.from_dict(data.get("usage")),
        errors=errors,
        raw=data,
    )


def _call_image(item: dict[str, Any], base: dict[str, Any]) -> Image:
    """The image of a finished ``image_generation_call`` item."""
    return image_field(item, "result", call_id=text_field(item, "id"), **image_meta_from(item, base))


def _error_fields(data: dict[str, Any]) -> tuple[str | None, str]:
    """(code, message) of a flat ``{code, message}`` or a nested ``{error: {...}}`` error."""
    nested = data.get("error")
    inner = nested if isinstance(nested, dict) else data
    # A flat event's own "type" is just "error"; a nested error's type is worth reporting.
    code = text_field(inner, "code") or (text_field(inner, "type") if inner is nested else None)
    message = text_field(inner, "message") or "the server reported an error"
    return code, message


class EventDecoder:
    """Turns SSE frames of one stream into events, keeping what a broken stream must return.

    ``meta`` is the provenance the request already knows (prompt, model, params), added to
    every image. The final image of a Responses stream arrives once, in
    ``response.output_item.done``; it is never dropped, and ``response.completed`` is
    checked for any image not seen before. An event that is not what the API describes
    (see `_payload`) ends the stream with a `StreamError` keeping what arrived before it.
    """

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.partials: list[Image] = []
        self.images: list[Image] = []
        self.text_parts: list[str] = []
        self.text_chars = 0
        self._text = TextRedactor()  # a key may be streamed a few characters at a time
        self.response: Response | None = None
        self.response_id: str | None = None
        self.usage: Usage | None = None
        self.finished = False

    # -- the public surface of a stream ------------------------------------------
    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def feed(self, frame: SSEFrame) -> list[Event]:
        if frame.is_done:
            return []
        try:
            data = json.loads(frame.data)
        except (ValueError, RecursionError):
            raise self.broken("the server sent a malformed event (not JSON)", code="malformed_event") from None
        if not isinstance(data, dict):
            return []
        data = redact_json(data, _UNREDACTED_FIELDS)  # deltas: by `_text`, across pieces
        kind = data.get("type") or frame.event
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return []  # an event type this version does not know: skipped
        assert isinstance(kind, str)
        try:
            return handler(self, kind, data)
        except MalformedPayload as exc:
            raise self.broken(f"the server sent a malformed {kind} event: {exc}", code="malformed_event") from None

    def finish(self) -> None:
        """The stream ended cleanly at the transport level: was it complete?"""
        if not self.finished:
            raise self.broken("the stream ended before the result was complete", code="incomplete_stream")

    def broken(self, message: str, *, code: str | None = None) -> StreamError:
        return StreamError(
            message, partials=self.partials, images=self.images, code=code, response_id=self.response_id
        )

    def _keep_partial(self, image: Image) -> None:
        if len(self.partials) >= MAX_STREAM_PARTIALS:
            raise MalformedPayload(f"more than {MAX_STREAM_PARTIALS} partial images in one stream")
        self.partials.append(image)

    def _keep_image(self, image: Image) -> None:
        if len(self.images) >= MAX_STREAM_IMAGES:
            raise MalformedPayload(f"more than {MAX_STREAM_IMAGES} images in one stream")
        self.images.append(image)

    # -- Images API ------------------------------------------------------------
    def _image_partial(self, kind: str, data: dict[str, Any]) -> list[Event]:
        image = image_field(data, "b64_json", **image_meta_from(data, self.meta))
        self._keep_partial(image)
        return [PartialImage(_partial_index(data, len(self.partials)), image)]

    def _image_completed(self, kind: str, data: dict[str, Any]) -> list[Event]:
        usage = Usage.from_dict(data.get("usage"))
        image = image_field(data, "b64_json", usage=usage, **image_meta_from(data, self.meta))
        self._keep_image(image)
        self.usage = usage
        wanted = int((self.meta.get("params") or {}).get("n") or 1)
        self.finished = len(self.images) >= wanted
        return [ImageCompleted(image, usage)]

    # -- Responses API ---------------------------------------------------------
    def _response_created(self, kind: str, data: dict[str, Any]) -> list[Event]:
        self.response_id = text_field(object_field(data, "response", required=True), "id")
        return [ResponseCreated(self.response_id or "")]

    def _call_progress(self, kind: str, data: dict[str, Any]) -> list[Event]:
        return [ImageGenerationProgress(text_field(data, "item_id") or "", kind.rsplit(".", 1)[1])]

    def _response_partial(self, kind: str, data: dict[str, Any]) -> list[Event]:
        item_id = text_field(data, "item_id")
        meta = {**self.meta, "response_id": self.response_id, "call_id": item_id}
        image = image_field(data, "partial_image_b64", **image_meta_from(data, meta))
        self._keep_partial(image)
        index = _partial_index(data, len(self.partials))
        return [PartialImage(index, image, item_id=item_id, output_index=int_field(data, "output_index"))]

    def _output_item_done(self, kind: str, data: dict[str, Any]) -> list[Event]:
        item = object_field(data, "item", required=True)
        if item.get("type") != "image_generation_call" or not item.get("result"):
            return []
        return self._complete_call(item)

    def _complete_call(self, item: dict[str, Any]) -> list[Event]:
        call_id = text_field(item, "id")
        if any(img.call_id == call_id for img in self.images):
            return []
        image = _call_image(item, {**self.meta, "response_id": self.response_id})
        self._keep_image(image)
        return [ImageCompleted(image, None, item_id=call_id)]

    def _text_delta(self, kind: str, data: dict[str, Any]) -> list[Event]:
        delta = text_field(data, "delta", required=True) or ""
        self.text_chars += len(delta)
        if self.text_chars > MAX_STREAM_TEXT_CHARS:
            raise MalformedPayload(f"more than {MAX_STREAM_TEXT_CHARS:,} characters of text")
        return self._shown_text(self._text.feed(delta), data)

    def _shown_text(self, text: str, data: dict[str, Any]) -> list[Event]:
        """A `TextDelta` of what is safe to show so far (none while a possible secret is held back)."""
        if not text:
            return []
        self.text_parts.append(text)
        return [TextDelta(text, text_field(data, "item_id"), int_field(data, "output_index"))]

    def _text_done(self, kind: str, data: dict[str, Any]) -> list[Event]:
        held = self._shown_text(self._text.flush(), data)
        return [*held, TextDone(text_field(data, "text") or "", text_field(data, "item_id"))]

    def _response_completed(self, kind: str, data: dict[str, Any]) -> list[Event]:
        body = object_field(data, "response", required=True)
        self.response_id = text_field(body, "id") or self.response_id
        events: list[Event] = self._shown_text(self._text.flush(), {})
        for item in list_field(body, "output"):
            if item.get("type") == "image_generation_call" and item.get("result"):
                events += self._complete_call(item)
        response = parse_response(body, self.meta)
        # Keep the image objects already handed out (they may have been stored).
        response = replace(response, output_text=response.output_text or self.text, images=list(self.images))
        self.response = response
        self.usage = response.usage
        self.finished = True
        return [*events, ResponseCompleted(response)]

    def _response_failed(self, kind: str, data: dict[str, Any]) -> list[Event]:
        if kind == "response.incomplete":
            return self._response_completed(kind, data)
        body = object_field(data, "response")
        code, message = _error_fields(body) if isinstance(body.get("error"), dict) else (None, "the response failed")
        raise self.broken(message, code=code)

    def _error(self, kind: str, data: dict[str, Any]) -> list[Event]:
        code, message = _error_fields(data)
        if code in ("moderation_blocked", "content_policy_violation") and not self.partials and not self.images:
            raise error_class(400, code)(message, status=400, code=code)
        raise self.broken(message, code=code)


def _partial_index(data: dict[str, Any], received: int) -> int:
    """``partial_image_index`` as sent, else the count received so far (0-based)."""
    index = int_field(data, "partial_image_index")
    return index if index is not None and index >= 0 else received - 1


_HANDLERS: dict[str, Callable[[EventDecoder, str, dict[str, Any]], list[Event]]] = {
    "image_generation.partial_image": EventDecoder._image_partial,
    "image_edit.partial_image": EventDecoder._image_partial,
    "image_generation.completed": EventDecoder._image_completed,
    "image_edit.completed": EventDecoder._image_completed,
    "image_variation.completed": EventDecoder._image_completed,
    "response.created": EventDecoder._response_created,
    "response.image_generation_call.in_progress": EventDecoder._call_progress,
    "response.image_generation_call.generating": EventDecoder._call_progress,
    "response.image_generation_call.completed": EventDecoder._call_progress,
    "response.image_generation_call.partial_image": EventDecoder._response_partial,
    "response.output_item.done": EventDecoder._output_item_done,
    "response.output_text.delta": EventDecoder._text_delta,
    "response.output_text.done": EventDecoder._text_done,
    "response.completed": EventDecoder._response_completed,
    "response.failed": EventDecoder._response_failed,
    "response.incomplete": EventDecoder._response_failed,
    "error": EventDecoder._error,
}

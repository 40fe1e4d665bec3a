"""Typed stream events and the decoder that turns SSE frames into them.

Events are frozen dataclasses keeping OpenAI's names where they exist. Unknown event
types are skipped. The decoder is sans-IO: the sync and async streams both feed it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Union

from ._secrets import redact_json
from .errors import StreamError, error_class
from .image import Image, Usage
from .streaming import SSEFrame

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


Event = Union[
    PartialImage,
    ImageCompleted,
    ImageGenerationProgress,
    ResponseCreated,
    TextDelta,
    TextDone,
    ResponseCompleted,
]

_IMAGE_FIELDS = ("size", "quality", "background", "output_format")


def image_meta_from(obj: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Image metadata: what was asked (``base``) updated with what the server reports."""
    params = dict(base.get("params") or {})
    for key in _IMAGE_FIELDS:
        if obj.get(key) is not None:
            params[key] = obj[key]
    meta = {**base, "params": params}
    if obj.get("revised_prompt"):
        meta["revised_prompt"] = obj["revised_prompt"]
    meta.setdefault("created", time.time())
    return meta


def parse_response(data: dict[str, Any], meta: dict[str, Any]) -> Response:
    """Build a `Response` from a Responses API object (non-streamed or ``response.completed``)."""
    images: list[Image] = []
    errors: list[dict[str, Any]] = []
    texts: list[str] = []
    usage = Usage.from_dict(data.get("usage"))
    base = {**meta, "response_id": data.get("id")}
    for item in data.get("output") or []:
        kind = item.get("type")
        if kind == "image_generation_call":
            if item.get("result"):
                images.append(
                    Image.from_b64(item["result"], call_id=item.get("id"), **image_meta_from(item, base))
                )
            elif item.get("error"):
                errors.append(dict(item["error"], item_id=item.get("id")))
        elif kind == "message":
            for part in item.get("content") or []:
                if part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
    return Response(
        id=data.get("id") or "",
        model=data.get("model"),
        status=data.get("status"),
        output_text="".join(texts),
        images=images,
        usage=usage,
        errors=errors,
        raw=data,
    )


def _error_fields(data: dict[str, Any]) -> tuple[str | None, str]:
    """(code, message) of a flat ``{code, message}`` or a nested ``{error: {...}}`` error."""
    nested = data.get("error")
    inner = nested if isinstance(nested, dict) else data
    # A flat event's own "type" is just "error"; a nested error's type is worth reporting.
    code = inner.get("code") or (inner.get("type") if inner is nested else None)
    message = inner.get("message") or "the server reported an error"
    return code, message


class EventDecoder:
    """Turns SSE frames of one stream into events, keeping what a broken stream must return.

    ``meta`` is the provenance the request already knows (prompt, model, params), added to
    every image. The final image of a Responses stream arrives once, in
    ``response.output_item.done``; it is never dropped, and ``response.completed`` is
    checked for any image not seen before.
    """

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.partials: list[Image] = []
        self.images: list[Image] = []
        self.text_parts: list[str] = []
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
        except ValueError:
            raise self.broken("the server sent a malformed event (not JSON)", code="malformed_event") from None
        if not isinstance(data, dict):
            return []
        data = redact_json(data)
        kind = data.get("type") or frame.event
        handler = _HANDLERS.get(kind)  # type: ignore[arg-type]
        return handler(self, data) if handler else []

    def finish(self) -> None:
        """The stream ended cleanly at the transport level: was it complete?"""
        if not self.finished:
            raise self.broken("the stream ended before the result was complete", code="incomplete_stream")

    def broken(self, message: str, *, code: str | None = None) -> StreamError:
        return StreamError(
            message, partials=self.partials, images=self.images, code=code, response_id=self.response_id
        )

    # -- Images API ------------------------------------------------------------
    def _image_partial(self, data: dict[str, Any]) -> list[Event]:
        image = Image.from_b64(data["b64_json"], **image_meta_from(data, self.meta))
        self.partials.append(image)
        return [PartialImage(int(data.get("partial_image_index") or 0), image)]

    def _image_completed(self, data: dict[str, Any]) -> list[Event]:
        usage = Usage.from_dict(data.get("usage"))
        image = Image.from_b64(data["b64_json"], usage=usage, **image_meta_from(data, self.meta))
        self.images.append(image)
        self.usage = usage
        wanted = int((self.meta.get("params") or {}).get("n") or 1)
        self.finished = len(self.images) >= wanted
        return [ImageCompleted(image, usage)]

    # -- Responses API ---------------------------------------------------------
    def _response_created(self, data: dict[str, Any]) -> list[Event]:
        self.response_id = (data.get("response") or {}).get("id")
        return [ResponseCreated(self.response_id or "")]

    def _call_progress(self, data: dict[str, Any]) -> list[Event]:
        status = data["type"].rsplit(".", 1)[1]
        return [ImageGenerationProgress(data.get("item_id") or "", status)]

    def _response_partial(self, data: dict[str, Any]) -> list[Event]:
        meta = {**self.meta, "response_id": self.response_id, "call_id": data.get("item_id")}
        image = Image.from_b64(data["partial_image_b64"], **image_meta_from(data, meta))
        self.partials.append(image)
        return [
            PartialImage(
                int(data.get("partial_image_index") or 0),
                image,
                item_id=data.get("item_id"),
                output_index=data.get("output_index"),
            )
        ]

    def _output_item_done(self, data: dict[str, Any]) -> list[Event]:
        item = data.get("item") or {}
        if item.get("type") != "image_generation_call" or not item.get("result"):
            return []
        return self._complete_call(item)

    def _complete_call(self, item: dict[str, Any]) -> list[Event]:
        if any(img.call_id == item.get("id") for img in self.images):
            return []
        meta = {**self.meta, "response_id": self.response_id}
        image = Image.from_b64(item["result"], call_id=item.get("id"), **image_meta_from(item, meta))
        self.images.append(image)
        return [ImageCompleted(image, None, item_id=item.get("id"))]

    def _text_delta(self, data: dict[str, Any]) -> list[Event]:
        delta = data.get("delta") or ""
        self.text_parts.append(delta)
        return [TextDelta(delta, data.get("item_id"), data.get("output_index"))]

    def _text_done(self, data: dict[str, Any]) -> list[Event]:
        return [TextDone(data.get("text") or "", data.get("item_id"))]

    def _response_completed(self, data: dict[str, Any]) -> list[Event]:
        body = data.get("response") or {}
        self.response_id = body.get("id") or self.response_id
        events: list[Event] = []
        for item in body.get("output") or []:
            if item.get("type") == "image_generation_call" and item.get("result"):
                events += self._complete_call(item)
        response = parse_response(body, self.meta)
        # Keep the image objects already handed out (they may have been stored).
        usage = response.usage
        response = Response(
            id=response.id,
            model=response.model,
            status=response.status,
            output_text=response.output_text or self.text,
            images=list(self.images),
            usage=usage,
            errors=response.errors,
            raw=body,
        )
        self.response = response
        self.usage = usage
        self.finished = True
        return [*events, ResponseCompleted(response)]

    def _response_failed(self, data: dict[str, Any]) -> list[Event]:
        body = data.get("response") or {}
        code, message = _error_fields(body) if body.get("error") else (None, "the response failed")
        if data["type"] == "response.incomplete":
            return self._response_completed(data)
        raise self.broken(message, code=code)

    def _error(self, data: dict[str, Any]) -> list[Event]:
        code, message = _error_fields(data)
        if code in ("moderation_blocked", "content_policy_violation") and not self.partials and not self.images:
            raise error_class(400, code)(message, status=400, code=code)
        raise self.broken(message, code=code)


_HANDLERS = {
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

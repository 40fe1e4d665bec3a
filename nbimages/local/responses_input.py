"""Reading a ``POST /responses`` request: its options, and the texts and images of its input.

``input`` is a string, or a list of strings, content parts and messages (``input_text``,
``input_image`` with a data URL or a ``file_id``, and ``image_generation_call`` items that
refer to an earlier image, or carry one in ``result``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import decode_data_url
from .incoming import Request
from .params import bool_param, moderate
from .protocol import APIError, missing_parameter, new_id
from .state import StoredImage

if TYPE_CHECKING:
    from .state import Context, State

TEXT_PARTS = ("input_text", "text", "output_text")
IMAGE_PARTS = ("input_image", "image_url")


@dataclass(frozen=True)
class InputImage:
    data: bytes
    detail: str  # low, high, auto, original


@dataclass
class ParsedInput:
    text: str = ""  # the latest user text
    texts: list[str] = field(default_factory=list)  # every text, the assistant's included
    images: list[InputImage] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)  # ids of image_generation_call items, in order

    def add(self, texts: list[str], *, latest: bool) -> None:
        self.texts.extend(texts)
        if latest and texts:
            self.text = " ".join(texts)


@dataclass
class Ask:
    """A Responses API request, read."""

    body: dict[str, Any]
    model: Any
    previous_id: Any  # previous_response_id, as sent
    tools: list[Any]
    tool: dict[str, Any] | None  # the image_generation tool, if offered
    tool_index: int | None
    tool_choice: Any
    stream: bool
    store: bool
    instructions: Any
    input: ParsedInput

    @property
    def instructions_text(self) -> str:
        return self.instructions if isinstance(self.instructions, str) else ""


def parse_request(ctx: Context, req: Request) -> Ask:
    body = req.json_object()
    model = body.get("model")
    if not model:
        raise missing_parameter("model")
    previous = body.get("previous_response_id")
    if previous and not ctx.state.has_response(previous):
        raise APIError(404, f"Previous response with id '{previous}' not found.",
                       param="previous_response_id", code="previous_response_not_found")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise APIError(400, "Invalid 'tools': expected an array.", param="tools", code="invalid_type")
    tool_index, tool = next(((i, t) for i, t in enumerate(tools)
                             if isinstance(t, dict) and t.get("type") == "image_generation"), (None, None))
    ask = Ask(body, model, previous, tools, tool, tool_index, body.get("tool_choice", "auto"),
              stream=bool_param(body.get("stream"), "stream"), store=body.get("store", True) is not False,
              instructions=body.get("instructions"), input=parse_input(ctx.state, body.get("input")))
    moderate(" ".join(ask.input.texts))
    return ask


def parse_input(state: State, raw: Any) -> ParsedInput:
    if raw is None:
        raise missing_parameter("input")
    if isinstance(raw, str):
        return ParsedInput(raw, [raw])
    if not isinstance(raw, list):
        raise APIError(400, "Invalid 'input': expected a string or an array of items.",
                       param="input", code="invalid_type")
    parsed = ParsedInput()
    for idx, item in enumerate(raw):
        _read_item(state, item, idx, parsed)
    return parsed


def _read_item(state: State, item: Any, idx: int, into: ParsedInput) -> None:
    if isinstance(item, str):
        into.add([item], latest=True)
        return
    if not isinstance(item, dict):
        return
    itype = item.get("type")
    if itype == "image_generation_call":
        ref = _generation_call(state, item, idx)
        if ref is not None:
            into.refs.append(ref)
    elif itype in ("input_text", "input_image"):  # a bare content part
        into.add(_content(state, [item], idx, "user", into.images), latest=True)
    elif item.get("role") is not None or itype in (None, "message"):
        role = item.get("role")
        texts = _content(state, item.get("content"), idx, role or "user", into.images)
        into.add(texts, latest=role in (None, "user"))


def _generation_call(state: State, item: dict[str, Any], idx: int) -> Any:
    """The id of the image an ``image_generation_call`` item names (kept if it carries it)."""
    ig = item.get("id")
    if item.get("result"):
        try:
            data = base64.b64decode(item["result"])
        except (binascii.Error, ValueError):
            raise APIError(400, "Invalid base64 in image_generation_call result.",
                           param=f"input[{idx}].result") from None
        key = ig or new_id("ig_")
        state.remember_image(key, StoredImage(data))
        return key
    if ig and not state.has_image(ig):
        raise APIError(404, f"Item with id '{ig}' not found.", param=f"input[{idx}].id",
                       code="not_found")
    return ig or None


def _content(state: State, content: Any, idx: int, role: str, images: list[InputImage]) -> list[str]:
    """The texts of a message's content; its images (not an assistant's) go to ``images``."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    texts: list[str] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict):
            continue
        ptype = part.get("type")
        if ptype in TEXT_PARTS and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif ptype in IMAGE_PARTS and role != "assistant":
            images.append(_input_image(state, part, f"input[{idx}].content[{j}]"))
    return texts


def _input_image(state: State, part: dict[str, Any], param: str) -> InputImage:
    src = part.get("image_url")
    nested = src if isinstance(src, dict) else {}
    if isinstance(src, dict):
        src = src.get("url")
    if part.get("file_id"):
        data = state.file_bytes(part["file_id"], param + ".file_id")
    elif src:
        data = decode_data_url(src, param + ".image_url")
    else:
        raise APIError(400, f"Invalid '{param}': an input_image needs 'image_url' or 'file_id'.",
                       param=param, code="missing_required_parameter")
    return InputImage(data, part.get("detail") or nested.get("detail") or "auto")

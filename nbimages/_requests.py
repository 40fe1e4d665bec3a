"""Request building: validated arguments in, a `Call` out. Sans-IO, shared by both clients.

A `Call` says what to send and how to read the answer (whole or streamed), so that the
sync and async clients differ only in how they wait.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from . import config
from ._payload import image_field, list_field, text_field
from .errors import InvalidInputError
from .events import EventDecoder, Response, parse_response
from .image import Image, Usage
from .inputs import (
    to_image,
    validate_detail,
    validate_markup,
    validate_mask,
    validate_prompt,
    vision_part,
)
from .options import validate_generation_options, validate_model, validate_model_name

__all__ = ["Call", "edit_json_body", "image_tool", "images_from_reply"]


@dataclass
class Call:
    method: str
    path: str
    stream: bool
    meta: dict[str, Any]
    parse: Callable[[dict[str, Any], dict[str, Any]], Any]
    stream_result: Callable[[EventDecoder], Any]
    json: dict[str, Any] | None = None
    data: dict[str, str | list[str]] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = field(default=None, repr=False)
    # A file sent from disk as the multipart ``file`` part, read a piece at a time (a batch's input).
    upload: tuple[str, IO[bytes], str] | None = field(default=None, repr=False)
    # The typed options behind an edit's form fields (a batch sends the edit as a JSON body).
    options: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def parts(self) -> list[tuple[str, tuple[str, bytes | IO[bytes], str]]] | None:
        """The multipart parts to send."""
        if self.upload is not None:
            return [("file", self.upload)]
        return list(self.files) if self.files is not None else None


# -- result readers ----------------------------------------------------------------
def images_from_reply(body: dict[str, Any], meta: dict[str, Any]) -> list[Image]:
    from .events import image_meta_from

    usage = Usage.from_dict(body.get("usage"))
    images = []
    for entry in list_field(body, "data"):
        base = image_meta_from({**body, "revised_prompt": entry.get("revised_prompt")}, meta)
        if entry.get("b64_json"):
            images.append(image_field(entry, "b64_json", usage=usage, **base))
        elif text_field(entry, "url"):
            url = entry["url"]
            if url.startswith("data:"):
                images.append(to_image(url, "url").with_meta(usage=usage, **base))
            else:
                raise InvalidInputError(
                    "response_format", "url", "'b64_json' (nbimages keeps the image bytes; URLs expire)"
                )
    return images


def _stream_images(decoder: EventDecoder) -> list[Image]:
    return list(decoder.images)


def _stream_response(decoder: EventDecoder) -> Response | None:
    return decoder.response


def _stream_text(decoder: EventDecoder) -> str:
    return decoder.text


def _text_of(body: dict[str, Any], meta: dict[str, Any]) -> str:
    return parse_response(body, meta).output_text


def _api_object(body: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """A file or batch object, whose id is checked here (a reply without one is malformed)."""
    text_field(body, "id", required=True)
    return body


def _file_id(body: dict[str, Any], meta: dict[str, Any]) -> str:
    file_id = text_field(body, "id", required=True)
    assert file_id is not None
    return file_id


# -- builders ---------------------------------------------------------------------
def form_fields(options: dict[str, Any]) -> dict[str, str | list[str]]:
    """Multipart text fields as the SDK writes them: a dict as ``key[sub]`` fields (nested as
    deep as it goes), a list as repeated ``key[]`` fields, booleans as true/false, None left out."""
    fields: dict[str, str | list[str]] = {}
    for name, value in options.items():
        for key, text in _flatten(name, value):
            known = fields.get(key)
            if known is None:
                fields[key] = text
            else:
                fields[key] = [*(known if isinstance(known, list) else [known]), text]
    return fields


def _flatten(key: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [item for sub, v in value.items() for item in _flatten(f"{key}[{sub}]", v)]
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in _flatten(f"{key}[]", v)]
    if value is None:
        return []
    if isinstance(value, bool):
        return [(key, "true" if value else "false")]
    return [(key, str(value))]


def _file_part(name: str, image: Image, index: int = 0) -> tuple[str, tuple[str, bytes, str]]:
    ext = "jpg" if image.format == "jpeg" else (image.format or "png")
    return name, (f"{name.strip('[]')}-{index}.{ext}", image.data, image.mime_type)


def build_generate(prompt: str, *, model: str | None, stream: bool, options: dict[str, Any]) -> Call:
    prompt = validate_prompt(prompt)
    model = config.image_model() if model is None else model
    validate_model(model)
    opts = validate_generation_options(options, model=model, streamed=stream)
    body = {"prompt": prompt, "model": model, **opts}
    if stream:
        body["stream"] = True
    meta = {"prompt": prompt, "model": model, "params": {**opts, "endpoint": "images/generations"}}
    return Call("POST", "/images/generations", stream, meta, images_from_reply, _stream_images, json=body)


def build_edit(
    prompt: str, image: Any, *, mask: Any, model: str | None, stream: bool, options: dict[str, Any]
) -> Call:
    prompt = validate_prompt(prompt)
    sources = list(image) if isinstance(image, (list, tuple)) else [image]
    if not sources:
        raise InvalidInputError("image", image, "at least one image")
    if len(sources) > config.MAX_EDIT_IMAGES:
        raise InvalidInputError("image", f"<{len(sources)} images>", f"at most {config.MAX_EDIT_IMAGES} images")
    images = [
        to_image(src, "image" if len(sources) == 1 else f"image[{i}]", formats=config.EDIT_INPUT_FORMATS)
        for i, src in enumerate(sources)
    ]
    mask_image = validate_mask(mask, images[0]) if mask is not None else None
    options = dict(options)
    markup = options.pop("markup", None)
    markup_image = validate_markup(markup, images[0], mask_image) if markup is not None else None
    model = config.image_model() if model is None else model
    validate_model(model)
    opts = validate_generation_options(options, model=model, streamed=stream, masked=mask_image is not None,
                                       markup=markup_image is not None)
    name = "image" if len(images) == 1 else "image[]"
    files = [_file_part(name, img, i) for i, img in enumerate(images)]
    if mask_image is not None:
        files.append(_file_part("mask", mask_image))
    if markup_image is not None:
        files.append(_file_part("markup", markup_image))
    data: dict[str, str | list[str]] = {"prompt": prompt, "model": model, **form_fields(opts)}
    if stream:
        data["stream"] = "true"
    parent = _image_parent(images[0])
    meta = {
        "prompt": prompt,
        "model": model,
        "parent": parent,
        "params": {**opts, "endpoint": "images/edits", "images": len(images), "mask": mask_image is not None,
                   **({"markup": True} if markup_image is not None else {})},
    }
    return Call("POST", "/images/edits", stream, meta, images_from_reply, _stream_images, data=data, files=files,
                options=opts)


def edit_json_body(call: Call) -> dict[str, Any]:
    """An edit as the JSON body the Images API also takes (the Batch API's only form): the
    options as they are, the images as ``{"image_url": <data URL>}``."""
    assert call.data is not None and call.options is not None
    body: dict[str, Any] = {"prompt": call.data["prompt"], "model": call.data["model"], **call.options}
    for name, (_, data, mime) in call.files or []:
        ref = {"image_url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}
        if name in ("image", "image[]"):
            body.setdefault("images", []).append(ref)
        else:
            body[name] = ref
    return body


def build_variations(image: Any, *, model: str | None, options: dict[str, Any]) -> Call:
    source = to_image(image, "image", formats=frozenset({"png"}), max_bytes=config.MAX_MASK_BYTES)
    if model is not None:  # retired or not: compatible servers still serve the retired endpoint's own models
        validate_model_name(model, config.DEFAULT_MODEL)
    size = options.get("size")
    if size is not None and size not in config.VARIATION_SIZES:
        raise InvalidInputError("size", size, "one of " + ", ".join(repr(s) for s in config.VARIATION_SIZES))
    opts = validate_generation_options({k: v for k, v in options.items() if k != "size"})
    if size is not None:
        opts["size"] = size
    # The legacy endpoint answers with URLs unless told otherwise.
    data: dict[str, str | list[str]] = {"response_format": "b64_json", **form_fields(opts)}
    if model is not None:
        data["model"] = model
    meta = {"model": model, "params": {**opts, "endpoint": "images/variations"}}
    return Call(
        "POST", "/images/variations", False, meta, images_from_reply, _stream_images,
        data=data, files=[_file_part("image", source)],
    )


def image_tool(**options: Any) -> dict[str, Any]:
    """The ``image_generation`` tool for the Responses API, validated.

    ``input_image_mask`` may be any image source; it is sent as a data URL.
    """
    mask = options.pop("input_image_mask", None)
    tool: dict[str, Any] = {"type": "image_generation",
                            **validate_generation_options(options, masked=mask is not None)}
    if mask is not None:
        if isinstance(mask, dict):
            tool["input_image_mask"] = mask
        else:
            tool["input_image_mask"] = {"image_url": to_image(mask, "input_image_mask").to_data_url()}
    return tool


def _check_tools(tools: Any) -> list[dict[str, Any]] | None:
    if tools is None:
        return None
    if not isinstance(tools, (list, tuple)) or not all(isinstance(t, dict) and "type" in t for t in tools):
        raise InvalidInputError("tools", tools, 'a list of tool dicts such as [{"type": "image_generation"}]')
    checked = []
    for tool in tools:
        if tool["type"] == "image_generation":
            options = {k: v for k, v in tool.items() if k != "type"}
            tool = image_tool(**options)
        checked.append(tool)
    return checked


def build_respond(
    input: Any,
    *,
    model: str | None,
    tools: Any,
    previous_response_id: str | None,
    images: Any,
    image_references: Any,
    detail: str,
    stream: bool,
    options: dict[str, Any],
) -> Call:
    model = config.mainline_model() if model is None else model
    validate_model_name(model, config.DEFAULT_MODEL)
    checked_tools = _check_tools(tools)
    if previous_response_id is not None and (not isinstance(previous_response_id, str) or not previous_response_id):
        raise InvalidInputError("previous_response_id", previous_response_id, "a response id such as 'resp_...'")
    prompt: str | None = None
    if isinstance(input, str):
        prompt = validate_prompt(input, "input")
        content: list[dict[str, Any]] = [{"type": "input_text", "text": prompt}]
        for i, source in enumerate(_as_list(images)):
            content.append(vision_part(source, validate_detail(detail), f"images[{i}]"))
        items: Any = [{"role": "user", "content": content}]
        for ref in _as_list(image_references):
            call_id = ref.call_id if isinstance(ref, Image) else ref
            if not isinstance(call_id, str) or not call_id:
                raise InvalidInputError("image_references", ref, "image_generation_call ids such as 'ig_...'")
            items.append({"type": "image_generation_call", "id": call_id})
        if len(items) == 1 and len(content) == 1:
            items = prompt
    elif isinstance(input, list) and input:
        if images or image_references:
            raise InvalidInputError("images", images, "None when input is already a list of items")
        items = input
    else:
        raise InvalidInputError("input", input, "a prompt string or a non-empty list of input items")
    body: dict[str, Any] = {"model": model, "input": items, **{k: v for k, v in options.items() if v is not None}}
    if checked_tools is not None:
        body["tools"] = checked_tools
    if previous_response_id:
        body["previous_response_id"] = previous_response_id
    if stream:
        body["stream"] = True
    image_opts = next((t for t in checked_tools or [] if t["type"] == "image_generation"), {})
    meta = {
        "prompt": prompt,
        "model": image_opts.get("model"),
        # Continuing from a response, or refining an image sent along (a Studio refinement of an
        # Images API picture): the Gallery follows this link back to the first prompt.
        "parent": previous_response_id or _first_image_parent(images),
        "params": {
            **{k: v for k, v in image_opts.items() if k not in ("type", "input_image_mask", "model")},
            "endpoint": "responses",
            "mainline_model": model,
        },
    }
    return Call("POST", "/responses", stream, meta, parse_response, _stream_response, json=body)


def build_describe(
    sources: Any, question: str, *, model: str | None, detail: str, stream: bool, options: dict[str, Any]
) -> Call:
    question = validate_prompt(question, "question")
    detail = validate_detail(detail)
    items = _as_list(sources)
    if not items:
        raise InvalidInputError("image", sources, "at least one image to describe")
    parts = [vision_part(src, detail, "image" if len(items) == 1 else f"image[{i}]") for i, src in enumerate(items)]
    model = config.mainline_model() if model is None else model
    validate_model_name(model, config.DEFAULT_MODEL)
    body: dict[str, Any] = {
        "model": model,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": question}, *parts]}],
        **{k: v for k, v in options.items() if v is not None},
    }
    if stream:
        body["stream"] = True
    meta = {"prompt": question, "model": model, "params": {"endpoint": "responses", "detail": detail}}
    return Call("POST", "/responses", stream, meta, _text_of, _stream_text, json=body)


def build_upload(source: Any, *, purpose: str) -> Call:
    image = to_image(source, "file", formats=config.VISION_INPUT_FORMATS)
    if not isinstance(purpose, str) or not purpose:
        raise InvalidInputError("purpose", purpose, "'vision' or 'user_data'")
    name = image.path.name if image.path else f"image.{'jpg' if image.format == 'jpeg' else image.format}"
    return Call(
        "POST", "/files", False, {}, _file_id, _stream_text,
        data={"purpose": purpose}, files=[("file", (name, image.data, image.mime_type))],
    )


# -- the Files API and the Batch API, for batch runs ----------------------------------
def build_batch_upload(name: str, file: IO[bytes]) -> Call:
    """Upload ``file`` (a JSONL of requests, open for reading) with purpose ``batch``."""
    return Call("POST", "/files", False, {}, _api_object, _stream_text, data={"purpose": "batch"},
                upload=(name, file, "application/jsonl"))


def build_batch_create(input_file_id: str, endpoint: str, metadata: dict[str, str]) -> Call:
    body = {"input_file_id": input_file_id, "endpoint": endpoint, "completion_window": "24h", "metadata": metadata}
    return Call("POST", "/batches", False, {}, _api_object, _stream_text, json=body)


def build_batch_retrieve(batch_id: str) -> Call:
    return Call("GET", f"/batches/{batch_id}", False, {}, _api_object, _stream_text)


def build_batch_cancel(batch_id: str) -> Call:
    return Call("POST", f"/batches/{batch_id}/cancel", False, {}, _api_object, _stream_text)


def build_file_content(file_id: str) -> Call:
    """A file's content; sent with `Client._lines`, read a line at a time."""
    return Call("GET", f"/files/{file_id}/content", True, {}, _api_object, _stream_text)


def _image_parent(image: Image) -> str | None:
    return image.call_id or (str(image.path) if image.path else None)


def _first_image_parent(images: Any) -> str | None:
    first = next(iter(_as_list(images)), None)
    return _image_parent(first) if isinstance(first, Image) else None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]

"""The Images API: ``/images/generations``, ``/images/edits``, ``/images/variations``.

Each endpoint reads its request, has the painter make the pictures, and replies with
them: a JSON body, or (``stream``) partial images then one completed event per image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._digest import sha256_hex
from .codec import MIME, b64, background_of, decode_data_url, encode, encode_output, open_image
from .editing import EditJob, load_image_ref, markup_layer, mask_region, paint_edits
from .incoming import Request
from .model_rules import refuse_markup_for_model
from .params import (
    ImageOptions,
    check_prompt,
    image_options,
    int_param,
    parse_size,
    refuse_mask_for_gif,
    response_format,
    seed,
    size_label,
)
from .protocol import APIError, SimResponse, missing_parameter
from .replies import event_stream, json_reply
from .usage import PARTIAL_TOKENS, image_output_tokens, image_usage

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .state import Context

MAX_IMAGES = 16  # input images of one edit


@dataclass
class Made:
    """The pictures made for one request, and what their reply says about them."""

    images: list[PILImage.Image]
    size: tuple[int, int]
    prompt: str
    image_tokens: int = 0
    cache_keys: list[Any] | None = None  # what each picture depends on (None: not cached)


# --------------------------------------------------------------------------- endpoints


def generations(ctx: Context, req: Request) -> SimResponse:
    body = req.json_object()
    prompt = check_prompt(body.get("prompt"))
    opts = image_options(body, default_model=ctx.image_model)
    size = opts.size or (1024, 1024)
    keys = [("generations", prompt, opts.model, size, opts.quality, i, opts.background)
            for i in range(opts.n)]
    images = [ctx.painter.render(prompt, size, seed(*key), transparent=opts.transparent).image
              for key in keys]
    made = Made(images, size, prompt, cache_keys=[(ctx.painter, *key) for key in keys])
    return _reply(ctx, req, opts, made, "image_generation")


def edits(ctx: Context, req: Request) -> SimResponse:
    fields, images, mask, markup = _edit_form(req) if req.is_multipart else _edit_json(ctx, req)
    prompt = check_prompt(fields.get("prompt"))
    if not images:
        raise missing_parameter("image")
    opts = image_options(fields, default_model=ctx.image_model)
    if mask is not None:
        refuse_mask_for_gif(opts, "mask")
    if markup is not None:
        refuse_markup_for_model(opts.model)
    if len(images) > MAX_IMAGES:
        raise APIError(400, f"Too many images: at most {MAX_IMAGES}.", param="image",
                       code="invalid_value")
    job = _edit_job(images, mask, markup, prompt, opts, fields.get("input_fidelity"))
    ids = ([sha256_hex(b) for b in images],
           sha256_hex(mask) if mask else None, sha256_hex(markup) if markup else None)
    seeds = [seed("edits", prompt, opts.model, job.out_size, opts.quality, i, *ids, opts.background)
             for i in range(opts.n)]
    pictures = paint_edits(ctx.painter, job, seeds)
    made = Made([p.image for p in pictures], job.out_size, prompt, image_tokens=job.input_tokens())
    return _reply(ctx, req, opts, made, "image_edit")


def variations(ctx: Context, req: Request) -> SimResponse:
    if not req.is_multipart:
        raise APIError(400, "Expected multipart/form-data with an 'image' file.", param="image")
    form = req.form()
    files = form.get_files("image", "image[]")
    if not files:
        raise missing_parameter("image")
    fields = {k: v[-1] for k, v in form.fields.items()}
    n = int_param(fields.get("n"), "n", 1, 10, 1)
    size = parse_size(fields.get("size")) or (1024, 1024)
    rf = response_format(fields.get("response_format"))
    base = open_image(files[0].data, "image")
    digest = sha256_hex(files[0].data)
    data = []
    for i in range(n):
        blob = encode(ctx.painter.variation(base, size, seed("variations", digest, size, i)), "png")
        data.append({"url": _image_url(ctx, req, blob, "png")} if rf == "url" else {"b64_json": b64(blob)})
    return json_reply(200, {"created": int(time.time()), "data": data})


# --------------------------------------------------------------------------- reading an edit


EditInputs = tuple[dict[str, Any], list[bytes], bytes | None, bytes | None]  # fields, images, mask, markup


def _edit_form(req: Request) -> EditInputs:
    """(fields, images, mask, markup) of a multipart edit: ``image`` or ``image[]`` parts,
    files or data URLs."""
    form = req.form()
    fields: dict[str, Any] = {k: v[-1] for k, v in form.fields.items()}
    images = [f.data for f in form.get_files("image", "image[]")]
    images += [decode_data_url(val, "image") for key in ("image", "image[]")
               for val in form.fields.get(key, [])]
    masks, markups = form.get_files("mask"), form.get_files("markup")
    return fields, images, masks[0].data if masks else None, markups[0].data if markups else None


def _edit_json(ctx: Context, req: Request) -> EditInputs:
    """(fields, images, mask, markup) of the JSON form: ``images`` (or ``image``), ``mask`` and
    ``markup`` as ``{image_url}`` or ``{file_id}``."""
    fields = req.json_object()
    refs = fields.get("images")
    if refs is None and fields.get("image") is not None:
        refs = fields["image"] if isinstance(fields["image"], list) else [fields["image"]]
    if refs is not None and not isinstance(refs, list):
        raise APIError(400, "Invalid 'images': expected an array.", param="images",
                       code="invalid_type")
    images = [load_image_ref(ctx.state, r, f"images[{i}]") for i, r in enumerate(refs or [])]
    mask, markup = (load_image_ref(ctx.state, fields[name], name) if fields.get(name) else None
                    for name in ("mask", "markup"))
    return fields, images, mask, markup


def _edit_job(images: list[bytes], mask: bytes | None, markup: bytes | None, prompt: str,
              opts: ImageOptions, fidelity: Any) -> EditJob:
    several = len(images) > 1
    decoded = [open_image(b, "image", i + 1 if several else None) for i, b in enumerate(images)]
    region = mask_region(open_image(mask, "mask"), decoded[0].size, "mask") if mask is not None else None
    marks = (markup_layer(open_image(markup, "markup"), decoded[0].size, mask is not None)
             if markup is not None else None)
    return EditJob(decoded[0], prompt, references=decoded[1:], mask=region, markup=marks, size=opts.size,
                   background=opts.background, fidelity=fidelity)


# --------------------------------------------------------------------------- replying


def _reply(ctx: Context, req: Request, opts: ImageOptions, made: Made, prefix: str) -> SimResponse:
    out_tokens = image_output_tokens(made.size, opts.quality) * opts.n
    if opts.stream:
        out_tokens += PARTIAL_TOKENS * opts.partial_images * opts.n
    usage = image_usage(made.prompt, out_tokens, made.image_tokens)
    common = {"background": background_of(made.images), "output_format": opts.output_format,
              "quality": opts.quality, "size": size_label(made.size)}
    blobs = _encoded(made, opts)
    created = int(time.time())
    if not opts.stream:
        data = [_datum(ctx, req, opts, blob, made.prompt) for blob in blobs]
        return json_reply(200, {"created": created, "data": data, **common, "usage": usage})
    return event_stream(_events(ctx, opts, made, blobs, prefix, created, common, usage))


def _encoded(made: Made, opts: ImageOptions) -> list[bytes]:
    # A repeated request skips the PNG encoder, the simulator's main cost (it would
    # otherwise limit concurrent clients).
    keys = made.cache_keys or [None] * len(made.images)
    return [encode_output(img, opts, key) for img, key in zip(made.images, keys, strict=True)]


def _datum(ctx: Context, req: Request, opts: ImageOptions, blob: bytes, prompt: str) -> dict[str, Any]:
    if opts.response_format == "url":
        return {"revised_prompt": prompt, "url": _image_url(ctx, req, blob, opts.output_format)}
    return {"revised_prompt": prompt, "b64_json": b64(blob)}


def _image_url(ctx: Context, req: Request, data: bytes, fmt: str) -> str:
    """Served over HTTP: a URL of this server; in-process: a data URL."""
    if req.base_url:
        name = f"img_{sha256_hex(data)[:24]}.{fmt}"
        ctx.state.serve(name, data, MIME[fmt])
        return f"{req.base_url.rstrip('/')}/_files/{name}"
    return f"data:{MIME[fmt]};base64,{b64(data)}"


def _events(ctx: Context, opts: ImageOptions, made: Made, blobs: list[bytes], prefix: str,
            created: int, common: dict[str, Any], usage: dict[str, Any]) -> Iterator[dict[str, Any]]:
    event_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}  # not in the event models
    for img, blob in zip(made.images, blobs, strict=True):
        for k in range(opts.partial_images):
            part = encode(ctx.painter.partial(img, k, opts.partial_images), opts.output_format,
                          opts.compression, provenance=False)
            yield {"type": f"{prefix}.partial_image", "b64_json": b64(part), "partial_image_index": k,
                   "created_at": created, **common}
        yield {"type": f"{prefix}.completed", "b64_json": b64(blob), "created_at": created, **common,
               "usage": event_usage}

"""The Responses API: ``POST /responses`` with the image_generation tool, vision input and
``previous_response_id`` chains; ``GET``/``DELETE`` of stored responses, their input items.

A new response goes parse -> decide -> produce -> respond -> emit:

- parse (:mod:`.responses_input`): the request, read into an :class:`~.responses_input.Ask`;
- decide: an image_generation call or not; if so, which image it edits (the first input
  image, else the last ``image_generation_call`` referenced, else the latest image along
  ``previous_response_id``) and with which mask;
- produce: the painter makes the picture, or the answer about the input images;
- respond: the response object, stored unless ``store`` is false;
- emit: the JSON body, or (``stream``) its events (:mod:`.responses_events`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._digest import sha256_hex
from .codec import b64, background_of, encode_output, open_image
from .editing import EditJob, load_image_ref, mask_region, paint_edits
from .incoming import Request
from .painter.base import TURNS
from .params import ImageOptions, image_options, refuse_mask_for_gif, seed, size_label
from .protocol import APIError, SimResponse, new_id
from .replies import event_stream, json_reply
from .responses_events import response_events
from .responses_input import Ask, parse_request
from .state import StoredImage
from .usage import PARTIAL_TOKENS, image_output_tokens, image_usage, response_usage, text_tokens, vision_tokens

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .painter import Picture
    from .state import Context

QUESTION = re.compile(
    r"^\s*(what|what's|whats|which|describe|how|is|are|does|do|can|could|who|where|why|"
    r"tell|explain|count|identify|caption|list|name|compare|analy[sz]e|read)\b", re.I)


@dataclass
class ImageCall:
    """The decision to call the image_generation tool: what to make, from which image."""

    options: ImageOptions
    prompt: str
    edit: EditJob | None = None  # None: a new picture
    source: bytes = b""  # the bytes of the image edited


@dataclass
class Turn:
    """What this turn produced: the answer, and the picture if the tool was called."""

    answer: str
    input_tokens: int
    call: ImageCall | None = None
    item: dict[str, Any] | None = None  # the image_generation_call output item
    final: PILImage.Image | None = None  # the picture, for the streamed partial images
    stored: StoredImage | None = None
    tool_usage: dict[str, Any] | None = None


@dataclass
class Reply:
    """The response: its shell (for the in-progress events), message item and final object."""

    shell: Shell
    message: dict[str, Any]
    completed: dict[str, Any]


@dataclass
class Shell:
    """The response object of one request, at any stage of its stream."""

    ask: Ask
    id: str
    created_at: int
    tools: list[Any]

    def snapshot(self, status: str, output: list[dict[str, Any]], turn: Turn | None = None) -> dict[str, Any]:
        """The object as it stands; ``turn`` once it is complete (usage, completion time)."""
        body = self.ask.body
        obj: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "background": False, "completed_at": int(time.time()) if turn else None,
            "error": None, "incomplete_details": None, "instructions": self.ask.instructions,
            "max_output_tokens": body.get("max_output_tokens"), "max_tool_calls": None,
            "model": self.ask.model, "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": self.ask.previous_id,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default", "store": self.ask.store,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": self.ask.tool_choice, "tools": self.tools,
            "top_p": body.get("top_p", 1.0), "truncation": "disabled",
            "usage": response_usage(turn.input_tokens, turn.answer) if turn else None, "user": None,
            "metadata": body.get("metadata") or {},
        }
        if turn is not None and turn.tool_usage is not None:
            obj["tool_usage"] = turn.tool_usage
        return obj


# --------------------------------------------------------------------------- routes


def create(ctx: Context, req: Request) -> SimResponse:
    ask = parse_request(ctx, req)
    call = decide(ctx, ask)
    turn = produce(ctx, ask, call)
    reply = respond(ctx, ask, turn)
    return emit(ctx, ask, turn, reply)


def route(ctx: Context, req: Request, parts: list[str]) -> SimResponse | None:
    """``parts``: the path's segments, ``["responses", ...]``; None if no route matches."""
    if len(parts) == 1 and req.method == "POST":
        return create(ctx, req)
    if len(parts) == 2 and req.method == "GET":
        return json_reply(200, _public(_stored(ctx, parts[1])))
    if len(parts) == 2 and req.method == "DELETE":
        if not ctx.state.delete_response(parts[1]):
            raise _no_response(parts[1])
        return json_reply(200, {"id": parts[1], "object": "response", "deleted": True})
    if len(parts) == 3 and parts[2] == "input_items" and req.method == "GET":
        items = _stored(ctx, parts[1]).get("_input_items", [])
        return json_reply(200, {"object": "list", "data": items, "has_more": False})
    return None


def _stored(ctx: Context, response_id: str) -> dict[str, Any]:
    rec = ctx.state.response(response_id)
    if rec is None:
        raise _no_response(response_id)
    return rec


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def _no_response(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.", param="response_id",
                    code="not_found")


# --------------------------------------------------------------------------- decide


def decide(ctx: Context, ask: Ask) -> ImageCall | None:
    """The image_generation call this turn makes, if it makes one."""
    if ask.tool is None or not _wants_image(ask):
        return None
    prefix = f"tools[{ask.tool_index}]."
    opts = image_options(ask.tool, prefix=prefix, allow_n=False, default_model=ctx.image_model)
    opts.stream = ask.stream
    prompt = ask.input.text.strip() or " ".join(ask.input.texts).strip()
    if not prompt:
        raise APIError(400, "The image_generation tool needs a text prompt in 'input'.",
                       param="input", code="empty_string")
    action = ask.tool.get("action") or "auto"
    source = None if action == "generate" else _source(ctx, ask)
    if source is None:
        if action == "edit":
            raise APIError(400, "The image_generation tool was asked to edit, but there is "
                           "no image to edit: pass an input_image, an image_generation_call "
                           "id or previous_response_id.", param=prefix + "action", code="invalid_value")
        return ImageCall(opts, prompt)
    return ImageCall(opts, prompt, _edit_job(ctx, ask, source, prompt, opts, prefix), source.data)


def _wants_image(ask: Ask) -> bool:
    """Offered the tool, the turn calls it unless told not to, or unless it asks about its
    input images (a question, or no text at all)."""
    choice = ask.tool_choice
    if choice == "none":
        return False
    forced = choice == "required" or (isinstance(choice, dict) and choice.get("type") == "image_generation")
    text = ask.input.text
    about_images = bool(ask.input.images) and (not text.strip() or bool(QUESTION.match(text))
                                                or text.strip().endswith("?"))
    return forced or not about_images


def _source(ctx: Context, ask: Ask) -> StoredImage | None:
    """The image to edit: the first input image, the last image_generation_call referenced,
    or the latest image along previous_response_id."""
    if ask.input.images:
        return StoredImage(ask.input.images[0].data)
    if ask.input.refs:
        return ctx.state.image(ask.input.refs[-1])
    return ctx.state.chain_image(ask.previous_id)


def _edit_job(ctx: Context, ask: Ask, source: StoredImage, prompt: str, opts: ImageOptions,
              prefix: str) -> EditJob:
    assert ask.tool is not None
    base = open_image(source.data, "input")
    mask = None
    if ask.tool.get("input_image_mask"):
        param = prefix + "input_image_mask"
        refuse_mask_for_gif(opts, param)
        mask_img = open_image(load_image_ref(ctx.state, ask.tool["input_image_mask"], param), param)
        mask = mask_region(mask_img, base.size, param)
    references = [open_image(im.data, "input") for im in ask.input.images[1:]]
    return EditJob(base, prompt, references=references, mask=mask, size=opts.size,
                   background=opts.background, fidelity=ask.tool.get("input_fidelity"),
                   context=source.revised_prompt or None, notes=source.notes)


# --------------------------------------------------------------------------- produce


def produce(ctx: Context, ask: Ask, call: ImageCall | None) -> Turn:
    tokens = text_tokens(ask.instructions_text + " ".join(ask.input.texts))
    if call is not None:
        return _image_turn(ctx, ask, call, tokens)
    if ask.input.images:
        return _vision_turn(ctx, ask, tokens)
    return Turn(_text_answer(ask), tokens)


def _image_turn(ctx: Context, ask: Ask, call: ImageCall, tokens: int) -> Turn:
    picture, size, revised, image_tokens = _paint(ctx, call)
    opts = call.options
    blob = encode_output(picture.image, opts)
    item = {"id": new_id("ig_", 24), "type": "image_generation_call", "status": "completed",
            "action": "edit" if call.edit else "generate", "background": background_of([picture.image]),
            "output_format": opts.output_format, "quality": opts.quality, "revised_prompt": revised,
            "size": size_label(size), "result": b64(blob)}
    out_tokens = image_output_tokens(size, opts.quality) + (PARTIAL_TOKENS * opts.partial_images if ask.stream else 0)
    tool_usage = {"image_gen": image_usage(call.prompt, out_tokens, image_tokens), "web_search": {"num_requests": 0}}
    answer = (f"I edited the image: {call.prompt.strip()}" if call.edit else
              f"Here is the image I generated for: {call.prompt.strip()}")
    if not answer.endswith((".", "!", "?")):
        answer += "."
    return Turn(answer, tokens, call=call, item=item, final=picture.image,
                stored=StoredImage(blob, revised, picture.notes), tool_usage=tool_usage)


def _paint(ctx: Context, call: ImageCall) -> tuple[Picture, tuple[int, int], str, int]:
    """(picture, size, revised prompt, input image tokens) of the call."""
    opts, prompt, job = call.options, call.prompt, call.edit
    if job is None:
        size = opts.size or (1024, 1024)
        picture = ctx.painter.render(prompt, size, seed("responses", prompt, opts.model, size, opts.quality,
                                                        opts.background), transparent=opts.transparent)
        return picture, size, prompt, 0
    turn_seed = seed("responses-edit", prompt, opts.model, job.out_size, opts.quality,
                     sha256_hex(call.source))
    (picture,) = paint_edits(ctx.painter, job, [turn_seed])
    revised = (f"{job.context.rstrip('. ')}{TURNS}{prompt}" if job.context
               else f"Edit of the given image: {prompt}")
    return picture, job.out_size, revised, job.input_tokens()


def _vision_turn(ctx: Context, ask: Ask, tokens: int) -> Turn:
    images = [(open_image(im.data, "input"), im.detail) for im in ask.input.images]
    answer = ctx.painter.describe(images, ask.input.text)
    tokens += sum(vision_tokens(img.size, detail, str(ask.model)) for img, detail in images)
    return Turn(answer, tokens)


def _text_answer(ask: Ask) -> str:
    if ask.tool is not None and ask.tool_choice == "none":
        return ("(offline simulator) The image_generation tool is available but tool_choice is "
                f"'none', so here is a text reply to: {ask.input.text.strip()}")
    said = " ".join(ask.input.text.split()) or "(nothing)"
    return ("This is the nbimages offline simulator: there is no language model here, so I can "
            f"only repeat what I received. You said: \u201c{said}\u201d. Add the image_generation "
            "tool to get a picture, or an input_image to get a pixel analysis.")


# --------------------------------------------------------------------------- respond


def respond(ctx: Context, ask: Ask, turn: Turn) -> Reply:
    """The response object, stored unless ``store`` is false."""
    shell = Shell(ask, new_id("resp_", 24), int(time.time()), [_echo_tool(ctx, t) for t in ask.tools])
    message = {"id": new_id("msg_", 24), "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": turn.answer, "annotations": [], "logprobs": []}]}
    completed = shell.snapshot("completed", [*([turn.item] if turn.item else []), message], turn)
    if ask.store:
        image = (turn.item["id"], turn.stored) if turn.item and turn.stored else None
        ctx.state.add_response({**completed, "_input_items": []}, image)
    return Reply(shell, message, completed)


def _echo_tool(ctx: Context, tool: Any) -> Any:
    """A tool as the response lists it: the image_generation tool with its defaults filled in."""
    if not (isinstance(tool, dict) and tool.get("type") == "image_generation"):
        return tool
    return {"type": "image_generation", "background": "auto", "model": ctx.image_model,
            "moderation": "auto", "output_compression": 100, "output_format": "png",
            "partial_images": 0, "quality": "auto", "size": "auto", **tool}


# --------------------------------------------------------------------------- emit


def emit(ctx: Context, ask: Ask, turn: Turn, reply: Reply) -> SimResponse:
    """The JSON body, or (``stream``) the events that build it up."""
    if not ask.stream:
        return json_reply(200, reply.completed)
    return event_stream(response_events(ctx.painter, turn, reply))

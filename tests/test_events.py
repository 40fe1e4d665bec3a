"""Every event shape of PROTOCOL.md, proved real by the SDK's models, then decoded by ours."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, get_args

import pytest
from openai.types import ImageEditStreamEvent, ImageGenStreamEvent
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter, ValidationError

from nbimages.errors import ContentPolicyError, StreamError
from nbimages.events import (
    EventDecoder,
    ImageCompleted,
    ImageGenerationProgress,
    PartialImage,
    ResponseCompleted,
    ResponseCreated,
    TextDelta,
    TextDone,
)
from nbimages.sse import SSEDecoder

IMAGE_GEN = TypeAdapter(ImageGenStreamEvent)
IMAGE_EDIT = TypeAdapter(ImageEditStreamEvent)
RESPONSES = TypeAdapter(ResponseStreamEvent)


def _members(union: Any) -> dict[str, Any]:
    """The SDK's event classes of a discriminated union, by their ``type`` literal."""
    (inner, *_) = get_args(union)  # Annotated[Union[...], PropertyInfo(discriminator="type")]
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(inner)}


_MODELS = {
    id(IMAGE_GEN): _members(ImageGenStreamEvent),
    id(IMAGE_EDIT): _members(ImageEditStreamEvent),
    id(RESPONSES): _members(ResponseStreamEvent),
}


def real(adapter: TypeAdapter[Any], event: dict[str, Any]) -> dict[str, Any]:
    """The event, after checking that the SDK's pydantic models accept it as that type.

    Validated by the union (as the SDK parses a stream) and by the member class named by
    ``type`` (whose errors are readable).
    """
    model = _MODELS[id(adapter)][event["type"]]
    assert type(model.model_validate(event)) is model
    assert type(adapter.validate_python(event)) is model
    return event


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encode(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def decode(events: list[dict[str, Any]], meta: dict[str, Any] | None = None, *, chunk: int = 0) -> tuple[EventDecoder, list[Any]]:
    """Run SSE bytes through both decoders, like a stream does, and return what came out."""
    data = encode(events)
    sse, decoder = SSEDecoder(), EventDecoder(meta or {"prompt": "p", "model": "gpt-image-1.5", "params": {}})
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    out: list[Any] = []
    for piece in chunks:
        for frame in sse.feed(piece):
            out += decoder.feed(frame)
    for frame in sse.flush():
        out += decoder.feed(frame)
    decoder.finish()
    return decoder, out


def test_the_sdk_check_is_not_a_rubber_stamp(png: Callable[..., bytes]) -> None:
    with pytest.raises(ValidationError):
        IMAGE_GEN.validate_python({"type": "image_generation.partial_image", "partial_image_index": 0})
    with pytest.raises(ValidationError):
        RESPONSES.validate_python({"type": "response.output_text.delta", "delta": "x"})


# -- Images API ------------------------------------------------------------------------
IMAGE_FIELDS = {"size": "1024x1536", "quality": "low", "background": "opaque", "output_format": "png", "created_at": 1764000000}
USAGE = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}, "output_tokens": 272, "total_tokens": 322}


def image_events(kind: str, adapter: TypeAdapter[Any], partials: list[bytes], final: bytes) -> list[dict[str, Any]]:
    events = [
        real(adapter, {"type": f"{kind}.partial_image", "b64_json": b64(p), "partial_image_index": i, **IMAGE_FIELDS})
        for i, p in enumerate(partials)
    ]
    events.append(real(adapter, {"type": f"{kind}.completed", "b64_json": b64(final), "usage": USAGE, **IMAGE_FIELDS}))
    return events


@pytest.mark.parametrize(("kind", "adapter"), [("image_generation", IMAGE_GEN), ("image_edit", IMAGE_EDIT)])
def test_images_api_partials_then_completed(kind: str, adapter: TypeAdapter[Any], png: Callable[..., bytes]) -> None:
    partials = [png((16, 24), (i * 60, 0, 0)) for i in range(3)]
    final = png((32, 48), (0, 200, 0))
    meta = {"prompt": "a fox", "model": "gpt-image-1.5", "params": {"quality": "low", "endpoint": "x"}}
    decoder, out = decode(image_events(kind, adapter, partials, final), meta)
    assert [type(e) for e in out] == [PartialImage, PartialImage, PartialImage, ImageCompleted]
    assert [e.index for e in out[:3]] == [0, 1, 2]
    assert [e.image.data for e in out[:3]] == partials
    done = out[3]
    assert done.image.data == final and (done.image.width, done.image.height) == (32, 48)
    assert done.usage is not None and done.usage.output_tokens == 272 and done.usage.input_tokens_details["image_tokens"] == 10
    assert done.image.usage == done.usage
    assert done.image.prompt == "a fox" and done.image.model == "gpt-image-1.5"
    assert done.image.params["size"] == "1024x1536" and done.image.params["endpoint"] == "x"
    assert decoder.partials == [e.image for e in out[:3]] and decoder.images == [done.image]
    assert decoder.finished


def test_partial_images_zero_streams_one_completed_event(png: Callable[..., bytes]) -> None:
    _decoder, out = decode(image_events("image_generation", IMAGE_GEN, [], png()))
    assert [type(e) for e in out] == [ImageCompleted]


def test_n_images_finish_only_after_the_last_one(png: Callable[..., bytes]) -> None:
    events = image_events("image_generation", IMAGE_GEN, [png()], png(color=(1, 2, 3)))
    meta = {"prompt": "p", "model": "m", "params": {"n": 2}}
    with pytest.raises(StreamError) as info:
        decode(events, meta)
    assert info.value.code == "incomplete_stream"
    assert len(info.value.partials) == 1 and len(info.value.images) == 1
    _decoder, out = decode([*events, events[-1]], meta)
    assert [type(e) for e in out] == [PartialImage, ImageCompleted, ImageCompleted]


def test_done_sentinel_and_event_lines_are_tolerated(png: Callable[..., bytes]) -> None:
    events = image_events("image_generation", IMAGE_GEN, [], png())
    data = encode(events) + b"data: [DONE]\n\n"
    sse, decoder = SSEDecoder(), EventDecoder({})
    out = [ev for frame in sse.feed(data) for ev in decoder.feed(frame)]
    decoder.finish()
    assert [type(e) for e in out] == [ImageCompleted]


def test_type_from_the_event_line_when_the_data_has_none(png: Callable[..., bytes]) -> None:
    event = image_events("image_generation", IMAGE_GEN, [], png())[0]
    body = {k: v for k, v in event.items() if k != "type"}
    sse, decoder = SSEDecoder(), EventDecoder({})
    frames = sse.feed(f"event: image_generation.completed\ndata: {json.dumps(body)}\n\n".encode())
    assert [type(e) for f in frames for e in decoder.feed(f)] == [ImageCompleted]


# -- Responses API -------------------------------------------------------------------------
RESPONSE_USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "output_tokens": 1400,
    "output_tokens_details": {"reasoning_tokens": 64},
    "total_tokens": 1520,
}


def response_obj(status: str, output: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "resp_123",
        "object": "response",
        "created_at": 1764000000,
        "model": "gpt-5",
        "status": status,
        "output": output or [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [{"type": "image_generation", "quality": "low"}],
        "error": None,
        "incomplete_details": None,
        "usage": RESPONSE_USAGE if status != "in_progress" else None,
        **fields,
    }


def call_item(status: str, result: str | None = None, call_id: str = "ig_1", **fields: Any) -> dict[str, Any]:
    item = {"type": "image_generation_call", "id": call_id, "status": status, "result": result}
    if result is not None:
        item.update(
            revised_prompt="A misty forest lake at sunrise",
            size="1024x1024",
            quality="low",
            background="opaque",
            output_format="png",
            action="generate",
        )
    item.update(fields)
    return item


def message_item(text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": []}] if text else [],
    }


class Seq:
    """Builds Responses events with increasing ``sequence_number``, each checked by the SDK."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, type: str, **fields: Any) -> dict[str, Any]:
        event = real(RESPONSES, {"type": type, "sequence_number": self.n, **fields})
        self.n += 1
        return event


def full_responses_stream(partials: list[bytes], final: bytes) -> list[dict[str, Any]]:
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.in_progress", response=response_obj("in_progress")),
        ev("response.output_item.added", output_index=0, item=call_item("in_progress")),
        ev("response.image_generation_call.in_progress", item_id="ig_1", output_index=0),
        ev("response.image_generation_call.generating", item_id="ig_1", output_index=0),
    ]
    for i, p in enumerate(partials):
        events.append(
            ev(
                "response.image_generation_call.partial_image",
                item_id="ig_1", output_index=0, partial_image_index=i, partial_image_b64=b64(p),
                size="1024x1024", quality="low", background="opaque", output_format="png",
            )
        )
    done_item = call_item("completed", b64(final))
    events += [
        ev("response.image_generation_call.completed", item_id="ig_1", output_index=0),
        ev("response.output_item.done", output_index=0, item=done_item),
        ev("response.output_item.added", output_index=1, item=message_item("", "in_progress")),
        ev("response.content_part.added", item_id="msg_1", output_index=1, content_index=0,
           part={"type": "output_text", "text": "", "annotations": []}),
        ev("response.output_text.delta", item_id="msg_1", output_index=1, content_index=0, delta="Here is ",
           logprobs=[], obfuscation="x7Qa"),
        ev("response.output_text.delta", item_id="msg_1", output_index=1, content_index=0, delta="your lake.",
           logprobs=[], obfuscation="b"),
        ev("response.output_text.done", item_id="msg_1", output_index=1, content_index=0,
           text="Here is your lake.", logprobs=[]),
        ev("response.output_item.done", output_index=1, item=message_item("Here is your lake.")),
        ev("response.completed", response=response_obj("completed", [done_item, message_item("Here is your lake.")])),
    ]
    return events


@pytest.mark.parametrize("chunk", [0, 5, 4096])
def test_full_responses_stream(png: Callable[..., bytes], chunk: int) -> None:
    partials = [png((8, 8), (i * 100, 0, 0)) for i in range(2)]
    final = png((24, 24), (0, 0, 255))
    meta = {"prompt": "a forest lake", "model": "gpt-image-1.5", "params": {"endpoint": "responses"}}
    decoder, out = decode(full_responses_stream(partials, final), meta, chunk=chunk)
    assert [type(e).__name__ for e in out] == [
        "ResponseCreated",
        "ImageGenerationProgress",
        "ImageGenerationProgress",
        "PartialImage",
        "PartialImage",
        "ImageGenerationProgress",
        "ImageCompleted",
        "TextDelta",
        "TextDelta",
        "TextDone",
        "ResponseCompleted",
    ]
    assert out[0] == ResponseCreated("resp_123")
    assert [e.status for e in out if isinstance(e, ImageGenerationProgress)] == ["in_progress", "generating", "completed"]
    assert all(e.item_id == "ig_1" for e in out if isinstance(e, ImageGenerationProgress))
    first, second = (e for e in out if isinstance(e, PartialImage))
    assert (first.index, second.index) == (0, 1) and second.image.data == partials[1]
    assert second.item_id == "ig_1" and second.output_index == 0
    assert second.image.response_id == "resp_123" and second.image.call_id == "ig_1"
    completed = out[6]
    assert completed.image.data == final and completed.item_id == "ig_1"
    img = completed.image
    assert (img.call_id, img.response_id, img.prompt) == ("ig_1", "resp_123", "a forest lake")
    assert img.revised_prompt == "A misty forest lake at sunrise" and img.params["quality"] == "low"
    assert [e.delta for e in out if isinstance(e, TextDelta)] == ["Here is ", "your lake."]
    assert out[9] == TextDone("Here is your lake.", "msg_1")
    response = out[-1].response
    assert response.id == "resp_123" and response.status == "completed" and response.model == "gpt-5"
    assert response.output_text == "Here is your lake."
    assert response.images == [img]  # the same object, not a second copy from response.completed
    assert response.image_call_ids == ["ig_1"]
    assert response.usage is not None and response.usage.total_tokens == 1520
    assert decoder.text == "Here is your lake." and decoder.response is response


def test_final_image_only_in_output_item_done_with_status_generating(png: Callable[..., bytes]) -> None:
    """partial_images=0: the image arrives once; the item may still say "generating"."""
    final = png((16, 16), (9, 9, 9))
    ev = Seq()
    item = call_item("generating", b64(final))
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.output_item.added", output_index=0, item=call_item("in_progress")),
        ev("response.output_item.done", output_index=0, item=item),
        # what a later fetch of the stored response has been seen to return:
        ev("response.completed", response=response_obj("completed", [call_item("completed", None)])),
    ]
    _decoder, out = decode(events)
    assert [type(e) for e in out] == [ResponseCreated, ImageCompleted, ResponseCompleted]
    assert out[1].image.data == final
    assert out[2].response.images == [out[1].image]


def test_image_only_in_response_completed_is_yielded(png: Callable[..., bytes]) -> None:
    final = png((16, 16), (1, 200, 1))
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.completed", response=response_obj("completed", [call_item("completed", b64(final), "ig_9")])),
    ]
    _decoder, out = decode(events)
    assert [type(e) for e in out] == [ResponseCreated, ImageCompleted, ResponseCompleted]
    assert out[1].image.data == final and out[1].image.call_id == "ig_9"
    assert out[2].response.images == [out[1].image]


def test_two_image_calls_in_one_response(png: Callable[..., bytes]) -> None:
    a, b = png(color=(1, 0, 0)), png(color=(0, 1, 0))
    ev = Seq()
    items = [call_item("completed", b64(a), "ig_a"), call_item("completed", b64(b), "ig_b")]
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.output_item.done", output_index=0, item=items[0]),
        ev("response.completed", response=response_obj("completed", items)),
    ]
    _, out = decode(events)
    images = [e.image for e in out if isinstance(e, ImageCompleted)]
    assert [i.call_id for i in images] == ["ig_a", "ig_b"] and [i.data for i in images] == [a, b]
    assert out[-1].response.image_call_ids == ["ig_a", "ig_b"]


def test_text_only_response_and_refused_image_call(png: Callable[..., bytes]) -> None:
    ev = Seq()
    refused = call_item(
        "failed", None, error={"type": "image_generation_user_error", "code": "moderation_blocked", "message": "no"}
    )
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.output_text.delta", item_id="msg_1", output_index=1, content_index=0, delta="Sorry.", logprobs=[]),
        ev("response.completed", response=response_obj("completed", [refused, message_item("Sorry.")])),
    ]
    _, out = decode(events)
    response = out[-1].response
    assert response.images == [] and response.output_text == "Sorry."
    assert response.errors[0]["code"] == "moderation_blocked" and response.errors[0]["item_id"] == "ig_1"


def test_response_incomplete_completes_with_its_status(png: Callable[..., bytes]) -> None:
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta="Par", logprobs=[]),
        ev("response.incomplete", response=response_obj(
            "incomplete", [message_item("Par", "incomplete")], incomplete_details={"reason": "max_output_tokens"}
        )),
    ]
    _decoder, out = decode(events)
    assert isinstance(out[-1], ResponseCompleted) and out[-1].response.status == "incomplete"
    assert out[-1].response.output_text == "Par"


def test_response_failed_raises_stream_error_with_partials(png: Callable[..., bytes]) -> None:
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.image_generation_call.partial_image", item_id="ig_1", output_index=0,
           partial_image_index=0, partial_image_b64=b64(png())),
        ev("response.failed", response=response_obj(
            "failed", error={"code": "server_error", "message": "The model crashed."}
        )),
    ]
    with pytest.raises(StreamError) as info:
        decode(events)
    err = info.value
    assert err.code == "server_error" and "The model crashed." in str(err)
    assert len(err.partials) == 1 and err.partials[0].data == png() and err.response_id == "resp_123"
    assert "kept 1 partial image(s)" in str(err)


def error_events(png: Callable[..., bytes], error: dict[str, Any]) -> list[dict[str, Any]]:
    ev = Seq()
    return [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.image_generation_call.partial_image", item_id="ig_1", output_index=0,
           partial_image_index=0, partial_image_b64=b64(png())),
        {**error, "sequence_number": ev.n},
    ]


def test_error_event_flat_shape(png: Callable[..., bytes]) -> None:
    flat = real(RESPONSES, {"type": "error", "code": "server_error", "message": "Try again later.", "param": None,
                            "sequence_number": 3})
    with pytest.raises(StreamError) as info:
        decode(error_events(png, flat))
    assert info.value.code == "server_error" and info.value.message == "Try again later."
    assert len(info.value.partials) == 1 and info.value.response_id == "resp_123"


def test_error_event_flat_shape_without_code(png: Callable[..., bytes]) -> None:
    flat = real(RESPONSES, {"type": "error", "code": None, "message": "Oops.", "param": None, "sequence_number": 3})
    with pytest.raises(StreamError) as info:
        decode(error_events(png, flat))
    assert info.value.code is None and info.value.message == "Oops."


def test_error_event_nested_shape(png: Callable[..., bytes]) -> None:
    # Seen live, not in the spec: the SDK's model would reject it, so it is not checked there.
    nested = {"type": "error", "error": {"type": "server_error", "code": "rate_limit_exceeded",
                                        "message": "Slow down.", "param": None}}
    with pytest.raises(StreamError) as info:
        decode(error_events(png, nested))
    assert info.value.code == "rate_limit_exceeded" and info.value.message == "Slow down."
    assert len(info.value.partials) == 1


def test_error_event_nested_without_code_reports_its_type(png: Callable[..., bytes]) -> None:
    nested = {"type": "error", "error": {"type": "server_error", "message": "Boom."}}
    with pytest.raises(StreamError) as info:
        decode(error_events(png, nested))
    assert info.value.code == "server_error"


def test_moderation_error_before_any_image_is_a_content_policy_error() -> None:
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("error", code="moderation_blocked", message="Your request was rejected.", param=None),
    ]
    with pytest.raises(ContentPolicyError) as info:
        decode(events)
    assert info.value.code == "moderation_blocked"


def test_moderation_error_after_a_partial_keeps_the_partial(png: Callable[..., bytes]) -> None:
    blocked = {"type": "error", "code": "moderation_blocked", "message": "Rejected.", "param": None}
    with pytest.raises(StreamError) as info:
        decode(error_events(png, blocked))
    assert info.value.code == "moderation_blocked" and len(info.value.partials) == 1


def test_unknown_and_unhandled_event_types_are_skipped(png: Callable[..., bytes]) -> None:
    final = png((8, 8), (5, 5, 5))
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.in_progress", response=response_obj("in_progress")),
        ev("response.output_item.added", output_index=0,
           item={"type": "reasoning", "id": "rs_1", "summary": []}),
        ev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, summary_index=0, delta="hm",
           obfuscation="zz"),
        ev("response.web_search_call.in_progress", item_id="ws_1", output_index=1),
        {"type": "response.some_future_event", "sequence_number": 99, "payload": {"x": [1, 2]}},
        {"type": "keepalive"},
        ev("response.output_item.done", output_index=2, item=call_item("completed", b64(final))),
        ev("response.completed", response=response_obj("completed", [call_item("completed", b64(final))])),
    ]
    _, out = decode(events)
    assert [type(e) for e in out] == [ResponseCreated, ImageCompleted, ResponseCompleted]


def test_non_object_json_is_skipped() -> None:
    sse, decoder = SSEDecoder(), EventDecoder({})
    assert [e for f in sse.feed(b'data: [1, 2]\n\ndata: "x"\n\ndata: null\n\n') for e in decoder.feed(f)] == []


def test_malformed_json_raises_stream_error_with_partials(png: Callable[..., bytes]) -> None:
    partial = image_events("image_generation", IMAGE_GEN, [png()], png())[0]
    sse, decoder = SSEDecoder(), EventDecoder({})
    frames = sse.feed(encode([partial]) + b'data: {"type": "image_generation.compl\n\n')
    assert isinstance(decoder.feed(frames[0])[0], PartialImage)
    with pytest.raises(StreamError) as info:
        decoder.feed(frames[1])
    assert info.value.code == "malformed_event" and len(info.value.partials) == 1


def test_stream_ending_early_raises_stream_error_with_partials(png: Callable[..., bytes]) -> None:
    ev = Seq()
    events = [
        ev("response.created", response=response_obj("in_progress")),
        ev("response.image_generation_call.partial_image", item_id="ig_1", output_index=0,
           partial_image_index=0, partial_image_b64=b64(png())),
        ev("response.output_text.delta", item_id="msg_1", output_index=1, content_index=0, delta="Hal", logprobs=[]),
    ]
    with pytest.raises(StreamError) as info:
        decode(events)
    assert info.value.code == "incomplete_stream"
    assert len(info.value.partials) == 1 and info.value.last_partial is not None
    assert info.value.response_id == "resp_123"


def test_images_stream_ending_before_completed_raises(png: Callable[..., bytes]) -> None:
    events = image_events("image_edit", IMAGE_EDIT, [png(), png(color=(0, 0, 9))], png())[:2]
    with pytest.raises(StreamError) as info:
        decode(events)
    assert [p.data for p in info.value.partials] == [png(), png(color=(0, 0, 9))] and info.value.images == []

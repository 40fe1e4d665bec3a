"""The official ``openai`` SDK, pointed at the simulator over HTTP, must accept every reply.

Each reply is checked twice: through the SDK's own typed results, and strictly, by
validating the raw JSON with pydantic against the SDK's models and refusing fields the
models do not declare (so a misspelt field name fails here, not in a user's notebook).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

openai = pytest.importorskip("openai")
from openai import OpenAI  # noqa: E402
from openai.types import (  # noqa: E402
    FileObject,
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageEditStreamEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImageGenStreamEvent,
    ImagesResponse,
)
from openai.types.responses import (  # noqa: E402
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseImageGenCallCompletedEvent,
    ResponseImageGenCallGeneratingEvent,
    ResponseImageGenCallInProgressEvent,
    ResponseImageGenCallPartialImageEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_output_item import ImageGenerationCall  # noqa: E402
from pydantic import BaseModel, TypeAdapter  # noqa: E402

from _sim_fixtures import (  # noqa: E402
    box_mask,
    data_url,
    decode_image,
    half_red_blue,
    png_bytes,
    scene_png,
    sim_server,
    solid_png,
    sse_json,
)

__all__ = ["sim_server"]

# Fields the live API sends that the SDK's models do not declare.
KNOWN_EXTRAS = {"store"}

RESPONSE_SEQUENCE_IMAGE = [
    ResponseCreatedEvent,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseImageGenCallInProgressEvent,
    ResponseImageGenCallGeneratingEvent,
    ResponseImageGenCallPartialImageEvent,
    ResponseImageGenCallPartialImageEvent,
    ResponseImageGenCallCompletedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseContentPartAddedEvent,
]


def no_unknown_fields(model: Any, where: str = "") -> None:
    """Fail on fields that the SDK's model does not declare (recursively)."""
    if isinstance(model, BaseModel):
        extra = set((model.model_extra or {}).keys()) - KNOWN_EXTRAS
        assert not extra, f"{type(model).__name__}{where} has undeclared fields {sorted(extra)}"
        for name in type(model).model_fields:
            no_unknown_fields(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, (list, tuple)):
        for i, item in enumerate(model):
            no_unknown_fields(item, f"{where}[{i}]")
    elif isinstance(model, dict):
        for k, v in model.items():
            no_unknown_fields(v, f"{where}[{k!r}]")


def strict(adapter_type: Any, data: dict[str, Any]) -> Any:
    value = TypeAdapter(adapter_type).validate_python(data)
    no_unknown_fields(value)
    return value


@pytest.fixture
def client(sim_server: Any) -> Any:
    with OpenAI(api_key="sk-test", base_url=sim_server.url, max_retries=0) as c:
        yield c


@pytest.fixture
def raw(sim_server: Any) -> Any:
    with httpx.Client(base_url=sim_server.url, headers={"authorization": "Bearer sk-test"},
                      timeout=30) as c:
        yield c


# ----------------------------------------------------------------------------- images


def test_generate_not_streamed(client: Any, raw: httpx.Client) -> None:
    result = client.images.generate(model="gpt-image-1.5", prompt="a red circle on a blue sky",
                                     size="1024x1024", quality="low")
    assert isinstance(result, ImagesResponse)
    assert result.data and result.data[0].b64_json
    assert result.size == "1024x1024" and result.quality == "low"
    assert result.output_format == "png" and result.background == "opaque"
    assert result.usage is not None
    assert result.usage.output_tokens == 272
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    img = decode_image(result.data[0].b64_json)
    assert img.size == (1024, 1024)

    body = raw.post("/images/generations", json={"prompt": "a red circle", "n": 2,
                                                 "size": "1536x1024"}).json()
    parsed = strict(ImagesResponse, body)
    assert len(parsed.data) == 2 and parsed.size == "1536x1024"


def test_generate_streamed_with_partials(client: Any, raw: httpx.Client) -> None:
    stream = client.images.generate(model="gpt-image-1.5", prompt="a sun over a lake",
                                    stream=True, partial_images=2, size="1024x1024")
    events = list(stream)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent, ImageGenPartialImageEvent,
                                         ImageGenCompletedEvent]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    final = events[-1]
    assert final.usage.output_tokens == 1056 + 200
    images = [decode_image(e.b64_json) for e in events]
    assert all(im.size == (1024, 1024) for im in images)
    assert len({e.b64_json for e in events}) == 3  # each partial differs

    r = raw.post("/images/generations", json={"prompt": "a sun", "stream": True,
                                              "partial_images": 3, "output_format": "webp"})
    assert r.headers["content-type"].startswith("text/event-stream")
    for data in sse_json(r.content):
        strict(ImageGenStreamEvent, data)


def test_generate_zero_partials_still_streams(client: Any) -> None:
    events = list(client.images.generate(prompt="a tree", stream=True, partial_images=0))
    assert [type(e) for e in events] == [ImageGenCompletedEvent]


def test_edit_with_mask(client: Any, raw: httpx.Client) -> None:
    src = scene_png((256, 256))
    mask = box_mask((256, 256), (128, 0, 256, 128))
    result = client.images.edit(model="gpt-image-1.5", image=("scene.png", src, "image/png"),
                                mask=("mask.png", mask, "image/png"), prompt="add a yellow star")
    assert isinstance(result, ImagesResponse)
    out = decode_image(result.data[0].b64_json).convert("RGB")
    import io

    from PIL import Image

    before = Image.open(io.BytesIO(src)).convert("RGB")
    assert out.size == before.size
    # outside the transparent box: identical pixels
    for box in ((0, 0, 128, 256), (128, 128, 256, 256)):
        assert out.crop(box).tobytes() == before.crop(box).tobytes()
    assert out.crop((128, 0, 256, 128)).tobytes() != before.crop((128, 0, 256, 128)).tobytes()

    stream = client.images.edit(image=[("a.png", src, "image/png"), ("b.png", half_red_blue(),
                                                                     "image/png")],
                                prompt="combine them", stream=True, partial_images=1)
    events = list(stream)
    assert [type(e) for e in events] == [ImageEditPartialImageEvent, ImageEditCompletedEvent]

    r = raw.post("/images/edits", files=[("image[]", ("a.png", src, "image/png"))],
                 data={"prompt": "add a moon", "stream": "true", "partial_images": "2"})
    for data in sse_json(r.content):
        strict(ImageEditStreamEvent, data)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_variations(client: Any) -> None:
    result = client.images.create_variation(image=("x.png", scene_png((256, 256)), "image/png"),
                                            n=2, size="256x256")
    assert isinstance(result, ImagesResponse) and len(result.data) == 2
    assert decode_image(result.data[0].b64_json).size == (256, 256)


def test_url_response_format_is_served(client: Any, sim_server: Any) -> None:
    result = client.images.generate(prompt="a blue square", response_format="url",
                                    size="256x256")
    url = result.data[0].url
    assert url.startswith(sim_server.url + "/_files/")
    with httpx.Client() as c:
        r = c.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")


# ----------------------------------------------------------------------------- errors


def test_errors_map_to_sdk_exceptions(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(prompt="")
    assert info.value.code == "empty_string" and info.value.param == "prompt"
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(prompt="x", n=11)
    assert info.value.param == "n"
    with pytest.raises(openai.BadRequestError) as info:
        client.images.generate(prompt="a forbidden-content picture")
    assert info.value.code == "moderation_blocked"
    assert info.value.type == "image_generation_user_error"
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-5", input="hi", previous_response_id="resp_nope")
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")


def test_status_faults_reach_the_sdk(client: Any, sim_server: Any) -> None:
    sim_server.simulator.faults.add("status", status=429, code="rate_limit_exceeded",
                                    retry_after=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.images.generate(prompt="x")
    assert info.value.response.headers["retry-after"] == "0"
    assert info.value.response.headers["x-request-id"].startswith("req_")
    # the SDK retries and then succeeds
    sim_server.simulator.faults.add("status", status=503, times=1, retry_after_ms=1)
    before = len(sim_server.simulator.requests)
    with OpenAI(api_key="sk-test", base_url=sim_server.url, max_retries=2) as retrying:
        assert retrying.images.generate(prompt="x", size="256x256").data
    assert len(sim_server.simulator.requests) - before == 2


# ----------------------------------------------------------------------------- responses


def test_responses_image_tool_streamed_then_continued(client: Any, raw: httpx.Client) -> None:
    stream = client.responses.create(
        model="gpt-5", input="a serene forest lake at sunrise",
        tools=[{"type": "image_generation", "partial_images": 2, "size": "1024x1024",
                "quality": "low"}],
        stream=True)
    events = list(stream)
    types = [type(e) for e in events]
    assert types[:len(RESPONSE_SEQUENCE_IMAGE)] == RESPONSE_SEQUENCE_IMAGE
    assert ResponseTextDeltaEvent in types
    assert types[-4:] == [ResponseTextDoneEvent, ResponseContentPartDoneEvent,
                          ResponseOutputItemDoneEvent, ResponseCompletedEvent]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert sum(isinstance(e, ResponseTextDeltaEvent) for e in events) >= 3
    done_item = events[8].item
    assert isinstance(done_item, ImageGenerationCall)
    assert done_item.id.startswith("ig_") and done_item.status == "completed"
    assert done_item.result and done_item.revised_prompt
    first = events[-1].response
    assert isinstance(first, Response)
    assert first.status == "completed" and first.output_text == deltas
    assert first.usage is not None and first.usage.total_tokens > 0
    partial = events[5]
    assert partial.partial_image_b64 and partial.size == "1024x1024"

    # continue the conversation: the new image is an edit of the previous one
    second = client.responses.create(model="gpt-5", input="now add a red canoe",
                                     tools=[{"type": "image_generation", "quality": "low"}],
                                     previous_response_id=first.id)
    assert isinstance(second, Response) and second.previous_response_id == first.id
    call = second.output[0]
    assert isinstance(call, ImageGenerationCall) and call.action == "edit"
    a = decode_image(done_item.result).convert("RGB")
    b = decode_image(call.result).convert("RGB")
    assert a.size == b.size
    pa, pb = a.resize((64, 64)).tobytes(), b.resize((64, 64)).tobytes()
    same = sum(1 for i in range(0, len(pa), 3) if pa[i:i + 3] == pb[i:i + 3])
    assert 0.5 < same / 4096 < 1.0  # visibly the same picture, with something added
    assert "canoe" in second.output_text

    # the raw stream, strictly validated
    r = raw.post("/responses", json={
        "model": "gpt-5", "input": "a red circle", "stream": True,
        "tools": [{"type": "image_generation", "partial_images": 1}]})
    for data in sse_json(r.content):
        strict(ResponseStreamEvent, data)
    stored = client.responses.retrieve(second.id)
    assert stored.id == second.id and stored.output[0].result == call.result


def test_responses_reference_image_generation_call(client: Any) -> None:
    first = client.responses.create(model="gpt-5", input="a house",
                                     tools=[{"type": "image_generation"}])
    ig = first.output[0].id
    second = client.responses.create(
        model="gpt-5",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "add a tree"}]},
               {"type": "image_generation_call", "id": ig}],
        tools=[{"type": "image_generation"}])
    assert second.output[0].action == "edit"


def test_vision_with_data_url(client: Any, raw: httpx.Client) -> None:
    resp = client.responses.create(model="gpt-4.1", input=[{
        "role": "user",
        "content": [{"type": "input_text", "text": "What colours are in this image?"},
                    {"type": "input_image", "image_url": data_url(half_red_blue()),
                     "detail": "high"}]}])
    assert isinstance(resp, Response)
    text = resp.output_text
    assert text.startswith("I'm the offline simulator, so I can only report")  # the answer to a question
    assert "red (50%)" in text and "blue (50%)" in text
    assert "128 × 64" in text

    r = raw.post("/responses", json={"model": "gpt-4.1", "stream": True, "input": [{
        "role": "user", "content": [{"type": "input_text", "text": "Describe it"},
                                    {"type": "input_image",
                                     "image_url": data_url(half_red_blue())}]}]})
    events = [strict(ResponseStreamEvent, d) for d in sse_json(r.content)]
    assert sum(isinstance(e, ResponseTextDeltaEvent) for e in events) >= 3
    assert isinstance(events[-1], ResponseCompletedEvent)
    strict(Response, raw.get(f"/responses/{events[-1].response.id}").json())


def test_files_then_vision_by_file_id(client: Any, raw: httpx.Client) -> None:
    from PIL import Image

    transparent = png_bytes(Image.new("RGBA", (100, 100), (0, 0, 0, 0)))
    f = client.files.create(file=("clear.png", transparent, "image/png"), purpose="vision")
    assert isinstance(f, FileObject)
    assert f.id.startswith("file-") and f.bytes == len(transparent) and f.status == "processed"
    assert f.filename == "clear.png" and f.purpose == "vision"
    strict(FileObject, raw.get(f"/files/{f.id}").json())
    assert client.files.retrieve(f.id).id == f.id
    assert client.files.content(f.id).read() == transparent

    resp = client.responses.create(model="gpt-5", input=[{
        "role": "user", "content": [{"type": "input_text", "text": "Is anything here?"},
                                    {"type": "input_image", "file_id": f.id}]}])
    assert "fully transparent" in resp.output_text


def test_text_only_and_models(client: Any, raw: httpx.Client) -> None:
    resp = client.responses.create(model="gpt-5", input="hello there", instructions="be brief")
    assert "hello there" in resp.output_text
    strict(Response, raw.get(f"/responses/{resp.id}").json())
    ids = {m.id for m in client.models.list()}
    assert {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-5", "gpt-4.1"} <= ids


def test_stream_error_events_through_sdk(client: Any, sim_server: Any) -> None:
    sim_server.simulator.faults.add("error_event", at_event=2, shape="nested",
                                    path="/responses")
    with pytest.raises(openai.APIError):
        list(client.responses.create(model="gpt-5", input="x", stream=True,
                                     tools=[{"type": "image_generation"}]))
    sim_server.simulator.faults.add("error_event", at_event=2, shape="flat", path="/responses")
    events = list(client.responses.create(model="gpt-5", input="x", stream=True))
    assert events[-1].type == "error" and events[-1].sequence_number == 2


def test_unknown_events_are_survivable_by_sdk(client: Any, sim_server: Any) -> None:
    sim_server.simulator.faults.add("unknown_events", split=True)
    events = list(client.images.generate(prompt="a star", stream=True, partial_images=1))
    known = [e for e in events if e.type != "simulator.unknown_event"]
    assert len(known) < len(events)
    assert [e.type for e in known] == ["image_generation.partial_image",
                                       "image_generation.completed"]
    assert json.loads(json.dumps(known[-1].usage.model_dump()))["output_tokens"] > 0


# ----------------------------------------------------------------------------- gif and svg


def test_sdk_gets_an_animated_gif(client: Any, raw: httpx.Client) -> None:
    result = client.images.generate(prompt="a paper boat on waves", output_format="gif", frame_count=4,
                                    frame_duration_ms=150, size="256x256", quality="low")
    assert isinstance(result, ImagesResponse) and result.output_format == "gif"
    assert result.data and result.data[0].b64_json
    gif = decode_image(result.data[0].b64_json)
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.info["duration"] == 150
    strict(ImagesResponse, raw.post("/images/generations", json={
        "prompt": "a paper boat", "output_format": "gif", "size": "256x256"}).json())


def test_sdk_gets_an_svg(client: Any, raw: httpx.Client) -> None:
    import base64
    from xml.etree import ElementTree

    result = client.images.generate(prompt="a compass rose", output_format="svg", size="1024x1536")
    assert isinstance(result, ImagesResponse) and result.output_format == "svg"
    assert result.data and result.data[0].b64_json
    root = ElementTree.fromstring(base64.b64decode(result.data[0].b64_json))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert (root.get("width"), root.get("height")) == ("1024", "1536")
    strict(ImagesResponse, raw.post("/images/generations", json={
        "prompt": "a compass rose", "output_format": "svg"}).json())
    resp = client.responses.create(model="gpt-5", input="draw a compass rose", tools=[
        {"type": "image_generation", "output_format": "svg", "size": "1024x1024"}])
    [call] = [item for item in resp.output if isinstance(item, ImageGenerationCall)]
    assert call.output_format == "svg" and b"<svg" in base64.b64decode(call.result or "")


def test_sdk_markup_edit_changes_only_near_the_marks(client: Any) -> None:
    import io

    import numpy as np
    from PIL import Image as PIL

    layer = PIL.new("RGBA", (256, 256), (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (100, 100, 140, 140))
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    picture = solid_png((256, 256), (20, 120, 200))
    result = client.images.edit(prompt="a red lantern here", image=picture, markup=buffer.getvalue(),
                                model="gpt-image-2.5-flare")
    assert isinstance(result, ImagesResponse) and result.data and result.data[0].b64_json
    before = np.asarray(PIL.open(io.BytesIO(picture)).convert("RGB"), dtype=int)
    after = np.asarray(decode_image(result.data[0].b64_json).convert("RGB"), dtype=int)
    changed = (before != after).any(axis=-1)
    assert changed[100:140, 100:140].mean() > 0.5  # under the mark
    assert not changed[:60].any() and not changed[200:].any()  # far from it
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(prompt="x", image=picture, markup=buffer.getvalue(), model="gpt-image-1.5")
    assert refused.value.param == "markup"


def test_sdk_sees_the_400_for_a_streamed_gif(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a boat", output_format="gif", stream=True)
    assert caught.value.param == "stream"


# ----------------------------------------------------------------------------- Azure OpenAI
# openai.AzureOpenAI at the simulator's Azure paths: its requests reach the endpoints, its
# replies validate as strictly as OpenAI's.

AZURE_VERSION = "2025-04-01-preview"


@pytest.fixture
def azure_client(sim_server: Any) -> Any:
    endpoint = sim_server.url.removesuffix("/v1")
    with openai.AzureOpenAI(azure_endpoint=endpoint, api_version=AZURE_VERSION, api_key="azure-test-key",
                            max_retries=0) as c:
        yield c


@pytest.fixture
def azure_raw(sim_server: Any) -> Any:
    with httpx.Client(base_url=sim_server.url.removesuffix("/v1") + "/openai", params={"api-version": AZURE_VERSION},
                      headers={"api-key": "azure-test-key"}, timeout=30) as c:
        yield c


def azure_paths(sim_server: Any) -> list[str]:
    return [r.path for r in sim_server.simulator.requests if r.query.get("api-version") == [AZURE_VERSION]]


def test_azure_generate(azure_client: Any, azure_raw: httpx.Client, sim_server: Any) -> None:
    result = azure_client.images.generate(model="gpt-image-1.5", prompt="a red circle", size="1024x1024",
                                          quality="low")
    assert isinstance(result, ImagesResponse) and result.data and result.data[0].b64_json
    assert decode_image(result.data[0].b64_json).size == (1024, 1024)
    body = azure_raw.post("/deployments/gpt-image-1.5/images/generations",
                          json={"prompt": "a red circle", "size": "1024x1024"}).json()
    strict(ImagesResponse, body)
    assert azure_paths(sim_server) == ["/openai/deployments/gpt-image-1.5/images/generations"] * 2


def test_azure_edit(azure_client: Any, sim_server: Any) -> None:
    result = azure_client.images.edit(model="gpt-image-1.5", image=("scene.png", scene_png((256, 256)), "image/png"),
                                      prompt="add a yellow star")
    assert isinstance(result, ImagesResponse)
    assert decode_image(result.data[0].b64_json).size == (256, 256)
    assert azure_paths(sim_server) == ["/openai/deployments/gpt-image-1.5/images/edits"]


def test_azure_generate_streamed(azure_client: Any, azure_raw: httpx.Client, sim_server: Any) -> None:
    events = list(azure_client.images.generate(model="gpt-image-1.5", prompt="a sun over a lake", stream=True,
                                               partial_images=2, size="1024x1024"))
    assert [type(e) for e in events] == [ImageGenPartialImageEvent, ImageGenPartialImageEvent,
                                         ImageGenCompletedEvent]
    raw = azure_raw.post("/deployments/gpt-image-1.5/images/generations",
                         json={"prompt": "a sun", "stream": True, "partial_images": 1}).content
    for event in sse_json(raw):
        strict(ImageGenStreamEvent, event)
    assert azure_paths(sim_server)[0] == "/openai/deployments/gpt-image-1.5/images/generations"


def test_azure_responses_with_the_image_tool(azure_client: Any, azure_raw: httpx.Client, sim_server: Any) -> None:
    resp = azure_client.responses.create(model="gpt-5", input="draw a lighthouse",
                                         tools=[{"type": "image_generation", "quality": "low"}])
    [call] = [o for o in resp.output if isinstance(o, ImageGenerationCall)]
    assert call.result and decode_image(call.result).size[0] > 0
    strict(Response, azure_raw.get(f"/responses/{resp.id}").json())
    events = list(azure_client.responses.create(model="gpt-5", input="draw a boat", stream=True,
                                                tools=[{"type": "image_generation", "partial_images": 1}]))
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert any(isinstance(e, ResponseImageGenCallPartialImageEvent) for e in events)
    assert azure_paths(sim_server) == ["/openai/responses", f"/openai/responses/{resp.id}", "/openai/responses"]


# ----------------------------------------------------------------------------- Batch API and rate limits


def _batch_input(n: int) -> bytes:
    lines = [{"custom_id": f"item-{i}", "method": "POST", "url": "/v1/images/generations",
              "body": {"prompt": f"a lantern {i}", "size": "1024x1024", "quality": "low"}} for i in range(n)]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_sdk_batch_round_trip_matches_the_batch_model(client: Any, raw: httpx.Client) -> None:
    from openai.types import Batch

    upload = client.files.create(file=("requests.jsonl", _batch_input(2)), purpose="batch")
    assert strict(FileObject, raw.get(f"/files/{upload.id}").json()).purpose == "batch"
    batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/images/generations",
                                  completion_window="24h", metadata={"run": "conformance"})
    assert isinstance(batch, Batch) and batch.status == "validating"
    for _ in range(3000):
        shape = raw.get(f"/batches/{batch.id}").json()
        strict(Batch, shape)
        if Batch.model_validate(shape).status == "completed":
            break
        time.sleep(0.01)
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts and done.request_counts.completed == 2
    lines = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    for line in lines:
        body = strict(ImagesResponse, line["response"]["body"])
        assert decode_image(body.data[0].b64_json).size == (1024, 1024)
    page = raw.get("/batches", params={"limit": 1}).json()
    assert page["object"] == "list" and [strict(Batch, b).id for b in page["data"]] == [batch.id]
    assert strict(FileObject, raw.get(f"/files/{done.output_file_id}").json()).purpose == "batch_output"


@pytest.fixture
def paced_server() -> Any:
    from nbimages.local import start_server

    with start_server(batch_start_delay=0.3) as handle:  # time to cancel a batch while it validates
        yield handle


def test_sdk_cancel_and_failed_batches_match_the_batch_model(paced_server: Any) -> None:
    from openai.types import Batch

    client = OpenAI(api_key="sk-test", base_url=paced_server.url, max_retries=0)
    raw = httpx.Client(base_url=paced_server.url, headers={"authorization": "Bearer sk-test"}, timeout=30)
    with client, raw:
        _check_cancelled_and_failed(client, raw, Batch)


def _check_cancelled_and_failed(client: Any, raw: httpx.Client, Batch: Any) -> None:

    bad = client.files.create(file=("bad.jsonl", b"{nope\n"), purpose="batch")
    failed = client.batches.create(input_file_id=bad.id, endpoint="/v1/images/edits", completion_window="24h")
    good = client.files.create(file=("good.jsonl", _batch_input(1)), purpose="batch")
    cancelled = client.batches.create(input_file_id=good.id, endpoint="/v1/images/generations",
                                      completion_window="24h")
    strict(Batch, raw.post(f"/batches/{cancelled.id}/cancel").json())
    for batch_id, status in ((failed.id, "failed"), (cancelled.id, "cancelled")):
        for _ in range(3000):
            shape = raw.get(f"/batches/{batch_id}").json()
            if shape["status"] == status:
                break
            time.sleep(0.01)
        assert strict(Batch, shape).status == status
    assert client.batches.retrieve(failed.id).errors.data[0].code == "invalid_json_line"


@pytest.fixture
def limited_server() -> Any:
    from nbimages.local import start_server

    # One a second after a burst of three: a refused request may try again within a second.
    with start_server(rpm_limit=60, rpm_burst=3) as handle:
        yield handle


def test_rate_limit_headers_count_down_then_429_with_retry_after(limited_server: Any) -> None:
    with httpx.Client(base_url=limited_server.url, headers={"authorization": "Bearer sk-test"}, timeout=30) as http:
        replies = [http.post("/images/generations", json={"prompt": "a bell", "quality": "low"}) for _ in range(4)]
        assert [r.status_code for r in replies] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining-requests"] for r in replies] == ["2", "1", "0", "0"]
        assert {r.headers["x-ratelimit-limit-requests"] for r in replies} == {"60"}
        assert replies[0].headers["x-ratelimit-reset-requests"] == "1s"  # one request back in a second
        refused = replies[-1]
        assert refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert refused.headers["retry-after"] == "1" and 0 < int(refused.headers["retry-after-ms"]) <= 1000
        time.sleep(int(refused.headers["retry-after-ms"]) / 1000)
        assert http.post("/images/generations", json={"prompt": "a bell", "quality": "low"}).status_code == 200
    assert limited_server.simulator.rate_limited == 1


def test_sdk_sees_rate_limit_errors_and_its_retry_honours_retry_after(limited_server: Any) -> None:
    with OpenAI(api_key="sk-test", base_url=limited_server.url, max_retries=0) as impatient:
        for _ in range(3):
            impatient.images.generate(prompt="a drum", quality="low")
        with pytest.raises(openai.RateLimitError) as caught:
            impatient.images.generate(prompt="a drum", quality="low")
        assert caught.value.code == "rate_limit_exceeded"
    with OpenAI(api_key="sk-test", base_url=limited_server.url, max_retries=3) as patient:
        for _ in range(2):
            assert patient.images.generate(prompt="a drum", quality="low").data
    refusals = limited_server.simulator.rate_limited
    assert refusals >= 2
    paths = [r.path for r in limited_server.simulator.requests]
    assert paths.count("/v1/images/generations") == 3 + refusals + 2

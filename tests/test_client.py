"""`Client`: request shapes, headers, configuration, retries, error mapping, streams.

Against `httpx.MockTransport` (the `mock_client` fixture) for exact request shapes and
faults; against the simulator (`client`, `server_client`) for whole round trips.
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
import pytest

import nbimages
from nbimages import client as client_module
from nbimages import config
from nbimages._retry import RetryPolicy
from nbimages.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ContentPolicyError,
    NbImagesError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamError,
)
from nbimages.events import ImageCompleted, PartialImage, Response, ResponseCompleted, TextDelta

Handler = Callable[[httpx.Request], httpx.Response]


# -- a scripted server ------------------------------------------------------------------
class Script:
    """A MockTransport handler: records every request, answers with the next reply.

    A reply is a function of the request returning an `httpx.Response` (or raising an
    httpx error); the last reply repeats.
    """

    def __init__(self, *replies: Handler) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        return reply(request)

    @property
    def calls(self) -> int:
        return len(self.requests)

    def json(self, i: int = -1) -> Any:
        return json.loads(self.requests[i].content)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def images_reply(*images: bytes, revised: str | None = "A revised prompt", headers: dict[str, str] | None = None) -> Handler:
    body = {
        "created": 1764000000,
        "data": [{"b64_json": b64(img), "revised_prompt": revised} for img in images],
        "background": "opaque",
        "output_format": "png",
        "quality": "low",
        "size": "1024x1024",
        "usage": {"input_tokens": 9, "input_tokens_details": {"text_tokens": 9, "image_tokens": 0},
                  "output_tokens": 272, "total_tokens": 281},
    }
    return lambda request: httpx.Response(200, json=body, headers=headers)


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=body, headers=headers)


def error_reply(status: int, code: str | None = None, headers: dict[str, str] | None = None,
                message: str = "Something is wrong.", type: str = "invalid_request_error") -> Handler:
    body = {"error": {"message": message, "type": type, "param": "prompt", "code": code}}
    return json_reply(body, status, {"x-request-id": "req_abc123", **(headers or {})})


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def sse_reply(events: list[dict[str, Any]], *, then: Exception | None = None,
              closed: list[bool] | None = None) -> Handler:
    """A streamed reply, one event per chunk; optionally raise ``then`` after the events."""

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for event in events:
                yield sse_bytes([event])
            if then is not None:
                raise then

        def close(self) -> None:
            if closed is not None:
                closed.append(True)

    return lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Body())


def raise_reply(exc: Exception) -> Handler:
    def reply(request: httpx.Request) -> httpx.Response:
        raise exc

    return reply


def image_stream_events(png: Callable[..., bytes], partials: int = 2, kind: str = "image_generation") -> list[dict[str, Any]]:
    fields = {"size": "1024x1024", "quality": "low", "background": "opaque", "output_format": "png", "created_at": 1}
    events = [
        {"type": f"{kind}.partial_image", "b64_json": b64(png(color=(i, 0, 0))), "partial_image_index": i, **fields}
        for i in range(partials)
    ]
    usage = {"input_tokens": 5, "input_tokens_details": {"text_tokens": 5, "image_tokens": 0},
             "output_tokens": 100, "total_tokens": 105}
    events.append({"type": f"{kind}.completed", "b64_json": b64(png(color=(0, 255, 0))), "usage": usage, **fields})
    return events


def multipart(request: httpx.Request) -> list[tuple[str, str | None, str, bytes]]:
    """(name, filename, content type, bytes) of each part, in order, parsed by the stdlib."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(),
         part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_parts()
    ]


def form_fields(request: httpx.Request) -> dict[str, str]:
    return {name: data.decode() for name, filename, _, data in multipart(request) if filename is None}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Delays the client waited between attempts (recorded, not slept)."""
    delays: list[float] = []
    monkeypatch.setattr(time, "sleep", delays.append)
    return delays


# -- Images API request shapes ---------------------------------------------------------------
def test_generate_sends_a_json_body_with_only_the_given_options(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    client = mock_client(script)
    client.generate("a red panda chef", size="1536x1024", quality="low", n=1, background="opaque",
                    output_format="webp", output_compression=80, moderation="low")
    request = script.requests[0]
    assert request.method == "POST" and str(request.url) == "http://mock.test/v1/images/generations"
    assert request.headers["content-type"] == "application/json"
    assert script.json() == {
        "prompt": "a red panda chef", "model": config.DEFAULT_IMAGE_MODEL, "n": 1, "size": "1536x1024",
        "quality": "low", "background": "opaque", "output_format": "webp", "output_compression": 80,
        "moderation": "low",
    }


def test_generate_minimal_body_and_model_from_the_environment(
    mock_client: Any, png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBIMAGES_IMAGE_MODEL", "gpt-image-2")
    script = Script(images_reply(png()))
    mock_client(script).generate("a lake")
    assert script.json() == {"prompt": "a lake", "model": "gpt-image-2"}
    mock_client(script).generate("a lake", model="gpt-image-1-mini")
    assert script.json()["model"] == "gpt-image-1-mini"


def test_unknown_keyword_arguments_pass_through(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    client = mock_client(script)
    client.generate("x", safety_identifier="user-42", style="vivid", quality="xhigh", frame_count=4,
                    output_format="gif", extra_obj={"a": [1]})
    body = script.json()
    assert body["safety_identifier"] == "user-42" and body["style"] == "vivid" and body["frame_count"] == 4
    assert body["quality"] == "xhigh" and body["output_format"] == "gif" and body["extra_obj"] == {"a": [1]}
    client.edit("x", png(), future_flag=True, level=3)
    fields = form_fields(script.requests[-1])
    assert fields["future_flag"] == "true" and fields["level"] == "3"


def test_generate_returns_images_with_provenance(mock_client: Any, png: Callable[..., bytes]) -> None:
    a, b = png((32, 16), (1, 2, 3)), png((16, 32), (4, 5, 6))
    client = mock_client(Script(images_reply(a, b)))
    images = client.generate("two things", n=2, quality="low")
    assert [img.data for img in images] == [a, b]
    first = images[0]
    assert (first.width, first.height, first.format) == (32, 16, "png")
    assert first.prompt == "two things" and first.revised_prompt == "A revised prompt"
    assert first.model == config.DEFAULT_IMAGE_MODEL
    assert first.params["n"] == 2 and first.params["size"] == "1024x1024" and first.params["endpoint"] == "images/generations"
    assert first.usage is not None and first.usage.output_tokens == 272
    assert first.created is not None


def test_a_data_url_in_the_url_field_is_accepted(mock_client: Any, png: Callable[..., bytes]) -> None:
    data_url = "data:image/png;base64," + b64(png())
    client = mock_client(Script(json_reply({"created": 1, "data": [{"url": data_url}]})))
    (image,) = client.generate("x")
    assert image.data == png()


def test_url_replies_are_refused_before_sending(mock_client: Any) -> None:
    script = Script(json_reply({}))
    with pytest.raises(nbimages.InvalidInputError) as info:
        mock_client(script).generate("x", response_format="url")
    assert info.value.param == "response_format" and script.calls == 0


def test_edit_one_image_is_sent_as_image(mock_client: Any, png: Callable[..., bytes], tmp_path: Any) -> None:
    picture = png((64, 64), (10, 20, 30))
    mask = png((64, 64), (0, 0, 0, 0), "RGBA")
    path = tmp_path / "lounge.png"
    path.write_bytes(picture)
    script = Script(images_reply(png()))
    mock_client(script).edit("add a flamingo", str(path), mask=mask, input_fidelity="high", quality="low", n=2)
    request = script.requests[0]
    assert str(request.url) == "http://mock.test/v1/images/edits"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = multipart(request)
    files = [(name, ctype, data) for name, filename, ctype, data in parts if filename is not None]
    assert files == [("image", "image/png", picture), ("mask", "image/png", mask)]
    assert form_fields(request) == {
        "prompt": "add a flamingo", "model": config.DEFAULT_IMAGE_MODEL, "input_fidelity": "high",
        "quality": "low", "n": "2",
    }


def test_edit_several_images_are_sent_as_repeated_image_brackets(mock_client: Any, png: Callable[..., bytes]) -> None:
    from io import BytesIO

    import numpy as np
    from PIL import Image as PIL

    jpeg = BytesIO()
    PIL.new("RGB", (20, 10), (9, 9, 9)).save(jpeg, format="JPEG")
    sources = [png((10, 10), (1, 1, 1)), jpeg.getvalue(), PIL.new("RGB", (5, 5), (2, 2, 2)),
               np.zeros((4, 6, 3), dtype=np.uint8), nbimages.Image(png((3, 3)))]
    script = Script(images_reply(png()))
    mock_client(script).edit("combine", sources)
    files = [(name, fname, ctype) for name, fname, ctype, _ in multipart(script.requests[0]) if fname]
    assert [f[0] for f in files] == ["image[]"] * 5
    assert [f[2] for f in files] == ["image/png", "image/jpeg", "image/png", "image/png", "image/png"]
    assert files[1][1].endswith(".jpg")
    datas = [data for _, fname, _, data in multipart(script.requests[0]) if fname]
    assert datas[0] == sources[0] and datas[1] == sources[1]
    assert nbimages.Image(datas[3]).size == (6, 4)


def test_edit_list_of_one_is_sent_as_image(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    mock_client(script).edit("x", [png()])
    assert [name for name, fname, _, _ in multipart(script.requests[0]) if fname] == ["image"]


def test_edit_booleans_are_true_false_text(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(sse_reply(image_stream_events(png, 0, "image_edit")))
    stream = mock_client(script).edit("x", png(), stream=True, partial_images=0, store=False)
    stream.until_done()
    fields = form_fields(script.requests[0])
    assert fields["stream"] == "true" and fields["store"] == "false" and fields["partial_images"] == "0"


def test_edit_result_records_its_parent(mock_client: Any, png: Callable[..., bytes], tmp_path: Any) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(png())
    client = mock_client(Script(images_reply(png(color=(0, 0, 1)))))
    (image,) = client.edit("x", path)
    assert image.parent == str(path) and image.params["endpoint"] == "images/edits"
    source = nbimages.Image(png(), call_id="ig_77")
    (image,) = client.edit("x", source)
    assert image.parent == "ig_77"


def test_variations_multipart(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png(), png(color=(0, 0, 2))))
    images = mock_client(script).variations(png((32, 32)), n=2, size="256x256")
    assert len(images) == 2
    request = script.requests[0]
    assert str(request.url) == "http://mock.test/v1/images/variations"
    assert form_fields(request) == {"n": "2", "size": "256x256", "response_format": "b64_json"}
    assert [(n, c) for n, f, c, _ in multipart(request) if f] == [("image", "image/png")]


# -- Responses API request shapes -------------------------------------------------------------
def response_body(output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "model": "gpt-5", "status": "completed", "output": output,
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}, **extra}


def test_respond_with_tools_previous_id_images_and_references(mock_client: Any, png: Callable[..., bytes]) -> None:
    final = png((16, 16), (7, 7, 7))
    output = [
        {"type": "image_generation_call", "id": "ig_2", "status": "completed", "result": b64(final),
         "revised_prompt": "a canoe on a lake", "size": "1024x1024"},
        {"type": "message", "id": "m", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "Added a canoe.", "annotations": []}]},
    ]
    script = Script(json_reply(response_body(output)))
    earlier = nbimages.Image(png(), call_id="ig_1")
    response = mock_client(script).respond(
        "now add a canoe",
        tools=[{"type": "image_generation", "quality": "low", "size": "1024x1024", "partial_images": 2}],
        previous_response_id="resp_0",
        images=[png((8, 8)), "https://example.com/lake.jpg", "file-abc123"],
        image_references=["ig_0", earlier],
        detail="high",
        tool_choice={"type": "image_generation"},
        instructions="Be brief.",
        store=False,
        model="gpt-4.1",
    )
    body = script.json()
    assert str(script.requests[0].url) == "http://mock.test/v1/responses"
    assert body["model"] == "gpt-4.1" and body["previous_response_id"] == "resp_0" and body["store"] is False
    assert body["tools"] == [{"type": "image_generation", "quality": "low", "size": "1024x1024", "partial_images": 2}]
    assert body["tool_choice"] == {"type": "image_generation"} and body["instructions"] == "Be brief."
    message, ref0, ref1 = body["input"]
    assert message["role"] == "user"
    text, img0, img1, img2 = message["content"]
    assert text == {"type": "input_text", "text": "now add a canoe"}
    assert img0["type"] == "input_image" and img0["detail"] == "high"
    assert base64.b64decode(img0["image_url"].split(",", 1)[1]) == png((8, 8))
    assert img0["image_url"].startswith("data:image/png;base64,")
    assert img1 == {"type": "input_image", "image_url": "https://example.com/lake.jpg", "detail": "high"}
    assert img2 == {"type": "input_image", "file_id": "file-abc123", "detail": "high"}
    assert ref0 == {"type": "image_generation_call", "id": "ig_0"}
    assert ref1 == {"type": "image_generation_call", "id": "ig_1"}
    assert "stream" not in body
    assert isinstance(response, Response)
    assert response.output_text == "Added a canoe." and response.id == "resp_1"
    (image,) = response.images
    assert image.data == final and image.call_id == "ig_2" and image.response_id == "resp_1"
    assert image.revised_prompt == "a canoe on a lake" and image.parent == "resp_0"
    assert image.params["mainline_model"] == "gpt-4.1" and image.params["quality"] == "low"


def test_respond_plain_prompt_is_sent_as_a_string(mock_client: Any) -> None:
    script = Script(json_reply(response_body([])))
    mock_client(script).respond("Generate a forest lake", tools=[{"type": "image_generation"}])
    body = script.json()
    assert body == {"model": config.DEFAULT_MODEL, "input": "Generate a forest lake",
                    "tools": [{"type": "image_generation"}]}


def test_respond_passes_input_items_and_other_tools_through(mock_client: Any) -> None:
    script = Script(json_reply(response_body([])))
    items = [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
             {"type": "image_generation_call", "id": "ig_5"}]
    tools = [{"type": "web_search"}, {"type": "image_generation", "action": "edit",
                                     "input_image_mask": {"file_id": "file-m"}}]
    mock_client(script).respond(items, tools=tools)
    body = script.json()
    assert body["input"] == items and body["tools"] == tools


def test_image_tool_sends_a_mask_as_a_data_url(png: Callable[..., bytes]) -> None:
    mask = png((8, 8), (0, 0, 0, 0), "RGBA")
    tool = nbimages.image_tool(quality="high", input_image_mask=mask, action="edit")
    assert tool["type"] == "image_generation" and tool["quality"] == "high" and tool["action"] == "edit"
    assert base64.b64decode(tool["input_image_mask"]["image_url"].split(",", 1)[1]) == mask


def test_describe_sends_input_text_and_input_image_parts(mock_client: Any, png: Callable[..., bytes]) -> None:
    answer = [{"type": "message", "id": "m", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": "A red square.", "annotations": []}]}]
    script = Script(json_reply(response_body(answer)))
    client = mock_client(script)
    assert client.describe(png()) == "A red square."
    body = script.json()
    assert body["model"] == config.DEFAULT_MODEL
    (message,) = body["input"]
    assert message["role"] == "user"
    assert message["content"][0] == {"type": "input_text", "text": "Describe this image."}
    part = message["content"][1]
    assert part["type"] == "input_image" and part["detail"] == "auto"
    assert part["image_url"] == "data:image/png;base64," + b64(png())

    client.describe(["http://example.com/a.png", "file-xyz", png()], "Which is red?", detail="low", model="gpt-4o")
    body = script.json()
    content = body["input"][0]["content"]
    assert body["model"] == "gpt-4o" and content[0] == {"type": "input_text", "text": "Which is red?"}
    assert content[1] == {"type": "input_image", "image_url": "http://example.com/a.png", "detail": "low"}
    assert content[2] == {"type": "input_image", "file_id": "file-xyz", "detail": "low"}
    assert content[3]["image_url"].startswith("data:image/png;base64,") and content[3]["detail"] == "low"


def test_upload_uses_the_files_api(mock_client: Any, png: Callable[..., bytes], tmp_path: Any) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(png())
    script = Script(json_reply({"id": "file-123", "object": "file", "purpose": "vision", "bytes": 10}))
    client = mock_client(script)
    assert client.upload(path) == "file-123"
    request = script.requests[0]
    assert str(request.url) == "http://mock.test/v1/files"
    parts = multipart(request)
    assert ("purpose", None, "text/plain", b"vision") in parts
    assert ("file", "photo.png", "image/png", png()) in parts
    client.upload(png(), purpose="user_data")
    parts = multipart(script.requests[-1])
    assert ("purpose", None, "text/plain", b"user_data") in parts
    assert [(n, f) for n, f, _, _ in parts if f] == [("file", "image.png")]


# -- headers and configuration -------------------------------------------------------------
def test_authorization_header_only_when_a_key_is_set(png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    with httpx.Client(transport=httpx.MockTransport(script)) as http:
        with nbimages.Client(api_key="sk-secret", base_url="http://x.test/v1", http_client=http) as c:
            c.generate("x")
        with nbimages.Client(base_url="http://x.test/v1", http_client=http) as c:
            c.generate("x")
    with_key, without_key = script.requests
    assert with_key.headers["authorization"] == "Bearer sk-secret"
    assert "authorization" not in without_key.headers
    assert with_key.headers["user-agent"] == f"nbimages/{nbimages.__version__}"
    assert "openai-organization" not in with_key.headers and "openai-project" not in with_key.headers


def test_organization_and_project_from_env_and_arguments(
    mock_client: Any, png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_env")
    script = Script(images_reply(png()))
    mock_client(script).generate("x")
    mock_client(script, organization="org-arg", project="proj_arg").generate("x")
    env, args = script.requests
    assert (env.headers["openai-organization"], env.headers["openai-project"]) == ("org-env", "proj_env")
    assert (args.headers["openai-organization"], args.headers["openai-project"]) == ("org-arg", "proj_arg")


def make(**kwargs: Any) -> nbimages.Client:
    return nbimages.Client(http_client=httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))), **kwargs)


def test_no_key_and_no_url_means_the_simulator(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_announced", False)
    with nbimages.Client() as c:
        assert c.backend == "local" and c.base_url == config.LOCAL_BASE_URL
        assert "Authorization" not in c._headers
        (image,) = c.generate("a red circle", size="1024x1024", quality="low")
        assert image.format == "png" and image.size == (1024, 1024)
    with nbimages.Client():
        pass
    err = capsys.readouterr().err
    assert err.count("offline simulator") == 1 and "OPENAI_API_KEY" in err


@pytest.mark.parametrize(
    ("env", "kwargs", "backend", "base_url", "key"),
    [
        ({}, {}, "local", config.LOCAL_BASE_URL, None),
        ({"OPENAI_API_KEY": "sk-env"}, {}, "openai", config.OPENAI_BASE_URL, "sk-env"),
        ({"OPENAI_API_KEY": "sk-env"}, {"api_key": "sk-arg"}, "openai", config.OPENAI_BASE_URL, "sk-arg"),
        ({"OPENAI_BASE_URL": "http://env.test/v1/"}, {}, "custom", "http://env.test/v1", None),
        ({"OPENAI_BASE_URL": "http://env.test/v1"}, {"base_url": "http://arg.test/v1"}, "custom", "http://arg.test/v1", None),
        ({"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "http://env.test/v1"}, {}, "custom", "http://env.test/v1", "sk-env"),
        ({"OPENAI_API_KEY": "sk-env", "NBIMAGES_BACKEND": "local"}, {}, "local", config.LOCAL_BASE_URL, None),
        ({"OPENAI_API_KEY": "sk-env", "NBIMAGES_BACKEND": "Local "}, {}, "local", config.LOCAL_BASE_URL, None),
        ({"OPENAI_API_KEY": "sk-env", "NBIMAGES_BACKEND": "local"}, {"backend": "openai"}, "openai", config.OPENAI_BASE_URL, "sk-env"),
        ({"NBIMAGES_BACKEND": "openai"}, {"api_key": "sk-arg"}, "openai", config.OPENAI_BASE_URL, "sk-arg"),
        ({"OPENAI_API_KEY": "sk-env"}, {"backend": "local"}, "local", config.LOCAL_BASE_URL, None),
    ],
)
def test_configuration_precedence(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: dict[str, Any], backend: str, base_url: str,
    key: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with make(**kwargs) as c:
        assert (c.backend, c.base_url) == (backend, base_url)
        assert c._headers.get("Authorization") == (f"Bearer {key}" if key else None)


@pytest.mark.parametrize(("env", "kwargs"), [({"NBIMAGES_BACKEND": "openai"}, {}), ({"NBIMAGES_BACKEND": "azure"}, {}),
                                             ({}, {"backend": "cloud"})])
def test_impossible_configurations_are_refused(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], kwargs: Any) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError):
        make(**kwargs)


def test_the_base_url_of_an_injected_http_client_is_used(png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    with httpx.Client(transport=httpx.MockTransport(script), base_url="http://inner.test/v1/") as http:
        c = nbimages.Client(api_key="sk", http_client=http)
        assert (c.backend, c.base_url) == ("custom", "http://inner.test/v1")
        c.generate("x")
    assert str(script.requests[0].url) == "http://inner.test/v1/images/generations"


def test_default_timeout_is_long_enough_for_high_quality_images(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(images_reply(png()))
    mock_client(script).generate("x")
    mock_client(script, timeout=30).generate("x")
    mock_client(script, timeout=httpx.Timeout(100, connect=2)).generate("x")
    default, short, custom = (r.extensions["timeout"] for r in script.requests)
    assert default["read"] >= 300 and default["connect"] <= 10
    assert short["read"] == 30 and custom == {"connect": 2, "read": 100, "write": 100, "pool": 100}


def test_repr_never_shows_the_key(mock_client: Any) -> None:
    client = mock_client(Script(json_reply({})))
    assert "sk-test" not in repr(client) and "sk-test" not in str(client)
    assert "sk-test" not in repr(client._backend)
    assert repr(client) == "<nbimages.Client backend=custom base_url=http://mock.test/v1>"


def test_error_messages_never_show_the_key(mock_client: Any) -> None:
    client = mock_client(Script(error_reply(401, "invalid_api_key", message="Incorrect API key provided.")),
                         max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        client.generate("x")
    assert "sk-test" not in str(info.value) and "sk-test" not in repr(info.value)


# -- error mapping --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_value", BadRequestError),
        (400, "moderation_blocked", ContentPolicyError),
        (400, "content_policy_violation", ContentPolicyError),
        (401, "invalid_api_key", AuthenticationError),
        (403, "unsupported_country_region_territory", AuthenticationError),
        (404, "model_not_found", NotFoundError),
        (409, None, ConflictError),
        (422, None, BadRequestError),
        (429, "rate_limit_exceeded", RateLimitError),
        (429, "insufficient_quota", RateLimitError),
        (500, "server_error", ServerError),
        (503, None, ServerError),
        (418, None, APIError),
    ],
)
def test_each_status_maps_to_its_error_class(mock_client: Any, status: int, code: str | None, cls: type) -> None:
    client = mock_client(Script(error_reply(status, code, type="image_generation_user_error")), max_retries=0)
    with pytest.raises(cls) as info:
        client.generate("x")
    err = info.value
    assert type(err) is cls and isinstance(err, APIError) and isinstance(err, NbImagesError)
    assert (err.status, err.code, err.type, err.param) == (status, code, "image_generation_user_error", "prompt")
    assert err.request_id == "req_abc123" and err.message == "Something is wrong."
    assert err.body["error"]["code"] == code
    assert str(status) in str(err) and "req_abc123" in str(err)


def test_content_policy_error_is_a_bad_request() -> None:
    assert issubclass(ContentPolicyError, BadRequestError)


def test_error_body_that_is_not_json(mock_client: Any) -> None:
    client = mock_client(Script(lambda r: httpx.Response(502, text="<html>Bad gateway</html>")), max_retries=0)
    with pytest.raises(ServerError) as info:
        client.generate("x")
    assert info.value.status == 502 and "Bad gateway" in info.value.message and info.value.code is None


def test_error_body_without_error_object(mock_client: Any) -> None:
    client = mock_client(Script(json_reply({"message": "nope", "code": "odd"}, 400)), max_retries=0)
    with pytest.raises(BadRequestError) as info:
        client.generate("x")
    assert info.value.message == "nope" and info.value.code == "odd"


# -- retries ----------------------------------------------------------------------------------
def test_429_honours_retry_after_ms(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    script = Script(error_reply(429, "rate_limit_exceeded", {"retry-after-ms": "1500", "retry-after": "9"}),
                    images_reply(png()))
    (image,) = mock_client(script).generate("x")
    assert script.calls == 2 and sleeps == [1.5] and image.data == png()


def test_429_honours_retry_after_seconds(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    script = Script(error_reply(429, None, {"retry-after": "2"}), images_reply(png()))
    mock_client(script).generate("x")
    assert sleeps == [2.0]


def test_retry_after_as_an_http_date(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    script = Script(error_reply(503, None, {"retry-after": when}), images_reply(png()))
    mock_client(script).generate("x")
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 31


@pytest.mark.parametrize("value", ["garbage", "", "-5", "0", "inf"])
def test_unusable_retry_after_falls_back_to_backoff(
    mock_client: Any, png: Callable[..., bytes], sleeps: list[float], value: str
) -> None:
    script = Script(error_reply(429, None, {"retry-after": value}), images_reply(png()))
    mock_client(script).generate("x")
    assert script.calls == 2 and len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5


@pytest.mark.parametrize(("header", "value", "waited"), [
    ("retry-after", "90", 90.0), ("retry-after", "120", 120.0), ("retry-after-ms", "119500", 119.5),
])
def test_server_hints_up_to_two_minutes_are_honoured_as_the_sdk_does(
    mock_client: Any, png: Callable[..., bytes], sleeps: list[float], header: str, value: str, waited: float
) -> None:
    script = Script(error_reply(429, None, {header: value}), images_reply(png()))
    mock_client(script).generate("x")
    assert script.calls == 2 and sleeps == [waited]


@pytest.mark.parametrize(("headers", "status"), [
    ({"retry-after": "121"}, 429), ({"retry-after": "3600"}, 503), ({"retry-after-ms": "120001"}, 429),
    ({"retry-after": "1e999"}, 429),  # too large for a float: a delay too long, as the SDK reads it
    ({"retry-after": "121", "x-should-retry": "true"}, 429),  # a hint too long wins over x-should-retry
])
def test_server_hints_over_two_minutes_are_not_retried_as_the_sdk_does(
    mock_client: Any, sleeps: list[float], headers: dict[str, str], status: int
) -> None:
    script = Script(error_reply(status, None, headers))
    with pytest.raises(APIError):
        mock_client(script).generate("x")
    assert script.calls == 1 and sleeps == []


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520])
def test_retryable_statuses_back_off_exponentially(
    mock_client: Any, status: int, sleeps: list[float]
) -> None:
    script = Script(error_reply(status))
    with pytest.raises(APIError) as info:
        mock_client(script).generate("x")
    assert info.value.status == status
    assert script.calls == 3  # the first attempt and max_retries=2 retries
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5 and 0.75 <= sleeps[1] <= 1.0


def test_backoff_doubles_up_to_eight_seconds_with_jitter(mock_client: Any, sleeps: list[float]) -> None:
    script = Script(error_reply(500))
    with pytest.raises(ServerError):
        mock_client(script, max_retries=7).generate("x")
    assert script.calls == 8
    for attempt, delay in enumerate(sleeps):
        ceiling = min(0.5 * 2**attempt, 8.0)
        assert 0.75 * ceiling <= delay <= ceiling
    delays = [RetryPolicy(max_retries=5).after_error(1, ServerError("x", status=500)) for _ in range(200)]
    assert all(0.75 <= d <= 1.0 for d in delays) and len(set(delays)) > 100  # jittered, not fixed


@pytest.mark.parametrize("max_retries", [0, 1, 4])
def test_max_retries_is_respected(mock_client: Any, sleeps: list[float], max_retries: int) -> None:
    script = Script(error_reply(503))
    with pytest.raises(ServerError):
        mock_client(script, max_retries=max_retries).generate("x")
    assert script.calls == max_retries + 1 and len(sleeps) == max_retries


def test_x_should_retry_overrides_the_status(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    script = Script(error_reply(400, "odd", {"x-should-retry": "true"}), images_reply(png()))
    mock_client(script).generate("x")
    assert script.calls == 2
    script = Script(error_reply(503, None, {"x-should-retry": "false"}))
    with pytest.raises(ServerError):
        mock_client(script).generate("x")
    assert script.calls == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, None), (401, "invalid_api_key"), (403, None), (404, None), (422, None), (400, "moderation_blocked"),
     (429, "insufficient_quota"), (429, "billing_hard_limit_reached")],
)
def test_not_retried(mock_client: Any, sleeps: list[float], status: int, code: str | None) -> None:
    script = Script(error_reply(status, code))
    with pytest.raises(APIError):
        mock_client(script).generate("x")
    assert script.calls == 1 and sleeps == []


def test_connection_errors_are_retried(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    script = Script(raise_reply(httpx.ConnectError("refused")), raise_reply(httpx.RemoteProtocolError("dropped")),
                    images_reply(png()))
    (image,) = mock_client(script).generate("x")
    assert script.calls == 3 and len(sleeps) == 2 and image.data == png()


def test_connection_errors_give_up_after_max_retries(mock_client: Any, sleeps: list[float]) -> None:
    script = Script(raise_reply(httpx.ConnectError("refused")))
    with pytest.raises(APIConnectionError) as info:
        mock_client(script).generate("x")
    assert type(info.value) is APIConnectionError and "refused" in str(info.value)
    assert script.calls == 3


def test_read_timeouts_are_not_retried(mock_client: Any, sleeps: list[float]) -> None:
    script = Script(raise_reply(httpx.ReadTimeout("slow")))
    with pytest.raises(APITimeoutError) as info:
        mock_client(script).generate("x")
    assert "timeout" in str(info.value)
    assert script.calls == 1 and sleeps == []


def test_a_multipart_edit_is_resent_whole(mock_client: Any, png: Callable[..., bytes], sleeps: list[float]) -> None:
    script = Script(error_reply(500), images_reply(png()))
    mock_client(script).edit("x", png((8, 8)), mask=png((8, 8), (0, 0, 0, 0), "RGBA"))
    first, second = script.requests
    assert multipart(first) == multipart(second)
    assert [part[0] for part in multipart(second)] == ["prompt", "model", "image", "mask"]
    assert multipart(second)[-1][3] == png((8, 8), (0, 0, 0, 0), "RGBA")


def test_a_stream_that_delivered_events_is_never_retried(
    mock_client: Any, png: Callable[..., bytes], sleeps: list[float]
) -> None:
    events = image_stream_events(png, partials=2)
    script = Script(sse_reply(events[:2], then=httpx.ReadError("connection reset")), images_reply(png()))
    stream = mock_client(script, max_retries=5).generate("x", stream=True, partial_images=2)
    received = []
    with pytest.raises(StreamError) as info:
        for event in stream:
            received.append(event)
    assert [type(e) for e in received] == [PartialImage, PartialImage]
    err = info.value
    assert err.code == "stream_broken" and "connection reset" in str(err)
    assert [p.data for p in err.partials] == [png(color=(0, 0, 0)), png(color=(1, 0, 0))]
    assert script.calls == 1 and sleeps == []


def test_a_stream_cut_short_raises_with_partials_and_is_not_retried(
    mock_client: Any, png: Callable[..., bytes], sleeps: list[float]
) -> None:
    script = Script(sse_reply(image_stream_events(png, partials=2)[:1]))
    stream = mock_client(script).generate("x", stream=True, partial_images=2)
    with pytest.raises(StreamError) as info:
        stream.until_done()
    assert info.value.code == "incomplete_stream" and len(info.value.partials) == 1
    assert script.calls == 1


def test_a_stream_read_timeout_is_a_stream_error(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(sse_reply(image_stream_events(png)[:1], then=httpx.ReadTimeout("slow")))
    with pytest.raises(StreamError) as info:
        mock_client(script).generate("x", stream=True).until_done()
    assert "timed out" in str(info.value) and len(info.value.partials) == 1 and script.calls == 1


def test_a_failing_status_before_the_stream_starts_is_retried(
    mock_client: Any, png: Callable[..., bytes], sleeps: list[float]
) -> None:
    script = Script(error_reply(503), sse_reply(image_stream_events(png)))
    images = mock_client(script).generate("x", stream=True, partial_images=2).until_done()
    assert script.calls == 2 and len(images) == 1


def test_a_body_cut_in_a_non_streamed_reply_is_a_connection_error(mock_client: Any, sleeps: list[float]) -> None:
    class Half(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b'{"created": 1, "data": [{"b64_'
            raise httpx.RemoteProtocolError("peer closed connection")

    script = Script(lambda r: httpx.Response(200, stream=Half()))
    with pytest.raises(APIConnectionError):
        mock_client(script).generate("x")
    assert script.calls == 1  # the server may have charged: not resent


# -- streams --------------------------------------------------------------------------------
def test_generate_stream(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(sse_reply(image_stream_events(png, partials=2)))
    stream = mock_client(script).generate("a fox", stream=True, partial_images=2, quality="low")
    assert isinstance(stream, nbimages.Stream)
    assert script.json() == {"prompt": "a fox", "model": config.DEFAULT_IMAGE_MODEL, "partial_images": 2,
                             "quality": "low", "stream": True}
    events = list(stream)
    assert [type(e) for e in events] == [PartialImage, PartialImage, ImageCompleted]
    assert [e.index for e in events[:2]] == [0, 1]
    assert len(stream.partials) == 2 and stream.images == [events[2].image]
    assert stream.result == [events[2].image]
    assert events[2].image.prompt == "a fox" and events[2].usage.total_tokens == 105


def test_stream_context_manager_and_early_exit_close_the_connection(mock_client: Any, png: Callable[..., bytes]) -> None:
    closed: list[bool] = []
    script = Script(sse_reply(image_stream_events(png, partials=3), closed=closed))
    client = mock_client(script)
    for event in client.generate("x", stream=True, partial_images=3):
        assert isinstance(event, PartialImage)
        break
    assert closed == [True]
    with client.generate("x", stream=True, partial_images=3) as stream:
        next(iter(stream))
    assert closed == [True, True]
    stream = client.generate("x", stream=True, partial_images=3)
    stream.close()
    assert closed == [True, True, True]


def test_stream_closes_when_the_consumer_raises(mock_client: Any, png: Callable[..., bytes]) -> None:
    closed: list[bool] = []
    client = mock_client(Script(sse_reply(image_stream_events(png), closed=closed)))
    with pytest.raises(KeyboardInterrupt):
        for _ in client.generate("x", stream=True):
            raise KeyboardInterrupt
    assert closed == [True]


def responses_stream(png: Callable[..., bytes], text: str = "Done.") -> list[dict[str, Any]]:
    final = b64(png(color=(0, 0, 200)))
    item = {"type": "image_generation_call", "id": "ig_1", "status": "generating", "result": final}
    message = {"type": "message", "id": "m", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": text, "annotations": []}]}
    return [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_9", "status": "in_progress", "output": []}},
        {"type": "response.image_generation_call.partial_image", "sequence_number": 1, "item_id": "ig_1",
         "output_index": 0, "partial_image_index": 0, "partial_image_b64": b64(png())},
        {"type": "response.output_item.done", "sequence_number": 2, "output_index": 0, "item": item},
        {"type": "response.output_text.delta", "sequence_number": 3, "item_id": "m", "output_index": 1,
         "content_index": 0, "delta": text[:2], "obfuscation": "abc"},
        {"type": "response.output_text.delta", "sequence_number": 4, "item_id": "m", "output_index": 1,
         "content_index": 0, "delta": text[2:]},
        {"type": "response.completed", "sequence_number": 5,
         "response": {"id": "resp_9", "status": "completed", "model": "gpt-5", "output": [message]}},
    ]


def test_respond_stream(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(sse_reply(responses_stream(png)))
    stream = mock_client(script).respond("draw", tools=[{"type": "image_generation", "partial_images": 1}], stream=True)
    assert script.json()["stream"] is True
    events = list(stream)
    # Text comes a word at a time: the end of a word is held until it is known not to be a key.
    names = [type(e).__name__ for e in events]
    assert names[:3] == ["ResponseCreated", "PartialImage", "ImageCompleted"] and names[-1] == "ResponseCompleted"
    assert set(names[3:-1]) == {"TextDelta"}
    assert stream.response_id == "resp_9" and stream.text == "Done."
    result = stream.result
    assert isinstance(result, Response) and result.images == [events[2].image] and result.output_text == "Done."


def test_describe_stream_yields_text(mock_client: Any, png: Callable[..., bytes]) -> None:
    script = Script(sse_reply(responses_stream(png, "A blue square.")[3:]))
    stream = mock_client(script).describe(png(), stream=True)
    deltas = [e.delta for e in stream if isinstance(e, TextDelta)]
    assert "".join(deltas) == "A blue square." and stream.result == "A blue square."


def test_stream_error_event_keeps_partials(mock_client: Any, png: Callable[..., bytes]) -> None:
    events = [*responses_stream(png)[:2], {"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "Internal error."}}]
    stream = mock_client(Script(sse_reply(events))).respond("x", stream=True)
    with pytest.raises(StreamError) as info:
        stream.until_done()
    assert info.value.code == "server_error" and len(info.value.partials) == 1 and info.value.response_id == "resp_9"


def test_until_done_returns_what_the_unstreamed_call_returns(mock_client: Any, png: Callable[..., bytes]) -> None:
    client = mock_client(Script(sse_reply(responses_stream(png))))
    response = client.respond("x", stream=True).until_done()
    assert isinstance(response, Response) and response.id == "resp_9"
    assert isinstance(list(client.respond("x", stream=True))[-1], ResponseCompleted)


# -- against the simulator --------------------------------------------------------------------
def test_simulator_generate_streamed_with_two_partials(client: nbimages.Client) -> None:
    events = list(client.generate("a lighthouse at dusk", stream=True, partial_images=2, size="1024x1024",
                                  quality="low"))
    assert [type(e) for e in events] == [PartialImage, PartialImage, ImageCompleted]
    assert [e.index for e in events[:2]] == [0, 1]
    final = events[-1].image
    assert final.format == "png" and final.size == (1024, 1024) and final.prompt == "a lighthouse at dusk"
    assert events[-1].usage is not None and events[-1].usage.output_tokens > 0


def test_simulator_generate_unstreamed(client: nbimages.Client) -> None:
    images = client.generate("two apples", n=2, size="1536x1024", quality="low")
    assert len(images) == 2 and all(img.size == (1536, 1024) for img in images)


def test_simulator_edit_with_a_mask(client: nbimages.Client, simulator: Any, png: Callable[..., bytes]) -> None:
    picture = png((256, 256), (40, 90, 160))
    mask = nbimages.mask_from_box(picture, (64, 64, 192, 192))
    (image,) = client.edit("add a flamingo", picture, mask=mask, size="1024x1024", quality="low")
    assert image.format == "png" and image.width and image.height
    request = simulator.requests[-1]
    assert request.path.endswith("/images/edits")
    assert set(request.files) == {"image", "mask"}


def test_simulator_respond_streamed_then_continued(client: nbimages.Client, simulator: Any) -> None:
    stream = client.respond("Generate a forest lake", tools=[{"type": "image_generation", "partial_images": 1,
                                                              "quality": "low"}], stream=True)
    events = list(stream)
    names = [type(e).__name__ for e in events]
    assert names[0] == "ResponseCreated" and names[-1] == "ResponseCompleted"
    assert "PartialImage" in names and "ImageCompleted" in names
    first = stream.result
    assert first.id.startswith("resp") and len(first.images) == 1
    second = client.respond("now add a canoe", tools=[{"type": "image_generation", "quality": "low"}],
                            previous_response_id=first.id)
    assert second.id != first.id and len(second.images) == 1
    assert simulator.requests[-1].json["previous_response_id"] == first.id


def test_simulator_describe_and_upload(client: nbimages.Client, png: Callable[..., bytes]) -> None:
    picture = png((64, 64), (220, 20, 20))
    text = client.describe(picture, "What colour is this?")
    assert isinstance(text, str) and text.strip()
    file_id = client.upload(picture)
    assert file_id.startswith("file-")
    assert client.describe(file_id, "What colour is this?").strip()


def test_simulator_variations(client: nbimages.Client, png: Callable[..., bytes]) -> None:
    images = client.variations(png((256, 256), (0, 120, 0)), n=2, size="256x256")
    assert len(images) == 2 and all(img.size == (256, 256) for img in images)


def test_simulator_faults_map_to_errors(client: nbimages.Client, simulator: Any, sleeps: list[float]) -> None:
    simulator.faults.add("status", times=1, status=429, retry_after_ms=250)
    (_image,) = client.generate("x", quality="low")
    assert sleeps == [0.25]
    simulator.faults.add("status", times=1, status=400, code="moderation_blocked", message="Rejected.")
    with pytest.raises(ContentPolicyError) as info:
        client.generate("x")
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_simulator_cut_stream_keeps_partials_and_is_not_retried(
    client: nbimages.Client, simulator: Any, sleeps: list[float]
) -> None:
    simulator.faults.add("cut", after_events=2)
    before = len(simulator.requests)
    with pytest.raises(StreamError) as info:
        client.generate("x", stream=True, partial_images=3, quality="low").until_done()
    assert len(info.value.partials) == 2
    assert len(simulator.requests) == before + 1 and sleeps == []


def test_server_client_over_a_real_socket(server_client: nbimages.Client) -> None:
    events = list(server_client.generate("a kite", stream=True, partial_images=2, quality="low"))
    assert [type(e) for e in events] == [PartialImage, PartialImage, ImageCompleted]
    response = server_client.respond("draw a boat", tools=[{"type": "image_generation", "quality": "low"}])
    follow = server_client.respond("make it red", previous_response_id=response.id,
                                   tools=[{"type": "image_generation", "quality": "low"}])
    assert follow.images and follow.id != response.id

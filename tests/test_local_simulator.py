"""The offline simulator through httpx with LocalTransport (sync and async)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from _sim_fixtures import (
    box_mask,
    data_url,
    decode_image,
    half_red_blue,
    parse_sse,
    png_bytes,
    scene_png,
    solid_png,
    sse_json,
    top_bottom,
)
from nbimages.local import FaultPlan, LocalTransport, Simulator
from nbimages._png_text import chunk_types

BASE = "http://simulator.test/v1"


@pytest.fixture
def transport() -> LocalTransport:
    return LocalTransport()


@pytest.fixture
def client(transport: LocalTransport) -> Any:
    with httpx.Client(transport=transport, base_url=BASE,
                      headers={"authorization": "Bearer sk-secret-123"}) as c:
        yield c


def gen(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "a red circle")
    body.setdefault("size", "256x256")
    return client.post("/images/generations", json=body)


def stream_events(client: httpx.Client, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    r = client.post(path, **kwargs)
    assert r.status_code == 200, r.text
    return sse_json(r.content)


# ----------------------------------------------------------------------------- basics


def test_import_is_cheap() -> None:
    code = ("import sys, nbimages.local; "
            "bad = [m for m in ('PIL', 'httpx', 'PIL.Image') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_public_api() -> None:
    import nbimages.local as local

    assert sorted(local.__all__) == local.__all__
    for name in local.__all__:
        assert getattr(local, name) is not None
    t = LocalTransport(latency=0.1, partial_interval=0.2)
    assert isinstance(t, httpx.BaseTransport) and isinstance(t, httpx.AsyncBaseTransport)
    assert isinstance(t.simulator, Simulator) and isinstance(t.simulator.faults, FaultPlan)
    sim = Simulator()
    assert LocalTransport(simulator=sim).simulator is sim


def test_generation_reply_shape(client: httpx.Client) -> None:
    r = gen(client, prompt="a blue square", size="512x256", quality="high", n=2)
    assert r.status_code == 200
    assert r.headers["x-request-id"].startswith("req_")
    body = r.json()
    assert set(body) >= {"created", "data", "background", "output_format", "quality", "size",
                         "usage"}
    assert len(body["data"]) == 2 and body["size"] == "512x256" and body["quality"] == "high"
    usage = body["usage"]
    assert usage["output_tokens"] == 2 * round(4160 * 512 * 256 / 1024 ** 2)
    assert usage["input_tokens_details"]["text_tokens"] == usage["input_tokens"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    img = decode_image(body["data"][0]["b64_json"])
    assert img.size == (512, 256) and img.format == "PNG"
    assert body["data"][0]["revised_prompt"] == "a blue square"
    assert body["data"][0]["b64_json"] != body["data"][1]["b64_json"]  # n images differ


def test_auto_size_and_quality(client: httpx.Client) -> None:
    body = client.post("/images/generations", json={"prompt": "x", "size": "auto",
                                                    "quality": "auto"}).json()
    assert body["size"] == "1024x1024" and body["quality"] == "medium"
    assert body["usage"]["output_tokens"] == 1056


def test_png_carries_c2pa_chunk(client: httpx.Client) -> None:
    data = base64.b64decode(gen(client).json()["data"][0]["b64_json"])
    chunks = chunk_types(data)
    assert chunks[0] == "IHDR" and "caBX" in chunks and chunks[-1] == "IEND"
    decode_image(base64.b64encode(data).decode())  # still a valid PNG


@pytest.mark.parametrize("fmt,magic", [("jpeg", b"\xff\xd8"), ("webp", b"RIFF"),
                                       ("png", b"\x89PNG")])
def test_output_formats(client: httpx.Client, fmt: str, magic: bytes) -> None:
    body = gen(client, output_format=fmt, output_compression=50).json()
    assert body["output_format"] == fmt
    assert base64.b64decode(body["data"][0]["b64_json"]).startswith(magic)


def test_transparent_background(client: httpx.Client) -> None:
    body = gen(client, background="transparent").json()
    img = decode_image(body["data"][0]["b64_json"])
    assert img.mode == "RGBA" and body["background"] == "transparent"
    assert img.getchannel("A").getextrema()[0] == 0
    r = gen(client, background="transparent", output_format="jpeg")
    assert r.status_code == 400 and r.json()["error"]["param"] == "background"


def test_deterministic(client: httpx.Client) -> None:
    a = gen(client, prompt="a green tree").json()["data"][0]["b64_json"]
    b = gen(client, prompt="a green tree").json()["data"][0]["b64_json"]
    c = gen(client, prompt="a green tree by a house").json()["data"][0]["b64_json"]
    assert a == b != c
    with httpx.Client(transport=LocalTransport(), base_url=BASE) as other:
        assert gen(other, prompt="a green tree").json()["data"][0]["b64_json"] == a


def test_image_relates_to_prompt(client: httpx.Client) -> None:
    from nbimages.local.painter.vision import analyse

    body = gen(client, prompt="a red circle and a blue square over green mountains",
               size="1024x1024").json()
    names = dict(analyse(decode_image(body["data"][0]["b64_json"])).colors)
    for colour in ("red", "blue", "green"):
        assert names.get(colour, 0) > 0.03, names


def test_url_response_format_in_transport_is_data_url(client: httpx.Client) -> None:
    body = gen(client, response_format="url").json()
    url = body["data"][0]["url"]
    assert url.startswith("data:image/png;base64,") and "b64_json" not in body["data"][0]


@pytest.mark.parametrize("body,param", [
    ({"prompt": ""}, "prompt"),
    ({}, "prompt"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "n": 11}, "n"),
    ({"prompt": "x", "partial_images": 4, "stream": True}, "partial_images"),
    ({"prompt": "x", "size": "1000x1000"}, "size"),
    ({"prompt": "x", "size": "big"}, "size"),
    ({"prompt": "x", "size": "4096x1024"}, "size"),
    ({"prompt": "x", "output_format": "bmp"}, "output_format"),
    ({"prompt": "x", "output_compression": 101}, "output_compression"),
])
def test_validation_errors(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    r = client.post("/images/generations", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
    assert err["message"] and "code" in err
    assert r.headers["x-request-id"]


def test_bad_json_and_unknown_paths(client: httpx.Client) -> None:
    r = client.post("/images/generations", content=b"{nope",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = client.get("/nothing/here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"
    assert client.get("/responses/resp_missing").status_code == 404
    assert client.get("/files/file-missing").status_code == 404


def test_moderation_hook(client: httpx.Client) -> None:
    r = gen(client, prompt="draw forbidden-content please")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "moderation_blocked" and err["type"] == "image_generation_user_error"


def test_unknown_parameters_pass_through(client: httpx.Client) -> None:
    r = gen(client, model="gpt-image-9-future", quality="ultra", moderation="low",
            brand_new_option={"x": 1})
    assert r.status_code == 200 and r.json()["quality"] == "ultra"


# ----------------------------------------------------------------------------- streaming


def test_stream_partials_then_completed(client: httpx.Client) -> None:
    events = stream_events(client, "/images/generations",
                           json={"prompt": "a sun", "stream": True, "partial_images": 3,
                                 "size": "256x256"})
    assert [e["type"] for e in events] == ["image_generation.partial_image"] * 3 + [
        "image_generation.completed"]
    assert [e.get("partial_image_index") for e in events[:3]] == [0, 1, 2]
    for e in events:
        assert {"b64_json", "size", "quality", "background", "output_format",
                "created_at"} <= set(e)
    assert events[-1]["usage"]["output_tokens"] == round(1056 / 16) + 300
    blobs = [decode_image(e["b64_json"]).convert("RGB").tobytes() for e in events]
    assert len(set(blobs)) == 4
    # partials refine: each is closer to the final than the one before
    final = blobs[-1]

    def distance(a: bytes) -> int:
        return sum(abs(x - y) for x, y in zip(a[::97], final[::97]))

    dists = [distance(b) for b in blobs[:3]]
    assert dists[0] > dists[1] > dists[2] > 0


def test_stream_event_lines(client: httpx.Client) -> None:
    r = client.post("/images/generations", json={"prompt": "x", "stream": True,
                                                 "size": "256x256"})
    raw = parse_sse(r.content)
    assert raw[0]["event"] == "image_generation.completed"
    assert b"[DONE]" not in r.content


def test_partials_arrive_spaced_in_time() -> None:
    t = LocalTransport(partial_interval=0.15)
    with httpx.Client(transport=t, base_url=BASE) as c:
        stamps = []
        start = time.monotonic()
        with c.stream("POST", "/images/generations",
                      json={"prompt": "a moon", "stream": True, "partial_images": 2,
                            "size": "256x256"}) as r:
            assert time.monotonic() - start < 0.15  # headers come before the events
            for line in r.iter_lines():
                if line.startswith("data: "):
                    stamps.append(time.monotonic() - start)
    assert len(stamps) == 3
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(g >= 0.13 for g in gaps), gaps


def test_latency_delays_headers() -> None:
    with httpx.Client(transport=LocalTransport(latency=0.2), base_url=BASE) as c:
        start = time.monotonic()
        c.get("/models")
        assert time.monotonic() - start >= 0.19


def test_async_client_streams_spaced() -> None:
    async def main() -> tuple[list[float], dict[str, Any]]:
        t = LocalTransport(partial_interval=0.1)
        async with httpx.AsyncClient(transport=t, base_url=BASE) as c:
            r = await c.post("/images/generations", json={"prompt": "x", "size": "256x256"})
            stamps: list[float] = []
            start = time.monotonic()
            async with c.stream("POST", "/images/generations",
                                json={"prompt": "a star", "stream": True,
                                      "partial_images": 2, "size": "256x256"}) as s:
                async for line in s.aiter_lines():
                    if line.startswith("data: "):
                        stamps.append(time.monotonic() - start)
            return stamps, r.json()

    stamps, body = asyncio.run(main())
    assert body["data"][0]["b64_json"]
    assert len(stamps) == 3 and stamps[2] - stamps[0] >= 0.18


def test_async_concurrent_requests() -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=LocalTransport(), base_url=BASE) as c:
            rs = await asyncio.gather(*[c.post("/images/generations",
                                               json={"prompt": f"a circle {i}",
                                                     "size": "256x256"}) for i in range(4)])
            return [r.status_code for r in rs]

    assert asyncio.run(main()) == [200] * 4


# ----------------------------------------------------------------------------- edits


def _edit(client: httpx.Client, image: bytes, mask: bytes | None = None,
          **fields: Any) -> httpx.Response:
    files = [("image", ("in.png", image, "image/png"))]
    if mask is not None:
        files.append(("mask", ("mask.png", mask, "image/png")))
    data = {"prompt": "add a yellow star", **{k: str(v) for k, v in fields.items()}}
    return client.post("/images/edits", files=files, data=data)


def test_edit_changes_only_masked_pixels(client: httpx.Client) -> None:
    from PIL import Image

    src = scene_png((256, 192))
    box = (100, 40, 220, 150)
    r = _edit(client, src, box_mask((256, 192), box), prompt="add a yellow star and a cat")
    assert r.status_code == 200, r.text
    out = decode_image(r.json()["data"][0]["b64_json"]).convert("RGB")
    before = Image.open(io.BytesIO(src)).convert("RGB")
    assert out.size == before.size
    outside = Image.new("L", out.size, 255)
    outside.paste(0, box)
    # pixel-exact outside the box
    keep_a = Image.composite(out, Image.new("RGB", out.size), outside).tobytes()
    keep_b = Image.composite(before, Image.new("RGB", out.size), outside).tobytes()
    assert keep_a == keep_b
    # inside the box: most pixels changed
    ia, ib = out.crop(box).tobytes(), before.crop(box).tobytes()
    changed = sum(1 for i in range(0, len(ia), 3) if ia[i:i + 3] != ib[i:i + 3])
    assert changed / (len(ia) / 3) > 0.9


def test_edit_rgba_input_keeps_alpha_outside_mask(client: httpx.Client) -> None:
    from PIL import Image

    img = Image.new("RGBA", (64, 64), (10, 200, 30, 128))
    src = png_bytes(img)
    r = _edit(client, src, box_mask((64, 64), (0, 0, 32, 64)))
    out = decode_image(r.json()["data"][0]["b64_json"])
    assert out.mode == "RGBA"
    assert out.crop((32, 0, 64, 64)).tobytes() == img.crop((32, 0, 64, 64)).tobytes()


def test_edit_without_mask_keeps_the_picture(client: httpx.Client) -> None:
    from PIL import Image

    src = scene_png((256, 256))
    out = decode_image(_edit(client, src, prompt="add a boat").json()["data"][0]["b64_json"])
    before = Image.open(io.BytesIO(src)).convert("RGB")
    a, b = out.convert("RGB").tobytes(), before.tobytes()
    same = sum(1 for i in range(0, len(a), 3) if a[i:i + 3] == b[i:i + 3]) / (len(a) / 3)
    assert 0.4 < same < 0.99


def test_edit_image_array_and_json_form(client: httpx.Client) -> None:
    src = scene_png((128, 128))
    files = [("image[]", ("a.png", src, "image/png")),
             ("image[]", ("b.png", half_red_blue(), "image/png"))]
    r = client.post("/images/edits", files=files, data={"prompt": "combine", "n": "2"})
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    usage = r.json()["usage"]
    assert usage["input_tokens_details"]["image_tokens"] > 0

    up = client.post("/files", files={"file": ("s.png", src, "image/png")},
                     data={"purpose": "vision"}).json()
    mask = box_mask((128, 128), (0, 0, 64, 64))
    r = client.post("/images/edits", json={
        "prompt": "add a sun", "images": [{"file_id": up["id"]}],
        "mask": {"image_url": data_url(mask)}})
    assert r.status_code == 200, r.text
    out = decode_image(r.json()["data"][0]["b64_json"]).convert("RGB")
    from PIL import Image

    before = Image.open(io.BytesIO(src)).convert("RGB")
    assert out.crop((64, 0, 128, 128)).tobytes() == before.crop((64, 0, 128, 128)).tobytes()

    r = client.post("/images/edits", json={"prompt": "x",
                                           "images": [{"image_url": data_url(src)}]})
    assert r.status_code == 200


def test_edit_streamed(client: httpx.Client) -> None:
    r = client.post("/images/edits", files=[("image", ("a.png", scene_png(), "image/png"))],
                    data={"prompt": "add a moon", "stream": "true", "partial_images": "2"})
    types = [e["type"] for e in sse_json(r.content)]
    assert types == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]


@pytest.mark.parametrize("case,param", [
    ("mask_size", "mask"), ("mask_no_alpha", "mask"), ("bad_image", "image"),
    ("no_image", "image"), ("bad_mask", "mask"), ("empty_prompt", "prompt"),
])
def test_edit_errors(client: httpx.Client, case: str, param: str) -> None:
    src = scene_png((64, 64))
    if case == "mask_size":
        r = _edit(client, src, box_mask((32, 32), (0, 0, 8, 8)))
    elif case == "mask_no_alpha":
        r = _edit(client, src, solid_png((64, 64), (0, 0, 0)))
    elif case == "bad_image":
        r = _edit(client, b"this is not a png")
    elif case == "bad_mask":
        r = _edit(client, src, b"nope")
    elif case == "no_image":
        r = client.post("/images/edits", files=[("other", ("a.txt", b"x", "text/plain"))],
                        data={"prompt": "x"})
    else:
        r = _edit(client, src, prompt="")
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_variations(client: httpx.Client) -> None:
    r = client.post("/images/variations", files={"image": ("a.png", scene_png(), "image/png")},
                    data={"n": "3", "size": "256x256"})
    data = r.json()["data"]
    assert len(data) == 3 and len({d["b64_json"] for d in data}) == 3
    assert decode_image(data[0]["b64_json"]).size == (256, 256)
    r = client.post("/images/variations", files={"other": ("a.png", b"x", "image/png")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"


# ----------------------------------------------------------------------------- files


def test_files_roundtrip(client: httpx.Client) -> None:
    data = scene_png()
    r = client.post("/files", files={"file": ("scene.png", data, "image/png")},
                    data={"purpose": "user_data"})
    obj = r.json()
    assert obj["object"] == "file" and obj["id"].startswith("file-")
    assert obj["bytes"] == len(data) and obj["status"] == "processed"
    assert obj["filename"] == "scene.png" and obj["purpose"] == "user_data"
    assert client.get(f"/files/{obj['id']}").json() == obj
    content = client.get(f"/files/{obj['id']}/content")
    assert content.content == data and content.headers["content-type"] == "image/png"
    assert [f["id"] for f in client.get("/files").json()["data"]] == [obj["id"]]
    assert client.delete(f"/files/{obj['id']}").json()["deleted"] is True
    assert client.get(f"/files/{obj['id']}").status_code == 404
    r = client.post("/files", files={"file": ("a.png", data, "image/png")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "purpose"


# ----------------------------------------------------------------------------- vision


def vision(client: httpx.Client, image: bytes, question: str = "What is in this image?",
           detail: str = "auto", stream: bool = False) -> Any:
    body = {"model": "gpt-4.1", "stream": stream, "input": [{
        "role": "user", "content": [{"type": "input_text", "text": question},
                                    {"type": "input_image", "image_url": data_url(image),
                                     "detail": detail}]}]}
    return client.post("/responses", json=body)


def output_text(resp: dict[str, Any]) -> str:
    return "".join(c["text"] for o in resp["output"] if o["type"] == "message"
                   for c in o["content"] if c["type"] == "output_text")


def test_vision_half_red_half_blue(client: httpx.Client) -> None:
    text = output_text(vision(client, half_red_blue((200, 100))).json())
    assert text.startswith("You asked: *What is in this image?*")
    assert "200 × 100 pixels" in text and "landscape" in text
    assert "red (50%)" in text and "blue (50%)" in text
    assert "red on the left, blue on the right" in text
    assert "none, every pixel is opaque" in text


def test_vision_transparency_and_brightness(client: httpx.Client) -> None:
    from PIL import Image

    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    img.paste((255, 255, 255, 255), (0, 0, 100, 25))
    text = output_text(vision(client, png_bytes(img), "is it transparent?").json())
    assert "75% of the pixels are transparent" in text
    assert "white (100%)" in text and "bright" in text
    dark = output_text(vision(client, solid_png((50, 80), (5, 5, 10))).json())
    assert "dark" in dark and "portrait" in dark and "black" in dark


def test_vision_layout_top_bottom(client: httpx.Client) -> None:
    text = output_text(vision(client, top_bottom((64, 96), (255, 255, 0), (0, 128, 0))).json())
    assert "mostly yellow at the top and green at the bottom" in text


def test_vision_names_grass_and_sky_of_a_generated_landscape(client: httpx.Client) -> None:
    # Mid greens and blues are what the procedural landscapes are made of: never "gray" or "turquoise".
    body = {"model": "gpt-image-1.5", "prompt": "a field of sunflowers under a blue sky", "size": "1536x1024"}
    image = base64.b64decode(client.post("/images/generations", json=body).json()["data"][0]["b64_json"])
    text = output_text(vision(client, image).json())
    assert "green at the bottom" in text
    dominant = text.split("Dominant colours:")[1].split("\n")[0]
    assert "green" in dominant and "blue" in dominant
    assert "gray" not in dominant and "turquoise" not in dominant


def test_sunflowers_are_yellow() -> None:
    from nbimages.local.painter.scene import parse_prompt

    (flower,) = [e for e in parse_prompt("three sunflowers").elements if e.kind == "flower"]
    red, green, blue = flower.color or (0, 0, 0)
    assert red > 200 and green > 150 and blue < 100 and flower.count == 3


def test_vision_low_detail_and_tokens(client: httpx.Client) -> None:
    big = half_red_blue((2048, 1024))
    low = vision(client, big, detail="low").json()
    high = vision(client, big, detail="high").json()
    assert "low detail" in output_text(low)
    assert "2048 × 1024" in output_text(low)
    assert low["usage"]["input_tokens"] < high["usage"]["input_tokens"]


def test_vision_streams_text_deltas(client: httpx.Client) -> None:
    events = sse_json(vision(client, half_red_blue(), stream=True).content)
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) >= 3
    done = next(e for e in events if e["type"] == "response.output_text.done")
    assert "".join(deltas) == done["text"]
    assert events[-1]["type"] == "response.completed"


def test_vision_with_image_tool_and_question_answers_in_text(client: httpx.Client) -> None:
    body = {"model": "gpt-5", "tools": [{"type": "image_generation"}], "input": [{
        "role": "user", "content": [{"type": "input_text", "text": "What colours are here?"},
                                    {"type": "input_image",
                                     "image_url": data_url(half_red_blue())}]}]}
    resp = client.post("/responses", json=body).json()
    assert [o["type"] for o in resp["output"]] == ["message"]


# ----------------------------------------------------------------------------- responses


def respond(client: httpx.Client, input: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("tools", [{"type": "image_generation", "size": "256x256"}])
    r = client.post("/responses", json={"model": "gpt-5", "input": input, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_responses_generate_and_chain(client: httpx.Client) -> None:
    first = respond(client, "a forest lake at sunrise")
    call, msg = first["output"]
    assert call["type"] == "image_generation_call" and call["id"].startswith("ig_")
    assert call["status"] == "completed" and call["action"] == "generate"
    assert {"result", "revised_prompt", "size", "quality", "background",
            "output_format"} <= set(call)
    assert msg["type"] == "message" and msg["role"] == "assistant"
    assert first["usage"]["total_tokens"] > 0
    assert first["tool_usage"]["image_gen"]["output_tokens"] == round(1056 / 16)

    second = respond(client, "now add a canoe", previous_response_id=first["id"])
    assert second["output"][0]["action"] == "edit"
    assert second["previous_response_id"] == first["id"]
    assert "canoe" in second["output"][0]["revised_prompt"]
    assert "forest lake" in second["output"][0]["revised_prompt"]
    a = decode_image(call["result"]).convert("RGB").tobytes()
    b = decode_image(second["output"][0]["result"]).convert("RGB").tobytes()
    same = sum(1 for i in range(0, len(a), 3) if a[i:i + 3] == b[i:i + 3]) / (len(a) / 3)
    assert 0.5 < same < 1.0

    # a chain through a text-only turn still finds the last image
    third = respond(client, "thanks!", previous_response_id=second["id"], tools=[])
    fourth = respond(client, "add a sun", previous_response_id=third["id"])
    assert fourth["output"][0]["action"] == "edit"
    assert client.get(f"/responses/{fourth['id']}").json()["id"] == fourth["id"]


def test_responses_input_image_and_mask(client: httpx.Client) -> None:
    src = scene_png((128, 128))
    mask = box_mask((128, 128), (64, 64, 128, 128))
    resp = respond(client, [{"role": "user", "content": [
        {"type": "input_text", "text": "put a flower here"},
        {"type": "input_image", "image_url": data_url(src)}]}],
        tools=[{"type": "image_generation", "input_image_mask": {"image_url": data_url(mask)}}])
    from PIL import Image

    out = decode_image(resp["output"][0]["result"]).convert("RGB")
    before = Image.open(io.BytesIO(src)).convert("RGB")
    assert out.crop((0, 0, 128, 64)).tobytes() == before.crop((0, 0, 128, 64)).tobytes()
    assert out.crop((64, 64, 128, 128)).tobytes() != before.crop((64, 64, 128, 128)).tobytes()


def test_responses_action_generate_ignores_previous(client: httpx.Client) -> None:
    first = respond(client, "a house")
    again = respond(client, "a house", previous_response_id=first["id"],
                    tools=[{"type": "image_generation", "action": "generate",
                            "size": "256x256"}])
    assert again["output"][0]["action"] == "generate"
    assert again["output"][0]["result"] == first["output"][0]["result"]


def test_responses_errors(client: httpx.Client) -> None:
    r = client.post("/responses", json={"model": "gpt-5", "input": "x",
                                        "previous_response_id": "resp_nope"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "previous_response_id"
    r = client.post("/responses", json={"model": "gpt-5", "input": [
        {"type": "image_generation_call", "id": "ig_nope"}]})
    assert r.status_code == 404
    r = client.post("/responses", json={"input": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    r = client.post("/responses", json={"model": "gpt-5", "input": "x", "tools": [
        {"type": "image_generation", "partial_images": 5}], "stream": True})
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].partial_images"
    r = client.post("/responses", json={"model": "gpt-5", "input": "forbidden-content",
                                        "tools": [{"type": "image_generation"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "moderation_blocked"
    r = client.post("/responses", json={"model": "gpt-5", "input": "x", "tools": [
        {"type": "image_generation", "action": "edit"}]})
    assert r.status_code == 400


def test_responses_store_false_is_not_kept(client: httpx.Client) -> None:
    resp = respond(client, "hello", tools=[], store=False)
    assert client.get(f"/responses/{resp['id']}").status_code == 404


def test_responses_stream_sequence(client: httpx.Client) -> None:
    events = stream_events(client, "/responses", json={
        "model": "gpt-5", "input": "a red star", "stream": True,
        "tools": [{"type": "image_generation", "partial_images": 2, "size": "256x256"}]})
    types = [e["type"] for e in events]
    head = ["response.created", "response.in_progress", "response.output_item.added",
            "response.image_generation_call.in_progress",
            "response.image_generation_call.generating",
            "response.image_generation_call.partial_image",
            "response.image_generation_call.partial_image",
            "response.image_generation_call.completed", "response.output_item.done",
            "response.output_item.added", "response.content_part.added"]
    assert types[:len(head)] == head
    assert types[-5:] == ["response.output_text.delta", "response.output_text.done",
                          "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    partial = events[5]
    assert {"item_id", "output_index", "partial_image_index", "partial_image_b64", "size",
            "quality", "background", "output_format"} <= set(partial)
    assert events[8]["item"]["result"]
    assert events[-1]["response"]["output"][0]["result"] == events[8]["item"]["result"]
    assert events[-1]["response"]["usage"]["total_tokens"] > 0
    assert events[0]["response"]["status"] == "in_progress"


def test_models(client: httpx.Client) -> None:
    ids = [m["id"] for m in client.get("/models").json()["data"]]
    assert {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-5", "gpt-4.1"} <= set(ids)
    assert client.get("/models/gpt-image-1.5").json()["object"] == "model"
    assert client.get("/models/nope").status_code == 404


# ----------------------------------------------------------------------------- records


def test_requests_are_recorded_without_authorization(client: httpx.Client,
                                                     transport: LocalTransport) -> None:
    gen(client, prompt="a tree")
    _edit(client, scene_png((64, 64)), box_mask((64, 64), (0, 0, 8, 8)))
    reqs = transport.simulator.requests
    assert [r.path for r in reqs] == ["/v1/images/generations", "/v1/images/edits"]
    assert reqs[0].json["prompt"] == "a tree"
    assert "authorization" not in reqs[0].headers
    assert "sk-secret-123" not in repr(reqs)
    assert reqs[1].form["prompt"] == "add a yellow star"
    assert reqs[1].files["image"][0].filename == "in.png"
    assert reqs[1].files["mask"][0].size == len(reqs[1].files["mask"][0].data)
    transport.simulator.clear_requests()
    assert transport.simulator.requests == []


# ----------------------------------------------------------------------------- faults


def test_fault_status(client: httpx.Client, transport: LocalTransport) -> None:
    faults = transport.simulator.faults
    faults.add("status", status=429, retry_after=2, retry_after_ms=1500,
               path="/images/generations")
    assert client.get("/models").status_code == 200  # path does not match
    r = gen(client)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2" and r.headers["retry-after-ms"] == "1500"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert gen(client).status_code == 200  # used once
    faults.add("status", status=500, times=2, code="boom", type="server_error", message="m")
    assert [gen(client).status_code for _ in range(3)] == [500, 500, 200]
    faults.add("status", status=401)
    err = gen(client).json()["error"]
    assert err["code"] == "invalid_api_key"
    faults.add("status", status=400, code="x")
    faults.clear()
    assert len(faults) == 0 and gen(client).status_code == 200


def test_fault_drop(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("drop")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        gen(client)
    assert gen(client).status_code == 200
    assert len(transport.simulator.requests) == 2


def test_fault_cut(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("cut", after_events=2)
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", "/images/generations",
                           json={"prompt": "x", "stream": True, "partial_images": 3,
                                 "size": "256x256"}) as r:
            for line in r.iter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:])["type"])
    assert received == ["image_generation.partial_image"] * 2
    transport.simulator.faults.add("cut")
    with pytest.raises(httpx.RemoteProtocolError):
        gen(client)  # a non-streamed body cut in half


def test_fault_malformed(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("malformed", at_event=1)
    r = client.post("/images/generations", json={"prompt": "x", "stream": True,
                                                 "partial_images": 2, "size": "256x256"})
    events = parse_sse(r.content)
    assert len(events) == 3 and events[1]["data"] == "{not json"
    json.loads(events[2]["data"])


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_fault_error_event(client: httpx.Client, transport: LocalTransport, shape: str) -> None:
    transport.simulator.faults.add("error_event", at_event=1, shape=shape, code="server_error",
                                   message="went wrong")
    events = sse_json(client.post("/responses", json={"model": "gpt-5", "input": "x",
                                                      "stream": True}).content)
    assert len(events) == 2 and events[-1]["type"] == "error"
    if shape == "flat":
        assert events[-1]["code"] == "server_error" and events[-1]["sequence_number"] == 1
        assert events[-1]["message"] == "went wrong" and "param" in events[-1]
    else:
        assert events[-1]["error"]["message"] == "went wrong"
        assert set(events[-1]["error"]) == {"type", "code", "message", "param"}


def test_fault_unknown_events(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("unknown_events", split=True)
    with client.stream("POST", "/images/generations",
                       json={"prompt": "x", "stream": True, "partial_images": 1,
                             "size": "256x256"}) as r:
        chunks = list(r.iter_raw())
    raw = b"".join(chunks)
    assert len(chunks) > 6  # cut at odd places
    assert b"\r\n" in raw and b": keep-alive" in raw and b"id: " in raw and b"retry: " in raw
    types = [e["type"] for e in sse_json(raw)]
    assert "simulator.unknown_event" in types
    assert [t for t in types if t != "simulator.unknown_event"] == [
        "image_generation.partial_image", "image_generation.completed"]


def test_fault_stall_before_headers(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("stall", seconds=0.3)
    start = time.monotonic()
    assert gen(client).status_code == 200
    assert time.monotonic() - start >= 0.28
    # a stall longer than the client's read timeout ends in a ReadTimeout, capped
    transport.simulator.faults.add("stall", seconds=30)
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post("/images/generations", json={"prompt": "x"}, timeout=0.2)
    assert time.monotonic() - start < 2


def test_fault_stall_mid_stream(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("stall", seconds=0.3, at_event=1)
    stamps = []
    start = time.monotonic()
    with client.stream("POST", "/images/generations",
                       json={"prompt": "x", "stream": True, "partial_images": 1,
                             "size": "256x256"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                stamps.append(time.monotonic() - start)
    assert stamps[1] - stamps[0] >= 0.28
    transport.simulator.faults.add("stall", seconds=30, at_event=1)
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        with client.stream("POST", "/images/generations", timeout=0.3,
                           json={"prompt": "x", "stream": True, "partial_images": 1,
                                 "size": "256x256"}) as r:
            for _ in r.iter_lines():
                pass
    assert time.monotonic() - start < 3


def test_faults_async_transport() -> None:
    async def main() -> list[str]:
        t = LocalTransport()
        seen = []
        async with httpx.AsyncClient(transport=t, base_url=BASE) as c:
            t.simulator.faults.add("drop")
            try:
                await c.get("/models")
            except httpx.RemoteProtocolError:
                seen.append("drop")
            t.simulator.faults.add("cut", after_events=1)
            try:
                async with c.stream("POST", "/images/generations",
                                    json={"prompt": "x", "stream": True, "partial_images": 2,
                                          "size": "256x256"}) as r:
                    async for _ in r.aiter_lines():
                        pass
            except httpx.RemoteProtocolError:
                seen.append("cut")
            t.simulator.faults.add("stall", seconds=30)
            try:
                await c.get("/models", timeout=0.2)
            except httpx.ReadTimeout:
                seen.append("stall")
        return seen

    assert asyncio.run(main()) == ["drop", "cut", "stall"]


def test_fault_plan_matching() -> None:
    plan = FaultPlan()
    plan.add("status", status=500, path="/responses", method="POST")
    assert plan.take("GET", "/v1/responses/resp_1") is None
    assert plan.take("POST", "/v1/images/generations") is None
    assert plan.take("POST", "/v1/responses").kind == "status"
    assert plan.take("POST", "/v1/responses") is None
    with pytest.raises(ValueError):
        plan.add("explode")
    plan.extend([{"kind": "drop", "times": 2}])
    assert plan.take("GET", "/v1/models").kind == "drop"
    assert plan.pending[0].to_dict()["times"] == 1


# ----------------------------------------------------------------------------- pictures

LONG_PROMPT = "a cozy red cabin by a lake under snowy mountains, gentle waves"


def test_refine_of_an_input_image_covers_its_whole_old_label(client: httpx.Client) -> None:
    # The image comes back as an input_image (no response id), so the simulator does not
    # know the old label's text: the new band must still hide all of it.
    from nbimages.local.painter.label import label_box

    first = client.post("/images/generations", json={"prompt": LONG_PROMPT, "size": "1024x1024"})
    b64 = first.json()["data"][0]["b64_json"]
    resp = respond(client, [{"role": "user", "content": [
        {"type": "input_text", "text": "add a sun"},
        {"type": "input_image", "image_url": "data:image/png;base64," + b64}]}],
        tools=[{"type": "image_generation", "size": "1024x1024"}])
    img = decode_image(resp["output"][0]["result"]).convert("RGB")
    old = label_box(img.size, LONG_PROMPT)
    new = label_box(img.size, "add a sun")
    assert old is not None and new is not None and old[2] > new[2] + 100
    # right of the new text, where the old text's tail was, only the dark band remains
    corner = int(max(10, round(1024 / 54)) * 0.4) + 2  # the old band's rounded corners
    tail = img.crop((int(new[2]) + 2, int(old[1]) + corner, int(old[2]) - corner,
                     int(old[3]) - corner))
    assert max(hi for _, hi in tail.getextrema()) <= 64


def test_edit_of_a_picture_without_label_adds_no_cover_band(client: httpx.Client) -> None:
    from nbimages.local.painter.label import label_box

    size = (512, 512)
    photo = solid_png(size, (200, 220, 240))
    resp = respond(client, [{"role": "user", "content": [
        {"type": "input_text", "text": "warmer"},
        {"type": "input_image", "image_url": data_url(photo)}]}],
        tools=[{"type": "image_generation", "size": "512x512"}])
    img = decode_image(resp["output"][0]["result"]).convert("RGB")
    new = label_box(size, "warmer")
    assert new is not None
    beside = img.getpixel((int(new[2]) + 20, int((new[1] + new[3]) / 2)))
    assert min(beside) > 150  # the light photo, not a dark band


def test_back_hill_reaches_down_behind_the_front_hill() -> None:
    from nbimages.local.painter.render import render

    img = render("green hills", (1536, 1024), 7, label=False).convert("RGB")
    w, h = img.size
    # left, only the back hill is there: one colour from its slope to the bottom edge
    column = {img.getpixel((int(w * 0.05), y)) for y in range(int(h * 0.8), h)}
    assert len(column) == 1
    # and the ground is unbroken under where things stand
    assert all(img.getpixel((x, int(h * 0.83)))[1] > img.getpixel((x, int(h * 0.83)))[2]
               for x in range(0, w, 16))


def test_a_colour_before_sky_colours_the_sky_not_the_clouds() -> None:
    from nbimages.local.painter.render import render
    from nbimages.local.painter.scene import parse_prompt

    for prompt in ("blue sky with clouds", "clouds in a blue sky"):
        scene = parse_prompt(prompt)
        (cloud,) = scene.elements
        assert cloud.kind == "cloud" and cloud.color is None and scene.sky == (0, 0, 255)
    pink = parse_prompt("a pink sky over a red car")
    assert pink.sky == (255, 192, 203) and pink.elements[0].color == (255, 0, 0)

    img = render("blue sky with clouds", (512, 512), 1, label=False).convert("RGB")
    clouds = [img.getpixel((x, y)) for x in range(0, 512, 4) for y in range(40, 160, 4)]
    # the clouds are white (all channels high), the sky around them blue
    assert any(min(px) > 225 for px in clouds)
    assert not any(px[2] > 200 and px[0] < 80 and px[1] < 80 and px != img.getpixel((5, 5))
                   for px in clouds if min(px) < 100)
    top = img.getpixel((5, 5))
    assert top[2] > top[0] + 80 and top[2] > top[1] + 40
    sky_pink = render("a pink sky over a red car", (256, 256), 1, label=False).getpixel((5, 5))
    assert sky_pink[0] > 230 and sky_pink[1] > 170 and sky_pink[2] > 180


@pytest.mark.parametrize("prompt,kind", [
    ("a lighthouse", "lighthouse"), ("a hot-air balloon", "balloon"), ("a red car", "car"),
    ("a parrot", "bird"), ("a horse", "cat"), ("two rabbits", "cat"), ("an owl", "bird"),
])
def test_common_subjects_are_drawn(prompt: str, kind: str) -> None:
    from nbimages.local.painter.render import render
    from nbimages.local.painter.scene import parse_prompt

    assert [e.kind for e in parse_prompt(prompt).elements] == [kind]
    a = render(prompt, (256, 256), 5, label=False).convert("RGB")
    sky_only = render("a day sky", (256, 256), 5, label=False).convert("RGB")
    assert a.tobytes() == render(prompt, (256, 256), 5, label=False).convert("RGB").tobytes()
    diff = sum(1 for p, q in zip(a.get_flattened_data(), sky_only.get_flattened_data())
               if sum(abs(u - v) for u, v in zip(p, q)) > 60)
    assert diff > 256 * 256 * 0.002  # something visible was drawn


def test_lighthouse_balloon_and_parrot_have_their_colours() -> None:
    from nbimages.local.painter.render import render

    img = render("a lighthouse by the sea, a hot-air balloon and a parrot", (512, 512), 2,
                 label=False).convert("RGB")
    pixels = list(img.get_flattened_data())
    red = sum(1 for r, g, b in pixels if r > 180 and g < 80 and b < 80)
    white = sum(1 for r, g, b in pixels if min(r, g, b) > 225)
    assert red > 512 * 512 * 0.03 and white > 512 * 512 * 0.01  # red and white bands


def test_boat_added_in_an_edit_floats_beside_the_cabin(client: httpx.Client) -> None:
    from PIL import ImageChops

    size = {"type": "image_generation", "size": "1024x1024"}
    first = respond(client, LONG_PROMPT, tools=[size])
    second = respond(client, "add a small boat on the lake", previous_response_id=first["id"],
                     tools=[size])
    before = decode_image(first["output"][0]["result"]).convert("RGB")
    after = decode_image(second["output"][0]["result"]).convert("RGB")
    # where the cabin is (red walls), nothing changed
    cabin = [(x, y) for x in range(0, 1024, 4) for y in range(300, 800, 4)
             if before.getpixel((x, y))[0] > 200 and before.getpixel((x, y))[1] < 40]
    assert len(cabin) > 500
    assert all(after.getpixel(p) == before.getpixel(p) for p in cabin)
    # the boat is in the water (below its top at 0.74 h), above the new label
    changed = ImageChops.difference(before, after).crop((0, 0, 1024, 900)).getbbox()
    assert changed is not None
    assert changed[1] > 1024 * 0.72 and changed[3] < 1024 * 0.92


def test_small_and_big_scale_things() -> None:
    from nbimages.local.painter.scene import parse_prompt

    (small,) = [e for e in parse_prompt("a small boat on the lake").elements if e.kind == "boat"]
    (big,) = parse_prompt("a huge red balloon").elements
    assert small.scale < 1 < big.scale and big.color == (255, 0, 0)


def test_label_band_is_one_even_colour_into_its_rounded_corners() -> None:
    # A translucent band drawn in overlapping parts showed darker seams in its corners.
    from nbimages.local.painter.label import label_box
    from nbimages.local.painter.render import render

    img = render("blue sky with clouds", (1024, 1024), 1).convert("RGB")
    box = label_box(img.size, "blue sky with clouds")
    assert box is not None
    px = max(10, round(1024 / 54))
    x0, y0, x1, y1 = (int(v) for v in box)
    r = int(px * 0.5)  # the corner zones, left and right of the text (which starts 0.6 px in)
    for y in range(y0 - 1, y1 + 2):
        sky, band = img.getpixel((x0 - 3, y)), img.getpixel((x0 + r + 1, y))
        corners = [*range(x0 - 1, x0 + r), *range(x1 - r, x1 + 2)]
        assert {img.getpixel((x, y)) for x in corners} <= {sky, band}, y


def test_a_chain_of_edits_keeps_the_cabin_clear_and_the_label_band_its_size(
        client: httpx.Client) -> None:
    from nbimages.local.painter.label import find_label_band, label_box

    tool = [{"type": "image_generation", "size": "1024x1024"}]
    prev = respond(client, LONG_PROMPT, tools=tool)
    first = decode_image(prev["output"][0]["result"]).convert("RGB")
    cabin = [(x, y) for x in range(0, 1024, 4) for y in range(300, 800, 4)
             if first.getpixel((x, y))[0] > 200 and first.getpixel((x, y))[1] < 40]
    assert len(cabin) > 500
    for turn in ("add a small boat on the lake", "add a fish", "add a tree", "add a red car"):
        prev = respond(client, turn, previous_response_id=prev["id"], tools=tool)
        img = decode_image(prev["output"][0]["result"]).convert("RGB")
        # each new thing went beside the cabin; the band covering the first label stays put
        assert all(img.getpixel(p) == first.getpixel(p) for p in cabin), turn
        assert find_label_band(img) == label_box(img.size, LONG_PROMPT), turn


def test_a_mood_only_edit_relights_the_picture_instead_of_adding_shapes(
        client: httpx.Client) -> None:
    from PIL import ImageStat

    tool = [{"type": "image_generation", "size": "512x512"}]
    first = respond(client, "a red house on green hills", tools=tool)
    night = respond(client, "make it night", previous_response_id=first["id"], tools=tool)
    before = decode_image(first["output"][0]["result"]).convert("RGB")
    after = decode_image(night["output"][0]["result"]).convert("RGB")
    top_before = ImageStat.Stat(before.crop((0, 0, 512, 200))).mean
    top_after = ImageStat.Stat(after.crop((0, 0, 512, 200))).mean
    assert sum(top_after) < sum(top_before) * 0.8  # a darker sky
    # the house is where it was (tinted, not painted over by shapes)
    house = [(x, y) for x in range(0, 512, 4) for y in range(150, 460, 4)
             if before.getpixel((x, y))[0] > 150 and before.getpixel((x, y))[1] < 60]
    assert len(house) > 100
    assert all(after.getpixel(p)[0] > after.getpixel(p)[1] + 40 for p in house)


def test_a_parrot_on_its_own_is_a_big_red_bird() -> None:
    from nbimages.local.painter.render import render

    img = render("a parrot", (512, 512), 4, label=False).convert("RGB")
    red = [(x, y) for x in range(0, 512, 2) for y in range(0, 512, 2)
           if img.getpixel((x, y))[0] > 180 and max(img.getpixel((x, y))[1:]) < 90]
    assert len(red) > 150  # a few hundred red pixels on a 256 x 256 grid, not a speck
    xs = [x for x, _ in red]
    assert max(xs) - min(xs) > 512 * 0.12


def test_a_cat_and_a_dog_are_two_animals_but_a_tree_said_twice_is_one() -> None:
    from nbimages.local.painter.render import render
    from nbimages.local.painter.scene import parse_prompt

    animals = [e for e in parse_prompt("a cat and a dog on a meadow").elements if e.kind == "cat"]
    assert [e.word for e in animals] == ["cat", "dog"] and animals[0].color != animals[1].color
    assert [e.count for e in parse_prompt("a tree by the lake, the tree is tall").elements
            if e.kind == "tree"] == [1]
    img = render("a cat and a dog", (512, 256), 3, label=False).convert("RGB")
    # one animal in each half (their dark eyes)
    for half in ((0, 0, 256, 256), (256, 0, 512, 256)):
        dark = img.crop(half).convert("L").point(lambda v: 255 if v < 50 else 0)
        assert dark.getbbox() is not None, half

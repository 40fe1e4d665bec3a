"""The simulator's protocol: Images, Responses and Files APIs, errors, records and faults.

The pictures do not matter here: most tests run with :class:`FlatPainter`, flat colours
chosen by the seed (fast); what the default painter draws and sees is in
test_simulator_pictures.py, the transport's timing and broken connections in
test_local_simulator.py.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from nbimages._png_text import chunk_types
from nbimages.local import FaultPlan, LocalTransport, Picture, Simulator

from _sim_client import BASE, edit, gen, respond, stream_events, vision
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
)


class FlatPainter:
    """Flat colours chosen by the seed: a new picture is one colour (its top half clear when
    transparent), an edit paints the mask's box (or the top-left quarter) in one colour."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @staticmethod
    def colour(seed: int) -> tuple[int, int, int]:
        return (seed & 255, (seed >> 8) & 255, (seed >> 16) & 255)

    def render(self, prompt: str, size: tuple[int, int], seed: int, *, transparent: bool) -> Picture:
        from PIL import Image

        self.calls.append(("render", {"prompt": prompt, "size": size, "transparent": transparent}))
        img = Image.new("RGBA" if transparent else "RGB", size, self.colour(seed))
        if transparent:
            img.paste((0, 0, 0, 0), (0, 0, size[0], size[1] // 2))
        return Picture(img, notes=("render", prompt))

    def edit(self, image: Any, prompt: str, seed: int, *, mask: Any, references: Sequence[Any],
             context: str | None, notes: object) -> Picture:
        self.calls.append(("edit", {"prompt": prompt, "size": image.size, "mode": image.mode,
                                    "mask": mask is not None, "references": len(references),
                                    "context": context, "notes": notes}))
        out = image.copy()
        box = mask.getbbox() if mask is not None else (0, 0, image.width // 2, image.height // 2)
        if box:
            out.paste(self.colour(seed) + ((255,) if out.mode == "RGBA" else ()), box)
        return Picture(out, notes=("edit", prompt))

    def variation(self, image: Any, size: tuple[int, int], seed: int) -> Any:
        from PIL import Image

        self.calls.append(("variation", {"size": size}))
        return Image.new("RGB", size, self.colour(seed))

    def partial(self, final: Any, index: int, total: int) -> Any:
        from PIL import Image

        gray = Image.new(final.mode, final.size, (128,) * len(final.getbands()))
        return Image.blend(gray, final, (index + 1) / (total + 1))

    def describe(self, images: Sequence[tuple[Any, str]], question: str) -> str:
        self.calls.append(("describe", {"question": question, "details": [d for _, d in images]}))
        sizes = ", ".join(f"{img.width}x{img.height} ({detail})" for img, detail in images)
        return f"Flat painter: you asked {question!r} about {len(images)} image(s): {sizes}."


@pytest.fixture
def painter() -> FlatPainter:
    return FlatPainter()


@pytest.fixture
def transport(painter: FlatPainter) -> LocalTransport:
    return LocalTransport(simulator=Simulator(painter=painter))


@pytest.fixture
def client(transport: LocalTransport) -> Iterator[httpx.Client]:
    with httpx.Client(transport=transport, base_url=BASE,
                      headers={"authorization": "Bearer sk-secret-123"}) as c:
        yield c



# ----------------------------------------------------------------------------- images: generations


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
    with httpx.Client(transport=LocalTransport(simulator=Simulator(painter=FlatPainter())),
                      base_url=BASE) as other:
        assert gen(other, prompt="a green tree").json()["data"][0]["b64_json"] == a


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


@pytest.mark.parametrize("body,param,says", [
    ({"model": "gpt-image-1.5", "size": "2048x1152"}, "size", "'1024x1536'"),
    ({"model": "gpt-image-2", "size": "512x768"}, "size", "655,360"),
    ({"model": "gpt-image-2", "quality": "xhigh", "size": "1024x1024"}, "quality", "'high'"),
    ({"model": "gpt-image-2.5-flare", "quality": "hd", "size": "1024x1024"}, "quality", "'max'"),
    ({"model": "gpt-image-1-mini", "input_fidelity": "high", "size": "1024x1024"}, "input_fidelity", "'low'"),
    ({"model": "gpt-image-2-2026-04-21", "input_fidelity": "low", "size": "1024x1024"}, "input_fidelity",
     "not supported"),
])
def test_options_a_model_does_not_take(client: httpx.Client, body: dict[str, Any], param: str, says: str) -> None:
    r = gen(client, **body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == param and says in err["message"] and body["model"] in err["message"], err


@pytest.mark.parametrize("model,replacement", [
    ("gpt-image-1", "gpt-image-2.5-sunburst"), ("gpt-image-1-2025-04-15", "gpt-image-2.5-flare"),
    ("dall-e-3", "GPT image model"),
])
def test_shut_down_models_are_refused_with_their_replacement(client: httpx.Client, model: str,
                                                             replacement: str) -> None:
    r = gen(client, model=model)
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and replacement in err["message"]
    tool = client.post("/responses", json={"model": "gpt-5", "input": "a fox",
                                           "tools": [{"type": "image_generation", "model": model}]})
    assert tool.status_code == 404 and tool.json()["error"]["param"].endswith("model")


def test_markup_only_for_models_that_take_it(client: httpx.Client) -> None:
    from PIL import Image

    layer = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (40, 40, 80, 80))
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    files = [("image", ("in.png", solid_png((256, 256), (10, 200, 10)), "image/png")),
             ("markup", ("markup.png", buffer.getvalue(), "image/png"))]
    refused = client.post("/images/edits", files=files, data={"prompt": "a star", "model": "gpt-image-1.5"})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "markup"
    assert "GPT Image 2.5" in refused.json()["error"]["message"]
    taken = client.post("/images/edits", files=files, data={"prompt": "a star", "model": "gpt-image-2.5-flare"})
    assert taken.status_code == 200, taken.text


def test_models_the_table_does_not_know_pass(client: httpx.Client) -> None:
    for model in ("my-local-model", "gpt-image-2.6-flare", "chatgpt-image-latest"):
        r = gen(client, model=model, size="2048x1152", quality="xhigh")
        assert r.status_code == 200, (model, r.text)
    listed = {m["id"] for m in client.get("/models").json()["data"]}
    assert {"gpt-image-2.6-sunburst", "gpt-image-2.5-flare", "gpt-image-1-mini"} <= listed
    assert "gpt-image-1" not in listed


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


# ----------------------------------------------------------------------------- images: streaming


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
    # the partial images are the painter's (they refine: test_simulator_pictures.py)
    assert [decode_image(e["b64_json"]).size for e in events] == [(256, 256)] * 4


def test_stream_event_lines(client: httpx.Client) -> None:
    r = client.post("/images/generations", json={"prompt": "x", "stream": True,
                                                 "size": "256x256"})
    raw = parse_sse(r.content)
    assert raw[0]["event"] == "image_generation.completed"
    assert b"[DONE]" not in r.content


# ----------------------------------------------------------------------------- images: edits and variations


def test_edit_changes_only_masked_pixels(client: httpx.Client) -> None:
    from PIL import Image

    src = scene_png((256, 192))
    box = (100, 40, 220, 150)
    r = edit(client, src, box_mask((256, 192), box), prompt="add a yellow star and a cat")
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
    r = edit(client, src, box_mask((64, 64), (0, 0, 32, 64)))
    out = decode_image(r.json()["data"][0]["b64_json"])
    assert out.mode == "RGBA"
    assert out.crop((32, 0, 64, 64)).tobytes() == img.crop((32, 0, 64, 64)).tobytes()


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
        r = edit(client, src, box_mask((32, 32), (0, 0, 8, 8)))
    elif case == "mask_no_alpha":
        r = edit(client, src, solid_png((64, 64), (0, 0, 0)))
    elif case == "bad_image":
        r = edit(client, b"this is not a png")
    elif case == "bad_mask":
        r = edit(client, src, b"nope")
    elif case == "no_image":
        r = client.post("/images/edits", files=[("other", ("a.txt", b"x", "text/plain"))],
                        data={"prompt": "x"})
    else:
        r = edit(client, src, prompt="")
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


# ----------------------------------------------------------------------------- one edit pipeline


def _rgba(alpha: int = 128) -> bytes:
    from PIL import Image

    return png_bytes(Image.new("RGBA", (64, 64), (10, 200, 30, alpha)))


def _la() -> bytes:
    from PIL import Image

    return png_bytes(Image.new("LA", (64, 64), (120, 100)))


def _palette_with_a_clear_colour() -> bytes:
    from PIL import Image

    img = Image.new("P", (64, 64), 0)
    img.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    img.paste(1, (0, 0, 32, 64))
    buf = io.BytesIO()
    img.save(buf, "PNG", transparency=0)
    return buf.getvalue()


def _both_endpoints(client: httpx.Client, image: bytes, prompt: str = "add a star", mask: bytes | None = None,
                    **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same edit through /images/edits and through the Responses tool: (data item and
    reply fields, image_generation_call item and tool usage)."""
    r = edit(client, image, mask, prompt=prompt, **options)
    assert r.status_code == 200, r.text
    images = r.json()
    tool: dict[str, Any] = {"type": "image_generation", **options}
    if mask is not None:
        tool["input_image_mask"] = {"image_url": data_url(mask)}
    resp = respond(client, [{"role": "user", "content": [
        {"type": "input_text", "text": prompt}, {"type": "input_image", "image_url": data_url(image)}]}],
        tools=[tool])
    return images, resp


IMAGES = {"rgb": lambda: scene_png((64, 64)), "rgba": _rgba, "la": _la, "palette": _palette_with_a_clear_colour}


@pytest.mark.parametrize("background", ["auto", "opaque", "transparent"])
@pytest.mark.parametrize("kind", list(IMAGES))
def test_both_endpoints_keep_or_drop_transparency_alike(client: httpx.Client, painter: FlatPainter,
                                                        kind: str, background: str) -> None:
    # background=transparent: alpha; opaque: none; auto: the input's (an edit of a cut-out stays one)
    expected = {"transparent": "RGBA", "opaque": "RGB"}.get(background, "RGB" if kind == "rgb" else "RGBA")
    images, resp = _both_endpoints(client, IMAGES[kind](), background=background)
    call = resp["output"][0]
    assert call["action"] == "edit"
    assert decode_image(images["data"][0]["b64_json"]).mode == expected
    assert decode_image(call["result"]).mode == expected
    assert [c[1]["mode"] for c in painter.calls if c[0] == "edit"] == [expected, expected]
    see_through = expected == "RGBA" and kind != "rgb"
    assert images["background"] == call["background"] == ("transparent" if see_through else "opaque")


def test_both_endpoints_count_input_image_tokens_alike(client: httpx.Client) -> None:
    # every input image at the size it was sent, at the input fidelity asked for
    images, resp = _both_endpoints(client, scene_png((1024, 1024)), input_fidelity="high", size="256x256")
    image_tokens = images["usage"]["input_tokens_details"]["image_tokens"]
    assert image_tokens == resp["tool_usage"]["image_gen"]["input_tokens_details"]["image_tokens"]
    assert image_tokens == 65 + 129 + 4096  # the short side scaled to 512: one tile


class RepaintAll(FlatPainter):
    """A careless painter: its edits repaint every pixel, mask or not."""

    def edit(self, image: Any, prompt: str, seed: int, *, mask: Any, references: Sequence[Any],
             context: str | None, notes: object) -> Picture:
        from PIL import Image

        return Picture(Image.new(image.mode, image.size, (255,) * len(image.getbands())))


def test_a_mask_keeps_every_pixel_outside_it_whatever_the_painter_does() -> None:
    from PIL import Image

    src = scene_png((128, 128))
    mask = box_mask((128, 128), (0, 0, 64, 128))  # the left half may change
    simulator = Simulator(painter=RepaintAll())
    with httpx.Client(transport=LocalTransport(simulator=simulator), base_url=BASE) as c:
        images, resp = _both_endpoints(c, src, mask=mask)
    before = Image.open(io.BytesIO(src)).convert("RGB")
    for b64 in (images["data"][0]["b64_json"], resp["output"][0]["result"]):
        out = decode_image(b64).convert("RGB")
        assert out.crop((64, 0, 128, 128)).tobytes() == before.crop((64, 0, 128, 128)).tobytes()
        assert set(out.crop((0, 0, 64, 128)).get_flattened_data()) == {(255, 255, 255)}


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


# ----------------------------------------------------------------------------- responses


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


def test_models(client: httpx.Client) -> None:
    ids = [m["id"] for m in client.get("/models").json()["data"]]
    assert {"gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "gpt-5", "gpt-4.1"} <= set(ids)
    assert client.get("/models/gpt-image-1.5").json()["object"] == "model"
    assert client.get("/models/nope").status_code == 404


# ----------------------------------------------------------------------------- the painter


def test_the_painter_makes_every_pixel(client: httpx.Client, painter: FlatPainter) -> None:
    gen(client, prompt="a cat", size="512x256", background="transparent")
    edit(client, scene_png((64, 64)), box_mask((64, 64), (0, 0, 8, 8)))
    client.post("/images/variations", files={"image": ("a.png", scene_png(), "image/png")},
                data={"size": "256x256"})
    vision(client, half_red_blue(), "what is it?", detail="low")
    assert painter.calls == [
        ("render", {"prompt": "a cat", "size": (512, 256), "transparent": True}),
        ("edit", {"prompt": "add a yellow star", "size": (64, 64), "mode": "RGB", "mask": True,
                  "references": 0, "context": None, "notes": None}),
        ("variation", {"size": (256, 256)}),
        ("describe", {"question": "what is it?", "details": ["low"]}),
    ]


def test_a_painters_notes_come_back_when_its_image_is_edited(client: httpx.Client, painter: FlatPainter) -> None:
    first = respond(client, "a lake")
    second = respond(client, "add a boat", previous_response_id=first["id"])
    respond(client, [{"type": "image_generation_call", "id": second["output"][0]["id"]},
                     {"role": "user", "content": "add a fish"}])
    respond(client, [{"role": "user", "content": [  # an image from outside: no notes, no context
        {"type": "input_text", "text": "add a sun"},
        {"type": "input_image", "image_url": "data:image/png;base64," + first["output"][0]["result"]}]}])
    edits = [(c[1]["context"], c[1]["notes"]) for c in painter.calls if c[0] == "edit"]
    assert edits == [("a lake", ("render", "a lake")),
                     ("a lake; then: add a boat", ("edit", "add a boat")),
                     (None, None)]


def test_vision_of_an_undecodable_image_is_a_bad_request(client: httpx.Client) -> None:
    r = vision(client, b"not an image")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_image_file" and r.json()["error"]["param"] == "input"


# ----------------------------------------------------------------------------- records


def test_requests_are_recorded_without_authorization(client: httpx.Client,
                                                     transport: LocalTransport) -> None:
    gen(client, prompt="a tree")
    edit(client, scene_png((64, 64)), box_mask((64, 64), (0, 0, 8, 8)))
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

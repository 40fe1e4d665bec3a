"""What the default painter draws and sees: pictures related to the prompt, edits that
keep the picture and its label band tidy, and descriptions computed from pixels."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import pytest

from nbimages.local import LocalTransport

from _sim_client import BASE, edit, gen, output_text, respond, stream_events, vision
from _sim_fixtures import data_url, decode_image, half_red_blue, png_bytes, scene_png, solid_png, top_bottom


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=LocalTransport(), base_url=BASE) as c:
        yield c



# ----------------------------------------------------------------------------- pictures from prompts


def test_image_relates_to_prompt(client: httpx.Client) -> None:
    from nbimages.local.painter.vision import analyse

    body = gen(client, prompt="a red circle and a blue square over green mountains",
               size="1024x1024").json()
    names = dict(analyse(decode_image(body["data"][0]["b64_json"])).colors)
    for colour in ("red", "blue", "green"):
        assert names.get(colour, 0) > 0.03, names


LONG_PROMPT = "a cozy red cabin by a lake under snowy mountains, gentle waves"


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
    diff = sum(1 for p, q in zip(a.get_flattened_data(), sky_only.get_flattened_data(), strict=True)
               if sum(abs(u - v) for u, v in zip(p, q, strict=True)) > 60)
    assert diff > 256 * 256 * 0.002  # something visible was drawn


def test_lighthouse_balloon_and_parrot_have_their_colours() -> None:
    from nbimages.local.painter.render import render

    img = render("a lighthouse by the sea, a hot-air balloon and a parrot", (512, 512), 2,
                 label=False).convert("RGB")
    pixels = list(img.get_flattened_data())
    red = sum(1 for r, g, b in pixels if r > 180 and g < 80 and b < 80)
    white = sum(1 for r, g, b in pixels if min(r, g, b) > 225)
    assert red > 512 * 512 * 0.03 and white > 512 * 512 * 0.01  # red and white bands


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


def test_partials_refine_towards_the_final_picture(client: httpx.Client) -> None:
    events = stream_events(client, "/images/generations",
                           json={"prompt": "a sun", "stream": True, "partial_images": 3, "size": "256x256"})
    blobs = [decode_image(e["b64_json"]).convert("RGB").tobytes() for e in events]
    assert len(set(blobs)) == 4
    # each partial is closer to the final picture than the one before
    final = blobs[-1]

    def distance(a: bytes) -> int:
        return sum(abs(x - y) for x, y in zip(a[::97], final[::97], strict=True))

    dists = [distance(b) for b in blobs[:3]]
    assert dists[0] > dists[1] > dists[2] > 0


def test_the_corner_label_is_noted_and_follows_unmasked_edits() -> None:
    from PIL import Image

    from nbimages.local.painter import Notes, ProceduralPainter

    painter = ProceduralPainter()
    first = painter.render("a red house", (256, 256), 1, transparent=False)
    assert first.notes == Notes("a red house")
    edited = painter.edit(first.image, "add a tree", 2, mask=None, references=[], context="a red house",
                          notes=first.notes)
    assert edited.notes == Notes("add a tree")  # its prompt is written in the corner now
    mask = Image.new("L", (256, 256), 0)
    mask.paste(255, (0, 0, 64, 64))
    masked = painter.edit(edited.image, "add a sun", 3, mask=mask, references=[], context=None,
                          notes=edited.notes)
    assert masked.notes == edited.notes  # a masked edit leaves the corner as it was


# ----------------------------------------------------------------------------- edits


def test_edit_without_mask_keeps_the_picture(client: httpx.Client) -> None:
    from PIL import Image

    src = scene_png((256, 256))
    out = decode_image(edit(client, src, prompt="add a boat").json()["data"][0]["b64_json"])
    before = Image.open(io.BytesIO(src)).convert("RGB")
    a, b = out.convert("RGB").tobytes(), before.tobytes()
    same = sum(1 for i in range(0, len(a), 3) if a[i:i + 3] == b[i:i + 3]) / (len(a) / 3)
    assert 0.4 < same < 0.99


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


# ----------------------------------------------------------------------------- vision


def test_vision_half_red_half_blue(client: httpx.Client) -> None:
    text = output_text(vision(client, half_red_blue((200, 100))).json())
    assert text.startswith("I'm the offline simulator, so I can only report")  # the question is not repeated
    assert "What is in this image?" not in text
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

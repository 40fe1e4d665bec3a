"""Input normalisation, and local validation that fails before any request is sent."""

from __future__ import annotations

import base64
import io
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_bad_inputs import EndlessReader, bomb_png, crafted_png, unblocks_fifo_readers, with_bad_ihdr_crc

import nbimages
from nbimages import config, models
from nbimages.errors import InvalidInputError
from nbimages.inputs import to_image
from nbimages.options import validate_generation_options, validate_size

from _images import make_png


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return httpx.Response(500, json={"error": {"message": "should not be reached"}})


def jpeg_bytes(size: tuple[int, int] = (64, 64)) -> bytes:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    PIL.new("RGB", size, (200, 100, 50)).save(buffer, format="JPEG")
    return buffer.getvalue()


def gif_bytes() -> bytes:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    PIL.new("P", (8, 8)).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.fixture
def files(tmp_path: Path, png: Callable[..., bytes]) -> dict[str, Any]:
    """Bad inputs on disk: empty, a directory, missing, truncated, text, too large (sparse)."""
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png((64, 64), (1, 2, 3))[:-20])
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    huge = tmp_path / "huge.png"
    with huge.open("wb") as f:
        f.write(png())
        f.truncate(config.MAX_IMAGE_BYTES + 2**20)  # sparse: costs no disk
    return {"empty": empty, "folder": folder, "missing": tmp_path / "missing.png", "truncated": truncated,
            "text": text, "huge": huge}


def rgba(png: Callable[..., bytes], size: tuple[int, int] = (64, 64)) -> bytes:
    return png(size, (0, 0, 0, 0), "RGBA")


# Each entry: (id, call(client, png, files), the parameter the error must name).
CASES: list[tuple[str, Callable[..., Any], str]] = [
    ("empty prompt", lambda c, p, f: c.generate(""), "prompt"),
    ("blank prompt", lambda c, p, f: c.generate("  \n "), "prompt"),
    ("prompt too long", lambda c, p, f: c.generate("x" * 32_001), "prompt"),
    ("prompt not a string", lambda c, p, f: c.generate(None), "prompt"),
    ("n=0", lambda c, p, f: c.generate("x", n=0), "n"),
    ("n=11", lambda c, p, f: c.generate("x", n=11), "n"),
    ("n=True", lambda c, p, f: c.generate("x", n=True), "n"),
    ("n=1.5", lambda c, p, f: c.generate("x", n=1.5), "n"),
    ("partial_images=4", lambda c, p, f: c.generate("x", partial_images=4, stream=True), "partial_images"),
    ("partial_images=-1", lambda c, p, f: c.generate("x", partial_images=-1, stream=True), "partial_images"),
    ("size 1000x1000", lambda c, p, f: c.generate("x", size="1000x1000"), "size"),
    ("size 4000x1024", lambda c, p, f: c.generate("x", size="4000x1024"), "size"),
    ("size 1024x4000", lambda c, p, f: c.generate("x", size="1024x4000"), "size"),
    ("size big", lambda c, p, f: c.generate("x", size="big"), "size"),
    ("size 4:1", lambda c, p, f: c.generate("x", size="2048x512"), "size"),
    ("size 0x1024", lambda c, p, f: c.generate("x", size="0x1024"), "size"),
    ("size tuple", lambda c, p, f: c.generate("x", size=(1024, 1024)), "size"),
    ("compression with png", lambda c, p, f: c.generate("x", output_format="png", output_compression=50),
     "output_compression"),
    ("compression with default format", lambda c, p, f: c.generate("x", output_compression=50), "output_compression"),
    ("compression 101", lambda c, p, f: c.generate("x", output_format="jpeg", output_compression=101),
     "output_compression"),
    ("transparent jpeg", lambda c, p, f: c.generate("x", background="transparent", output_format="jpeg"),
     "output_format"),
    ("url replies", lambda c, p, f: c.generate("x", response_format="url"), "response_format"),
    ("empty model", lambda c, p, f: c.generate("x", model=""), "model"),
    ("variations: empty model", lambda c, p, f: c.variations(p(), model=""), "model"),
    ("empty quality", lambda c, p, f: c.generate("x", quality=""), "quality"),
    ("edit: mask wrong size", lambda c, p, f: c.edit("x", p((64, 64)), mask=rgba(p, (32, 64))), "mask"),
    ("edit: mask without alpha", lambda c, p, f: c.edit("x", p((64, 64)), mask=p((64, 64))), "mask"),
    ("edit: JPEG mask", lambda c, p, f: c.edit("x", p((64, 64)), mask=jpeg_bytes()), "mask"),
    ("edit: truncated PNG", lambda c, p, f: c.edit("x", f["truncated"]), "image"),
    ("edit: empty file", lambda c, p, f: c.edit("x", f["empty"]), "image"),
    ("edit: a directory", lambda c, p, f: c.edit("x", str(f["folder"])), "image"),
    ("edit: missing path", lambda c, p, f: c.edit("x", str(f["missing"])), "image"),
    ("edit: ftp URL", lambda c, p, f: c.edit("x", "ftp://example.com/a.png"), "image"),
    ("edit: http URL", lambda c, p, f: c.edit("x", "https://example.com/a.png"), "image"),
    ("edit: text file", lambda c, p, f: c.edit("x", f["text"]), "image"),
    ("edit: non-image bytes", lambda c, p, f: c.edit("x", b"hello world, not an image"), "image"),
    ("edit: empty bytes", lambda c, p, f: c.edit("x", b""), "image"),
    ("edit: GIF", lambda c, p, f: c.edit("x", gif_bytes()), "image"),
    ("edit: no images", lambda c, p, f: c.edit("x", []), "image"),
    ("edit: 17 images", lambda c, p, f: c.edit("x", [p()] * 17), "image"),
    ("edit: a bad second image", lambda c, p, f: c.edit("x", [p(), b"nope"]), "image[1]"),
    ("edit: 51 MB file", lambda c, p, f: c.edit("x", f["huge"]), "image"),
    ("edit: 51 MB bytes", lambda c, p, f: c.edit("x", p() + bytes(51 * 2**20)), "image"),
    ("edit: mask over 4 MB", lambda c, p, f: c.edit("x", p((64, 64)), mask=rgba(p) + bytes(5 * 2**20)), "mask"),
    ("edit: bad size", lambda c, p, f: c.edit("x", p(), size="999x999"), "size"),
    ("edit: unsupported object", lambda c, p, f: c.edit("x", object()), "image"),
    ("describe: detail ultra", lambda c, p, f: c.describe(p(), detail="ultra"), "detail"),
    ("describe: ftp URL", lambda c, p, f: c.describe("ftp://example.com/a.png"), "image"),
    ("describe: nothing", lambda c, p, f: c.describe([]), "image"),
    ("describe: empty question", lambda c, p, f: c.describe(p(), ""), "question"),
    ("describe: second image missing", lambda c, p, f: c.describe([p(), str(f["missing"])]), "image[1]"),
    ("respond: empty input", lambda c, p, f: c.respond(""), "input"),
    ("respond: input number", lambda c, p, f: c.respond(5), "input"),
    ("respond: empty list", lambda c, p, f: c.respond([]), "input"),
    ("respond: tools not a list", lambda c, p, f: c.respond("x", tools="image_generation"), "tools"),
    ("respond: tool options", lambda c, p, f: c.respond("x", tools=[{"type": "image_generation", "size": "big"}]),
     "size"),
    ("respond: tool partials", lambda c, p, f: c.respond("x", tools=[{"type": "image_generation",
                                                                      "partial_images": 5}]), "partial_images"),
    ("respond: previous id", lambda c, p, f: c.respond("x", previous_response_id=""), "previous_response_id"),
    ("respond: reference", lambda c, p, f: c.respond("x", image_references=[5]), "image_references"),
    ("respond: image without call id", lambda c, p, f: c.respond("x", image_references=[nbimages.Image(p())]),
     "image_references"),
    ("respond: images with items", lambda c, p, f: c.respond([{"role": "user", "content": "x"}], images=[p()]),
     "images"),
    ("respond: detail", lambda c, p, f: c.respond("x", images=[p()], detail="max"), "detail"),
    ("respond: image", lambda c, p, f: c.respond("x", images=["ftp://a/b.png"]), "images[0]"),
    ("respond: mainline model", lambda c, p, f: c.respond("x", model="  "), "model"),
    ("upload: not an image", lambda c, p, f: c.upload(b"%PDF-1.4"), "file"),
    ("upload: purpose", lambda c, p, f: c.upload(p(), purpose=""), "purpose"),
    ("variations: JPEG", lambda c, p, f: c.variations(jpeg_bytes()), "image"),
    ("variations: over 4 MB", lambda c, p, f: c.variations(p() + bytes(5 * 2**20)), "image"),
    ("variations: n=0", lambda c, p, f: c.variations(p(), n=0), "n"),
]


@pytest.mark.parametrize(("call", "param"), [(c, p) for _, c, p in CASES], ids=[name for name, _, _ in CASES])
def test_bad_input_is_refused_before_any_request(
    mock_client: Any, png: Callable[..., bytes], files: dict[str, Any], call: Callable[..., Any], param: str
) -> None:
    counter = Counter()
    client = mock_client(counter)
    with pytest.raises(InvalidInputError) as info:
        call(client, png, files)
    err = info.value
    assert err.param == param
    assert isinstance(err, ValueError) and isinstance(err, nbimages.NbImagesError)
    assert str(err).startswith(f"{param}=") and "expected" in str(err) and err.expected
    assert len(str(err)) < 400  # a 51 MB value is summarised, not printed
    assert counter.calls == 0


@pytest.mark.parametrize("call", [
    lambda c, p: c.generate("x" * 32_000, size="3840x2160", n=10, partial_images=3, stream=True),
    lambda c, p: c.generate("x", size="auto", background="transparent", output_format="webp", output_compression=0),
    lambda c, p: c.generate("x", size="1024x3072", quality="max", output_format="gif", frame_count=16,
                            model="gpt-image-2.5-flare"),
    lambda c, p: c.generate("x", size="256x256", model="my-local-model", response_format="b64_json"),
    lambda c, p: c.generate("x", model="gpt-image-2", output_format="svg", n=1,
                            svg={"model": "gpt-5", "reasoning": {"effort": "max"}}, complexity="high",
                            safety_identifier="u" * 128),
    lambda c, p: c.edit("x", [p((8, 8))] * 16, mask=p((8, 8), (0, 0, 0, 0), "RGBA")),
    lambda c, p: c.edit("x", p() + bytes(49 * 2**20)),
    lambda c, p: c.describe(p(), detail="original"),
])
def test_limits_themselves_are_accepted(mock_client: Any, png: Callable[..., bytes], call: Callable[..., Any]) -> None:
    counter = Counter()
    with pytest.raises(nbimages.ServerError):  # it reached the server
        call(mock_client(counter, max_retries=0), png)
    assert counter.calls == 1


def test_validate_size_accepts_sides_divisible_by_16() -> None:
    for size in ("auto", "1024x1024", "1536x1024", "1024x1536", "3840x2160", "16x48", "1792x1024", "512x512"):
        assert validate_size(size) == size


def test_generation_options_drop_none_values() -> None:
    assert validate_generation_options({"n": None, "size": "auto", "quality": None}) == {"size": "auto"}


# -- sizes per model -------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "size"), [
    ("gpt-image-2", "2880x2880"),  # exactly 3840x2160's pixels
    ("gpt-image-2", "3840x2160"),
    ("gpt-image-2", "1024x640"),  # exactly the minimum
    ("gpt-image-2", "1792x1024"),  # a legacy size that is also a flexible one
    ("gpt-image-2.5-flare", "2048x1152"),
    ("gpt-image-2.5-sunburst-2026-09-08", "1536x864"),  # a dated snapshot shares its model's rules
    ("gpt-image-1.5", "auto"), ("gpt-image-1.5", "1536x1024"),
    ("gpt-image-1-mini", "1024x1536"),
    ("gpt-image-2.6-sunburst", "2048x1152"),  # the SDK gives no size rule: the generic checks only
    ("my-local-model", "512x768"), ("my-local-model", "256x256"),  # unknown models: the generic checks only
    (None, "16x48"),
])
def test_sizes_each_model_takes(model: str | None, size: str) -> None:
    assert validate_size(size, model=model) == size
    assert validate_generation_options({"size": size, "model": model}) == {"size": size, **({"model": model} if model else {})}


@pytest.mark.parametrize(("model", "size", "limit"), [
    ("gpt-image-2", "3840x3840", "at most 8,294,400 pixels"),
    ("gpt-image-2", "2896x2896", "at most 8,294,400 pixels"),  # one step of 16 over 2880x2880
    ("gpt-image-2.6-sunburst", "3200x3200", "at most 8,294,400 pixels"),
    ("my-local-model", "3840x3840", "at most 8,294,400 pixels"),
    (None, "3840x2880", "at most 8,294,400 pixels"),
    ("gpt-image-2", "512x768", "at least 655,360 pixels"),
    ("gpt-image-2.5-flare", "512x512", "at least 655,360 pixels"),  # legacy sizes follow the model's rules
    ("gpt-image-1.5", "2048x1152", "one of 'auto', '1024x1024', '1024x1536', '1536x1024'"),
    ("gpt-image-1-mini", "512x512", "one of 'auto', '1024x1024'"),
])
def test_sizes_a_model_refuses_name_the_size_the_model_and_the_limit(model: str | None, size: str,
                                                                     limit: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_size(size, model=model)
    message = str(info.value)
    assert info.value.param == "size" and message.startswith(f"size='{size}' is not valid")
    assert limit in message and (model or "any image model") in message, message


def test_a_model_number_is_not_a_prefix_of_a_longer_one() -> None:
    assert models.rules_for("gpt-image-2-2026-04-21") is models.rules_for("gpt-image-2")
    assert models.rules_for("gpt-image-2.5-flare") is not models.rules_for("gpt-image-2")
    assert models.rules_for("gpt-image-20") is None and models.rules_for(None) is None
    assert validate_size("2048x1152", model="gpt-image-10") == "2048x1152"


def test_the_size_is_checked_against_the_model_of_each_call(mock_client: Any, png: Callable[..., bytes]) -> None:
    """The model passed to generate/edit, the tool's model, and the default image model."""
    counter = Counter()
    client = mock_client(counter)
    calls = [
        lambda: client.generate("x", size="2048x1152", model="gpt-image-1.5"),
        lambda: client.edit("x", png(), size="2048x1152", model="gpt-image-1-mini"),
        lambda: client.respond("x", tools=[{"type": "image_generation", "model": "gpt-image-2", "size": "512x512"}]),
        lambda: client.generate("x", size="3840x3840"),  # the default model
    ]
    for call in calls:
        with pytest.raises(InvalidInputError) as info:
            call()
        assert info.value.param == "size"
    assert counter.calls == 0


# -- to_image -------------------------------------------------------------------------------
def test_from_path_str_pathlike_and_home(png: Callable[..., bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png((5, 7)))
    for source in (path, str(path)):
        image = to_image(source)
        assert image.data == png((5, 7)) and image.path == path and image.size == (5, 7)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert to_image("~/a.png").data == png((5, 7))


def test_from_bytes_like(png: Callable[..., bytes]) -> None:
    data = png((3, 4))
    for source in (data, bytearray(data), memoryview(data)):
        image = to_image(source)
        assert image.data == data and isinstance(image.data, bytes)


def test_from_data_url(png: Callable[..., bytes]) -> None:
    url = "data:image/png;base64," + base64.b64encode(png()).decode()
    assert to_image(url).data == png()
    with pytest.raises(InvalidInputError, match="base64"):
        to_image("data:image/png,rawtext")
    with pytest.raises(InvalidInputError, match="valid base64"):
        to_image("data:image/png;base64,@@@@")


def test_file_like(png: Callable[..., bytes], tmp_path: Path) -> None:
    assert to_image(io.BytesIO(png())).data == png()
    path = tmp_path / "b.png"
    path.write_bytes(png((2, 2)))
    with path.open("rb") as f:
        assert to_image(f).size == (2, 2)


def test_an_image_passes_through_unchanged(png: Callable[..., bytes]) -> None:
    image = nbimages.Image(png(), prompt="p")
    assert to_image(image) is image


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "CMYK"])
def test_from_pil_keeps_the_pixels(mode: str) -> None:
    from PIL import Image as PIL

    source = PIL.new("RGB", (6, 4), (200, 30, 60)).convert(mode)
    image = to_image(source)
    assert image.format == "png" and image.size == (6, 4)
    assert image.to_pil().convert("RGBA").getpixel((1, 1)) == source.convert("RGBA").getpixel((1, 1))


def test_from_palette_pil_image_keeps_its_colours() -> None:
    from PIL import Image as PIL

    source = PIL.new("P", (4, 4))
    source.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    assert to_image(source).to_pil().convert("RGB").getpixel((0, 0)) == (255, 0, 0)


def test_from_numpy_arrays() -> None:
    gray = np.full((4, 6), 128, dtype=np.uint8)
    assert to_image(gray).size == (6, 4)
    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    assert to_image(rgb).to_pil().getpixel((0, 0)) == (255, 0, 0)
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = 7
    assert to_image(rgba).to_pil().getpixel((0, 0)) == (0, 0, 0, 7)
    floats = np.full((2, 2, 3), 0.5)
    assert to_image(floats).to_pil().getpixel((0, 0)) == (128, 128, 128)
    assert to_image(np.ones((2, 2), dtype=bool)).to_pil().getpixel((0, 0)) == 255
    assert to_image(np.full((2, 2), 999, dtype=np.int32)).to_pil().getpixel((0, 0)) == 255
    assert to_image(np.zeros((3, 5, 1), dtype=np.uint8)).size == (5, 3)
    assert to_image(gray).source == "numpy array"
    for bad_shape in ((2, 2, 2), (0, 3), (2, 2, 2, 2), (5,)):
        with pytest.raises(InvalidInputError, match="array"):
            to_image(np.zeros(bad_shape, dtype=np.uint8))


def test_from_matplotlib_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.plot([0, 1], [0, 1])
    try:
        image = to_image(fig)
    finally:
        plt.close(fig)
    assert image.format == "png" and image.width and image.source == "matplotlib figure"


def test_a_string_that_cannot_be_a_path_is_invalid_input() -> None:
    for text in ("A" * 5000, "iVBORw0KGgo" * 400, "a\x00b"):
        with pytest.raises(InvalidInputError) as info:
            to_image(text, "image")
        assert info.value.param == "image"


def test_truncation_anywhere_in_a_png_is_caught(png: Callable[..., bytes]) -> None:
    data = png((32, 32), (9, 8, 7))
    for cut in (30, len(data) // 2, len(data) - 1):
        with pytest.raises(InvalidInputError, match="truncated"):
            to_image(data[:cut])


def test_formats_restrict_what_is_accepted(png: Callable[..., bytes]) -> None:
    with pytest.raises(InvalidInputError, match="png"):
        to_image(jpeg_bytes(), "image", formats=frozenset({"png"}))
    assert to_image(jpeg_bytes(), formats=config.EDIT_INPUT_FORMATS).format == "jpeg"


def test_file_ids_and_urls_are_passed_by_reference_in_vision_parts(png: Callable[..., bytes], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages.inputs import vision_part

    assert vision_part("file-abc_1", "low") == {"type": "input_image", "file_id": "file-abc_1", "detail": "low"}
    monkeypatch.chdir(tmp_path)
    Path("file-local").write_bytes(png())  # a local file that happens to look like an id wins
    assert vision_part("file-local", "low")["image_url"].startswith("data:image/png;base64,")


# -- images that look complete but do not decode --------------------------------------------
def _jpeg_with_scrambled_scan() -> bytes:
    data = jpeg_bytes((64, 64))
    return data[:200] + bytes(len(data) - 202) + data[-2:]  # header and end marker kept


@pytest.mark.parametrize(("data", "reason"), [
    (with_bad_ihdr_crc(make_png((64, 64))), "does not decode"),
    (crafted_png(0, 0, b""), "an empty image (0x0)"),
    (crafted_png(64, 0, b""), "an empty image (64x0)"),
    (bomb_png(), "20000x20000"),
    (crafted_png(64, 64, b"these bytes are not a deflate stream"), "does not decode"),
    (crafted_png(64, 64, zlib.compress(bytes(100))), "does not decode"),  # too few pixels
    (_jpeg_with_scrambled_scan(), "does not decode"),
], ids=["bad IHDR checksum", "0x0", "64x0", "20000x20000 bomb", "IDAT not deflate", "IDAT too short",
        "JPEG scan zeroed"])
def test_images_that_do_not_decode_are_refused_on_input(data: bytes, reason: str) -> None:
    for source in (data, nbimages.Image(data), "data:image/png;base64," + base64.b64encode(data).decode()):
        with pytest.raises(InvalidInputError) as info:
            to_image(source, "image")
        assert info.value.param == "image" and reason in info.value.expected, str(info.value)
        assert "40,000,000 pixels" in info.value.expected


def test_a_bomb_is_refused_from_its_header_before_anything_is_decompressed(monkeypatch: pytest.MonkeyPatch) -> None:
    import PIL.Image

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bomb was opened for decoding")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    with pytest.raises(InvalidInputError, match="20000x20000"):
        to_image(bomb_png())


def test_pixels_not_encoded_yet_are_checked_before_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image as PIL

    lazy_bomb = PIL.open(io.BytesIO(bomb_png(8000)))  # 64 MP: opened, not loaded
    monkeypatch.setattr(lazy_bomb, "load", lambda: pytest.fail("the bomb was decoded"))
    sources = {
        "0x0 PIL image": (PIL.new("RGB", (0, 0)), "0x0"),
        "lazily opened 8000x8000 PNG": (lazy_bomb, "8000x8000"),
        "20000x20000 array": (np.broadcast_to(np.uint8(7), (20_000, 20_000)), "20000x20000"),
        "1x20000 array": (np.zeros((1, 20_000), np.uint8), "20000x1"),  # a side over 16,384
    }
    for name, (source, shown) in sources.items():
        with pytest.raises(InvalidInputError) as info:
            to_image(source, "image")
        assert info.value.param == "image" and shown in info.value.expected, (name, str(info.value))


def test_a_huge_figure_is_refused_before_it_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(100, 100), dpi=200)  # 20000x20000 pixels
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: pytest.fail("the figure was drawn"))
    try:
        with pytest.raises(InvalidInputError, match="20000x20000") as info:
            to_image(fig, "image")
    finally:
        plt.close(fig)
    assert info.value.param == "image"


def test_a_lazily_opened_broken_pil_image_is_invalid_input() -> None:
    from PIL import Image as PIL

    broken = PIL.open(io.BytesIO(crafted_png(64, 64, b"these bytes are not a deflate stream")))
    with pytest.raises(InvalidInputError) as info:
        to_image(broken, "image")
    assert info.value.param == "image" and "<PIL image 64x64>" in str(info.value)


def test_good_images_of_every_format_still_decode(png: Callable[..., bytes]) -> None:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    PIL.new("RGB", (16, 8), (1, 2, 3)).save(buffer, format="WEBP")
    for data in (png((16, 8)), jpeg_bytes((16, 8)), gif_bytes(), buffer.getvalue(), bomb_png(4096)):
        assert to_image(data).width in (16, 8, 4096)


def test_an_image_is_decoded_once_however_often_it_is_passed(png: Callable[..., bytes],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages import inputs

    decoded: list[int] = []
    real = inputs.decode_problem
    monkeypatch.setattr(inputs, "decode_problem", lambda data: decoded.append(len(data)) or real(data))
    image = to_image(png((32, 32)))
    for _ in range(3):
        assert to_image(image) is image
    assert len(decoded) == 1
    to_image(image.with_meta(prompt="the same bytes, another Image"))
    assert len(decoded) == 2


# -- reads of outside data are bounded --------------------------------------------------------
@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    with unblocks_fifo_readers(path):
        yield path


def test_special_files_are_refused_before_they_are_opened(fifo: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    cases = {str(fifo): "named pipe (FIFO)", "/dev/zero": "character device", str(link): "character device",
             "/dev/null": "character device"}
    opened: list[Any] = []
    monkeypatch.setattr(os, "open", lambda *args, **kwargs: opened.append(args) or pytest.fail("opened"))
    for path, kind in cases.items():
        for source in (path, Path(path)):
            with pytest.raises(InvalidInputError) as info:
                to_image(source, "image")
            assert info.value.param == "image" and info.value.value == path
            assert info.value.expected == f"a path to a regular image file, not a {kind}"
    assert opened == []


def test_a_file_swapped_for_a_fifo_after_stat_is_refused_without_blocking(
    fifo: Path, tmp_path: Path, png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    regular = tmp_path / "regular.png"
    regular.write_bytes(png())
    looks_regular = os.stat(regular)
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: looks_regular if self == fifo else real_stat(self, **kw))
    with pytest.raises(InvalidInputError, match="named pipe"):
        to_image(fifo, "image")


def test_a_file_that_grew_after_stat_is_refused_for_its_size(
    tmp_path: Path, png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "growing.png"
    path.write_bytes(png() + bytes(10_000))
    info = os.stat(path)
    small = os.stat_result((*info[:6], 100, *info[7:]))  # what stat() said before it grew (st_size is [6])
    real_stat = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: small if self == path else real_stat(self, **kw))
    with pytest.raises(InvalidInputError) as error:
        to_image(path, "image", max_bytes=1000)
    assert error.value.value == str(path) and error.value.expected == "a file of at most 1,000 bytes"


def test_file_objects_are_read_one_byte_past_the_limit_at_most(png: Callable[..., bytes]) -> None:
    endless = EndlessReader()
    with pytest.raises(InvalidInputError) as info:
        to_image(endless, "image")
    assert endless.given == config.MAX_IMAGE_BYTES + 1
    assert info.value.param == "image" and "at most 50 MB" in info.value.expected
    with open("/dev/zero", "rb") as zero, pytest.raises(InvalidInputError, match="at most 4 MB"):
        to_image(zero, "mask", max_bytes=config.MAX_MASK_BYTES)
    assert to_image(io.BytesIO(png()), max_bytes=len(png())).data == png()  # exactly the limit is fine


def test_a_file_object_in_text_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        to_image(io.StringIO("data:image/png;base64,AAAA"), "image")
    assert info.value.param == "image" and "binary mode ('rb')" in info.value.expected


def test_a_data_url_over_the_limit_is_refused_before_it_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "data:image/png;base64," + "A" * (4 * (config.MAX_MASK_BYTES // 3 + 2))
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(InvalidInputError) as info:
        to_image(url, "mask", max_bytes=config.MAX_MASK_BYTES)
    assert info.value.param == "mask" and info.value.expected == "at most 4 MB"


def test_a_mask_file_over_its_limit_is_refused_before_it_is_read(tmp_path: Path, png: Callable[..., bytes],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mask.png"
    with path.open("wb") as f:
        f.write(rgba(png))
        f.truncate(config.MAX_MASK_BYTES + 1)
    monkeypatch.setattr(os, "open", lambda *args, **kwargs: pytest.fail("opened"))
    with pytest.raises(InvalidInputError) as info:
        to_image(str(path), "mask", max_bytes=config.MAX_MASK_BYTES)
    assert info.value.value == str(path) and info.value.expected == "a file of at most 4 MB"

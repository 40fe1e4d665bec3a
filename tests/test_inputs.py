"""Input normalisation, and local validation that fails before any request is sent."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np
import pytest

import nbimages
from nbimages import config
from nbimages.errors import InvalidInputError
from nbimages.inputs import to_image, validate_generation_options, validate_size


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
    lambda c, p: c.generate("x", size="1024x3072", quality="max", output_format="gif"),
    lambda c, p: c.generate("x", size="256x256", model="dall-e-2", response_format="b64_json"),
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
    ("gpt-image-1.5", "2880x2880"),  # exactly 3840x2160's pixels
    ("gpt-image-1.5", "3840x2160"),
    ("gpt-image-2", "1024x640"),  # exactly the minimum
    ("gpt-image-2.5-flare", "2048x1152"),
    ("gpt-image-1", "auto"), ("gpt-image-1", "1536x1024"),
    ("gpt-image-1-mini-2025-10-06", "1024x1536"),  # a dated snapshot shares its model's row
    ("dall-e-2", "256x256"), ("dall-e-3", "1792x1024"),
    ("my-local-model", "512x768"),  # unknown models: the generic checks only
    (None, "16x48"),
])
def test_sizes_each_model_takes(model: str | None, size: str) -> None:
    assert validate_size(size, model=model) == size
    assert validate_generation_options({"size": size, "model": model}) == {"size": size, **({"model": model} if model else {})}


@pytest.mark.parametrize(("model", "size", "limit"), [
    ("gpt-image-1.5", "3840x3840", "at most 8,294,400 pixels"),
    ("gpt-image-1.5", "2896x2896", "at most 8,294,400 pixels"),  # one step of 16 over 2880x2880
    ("gpt-image-2.6-sunburst", "3200x3200", "at most 8,294,400 pixels"),
    ("my-local-model", "3840x3840", "at most 8,294,400 pixels"),
    (None, "3840x2880", "at most 8,294,400 pixels"),
    ("gpt-image-2", "512x768", "at least 655,360 pixels"),
    ("gpt-image-1", "2048x1152", "one of 'auto', '1024x1024', '1024x1536', '1536x1024'"),
    ("gpt-image-1-mini", "512x512", "one of 'auto', '1024x1024'"),
    ("dall-e-2", "1536x1024", "one of '1024x1024', '256x256', '512x512'"),
    ("dall-e-3", "auto", "one of '1024x1024', '1024x1792', '1792x1024'"),
])
def test_sizes_a_model_refuses_name_the_size_the_model_and_the_limit(model: str | None, size: str,
                                                                     limit: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_size(size, model=model)
    message = str(info.value)
    assert info.value.param == "size" and message.startswith(f"size='{size}' is not valid")
    assert limit in message and (model or "any image model") in message, message


def test_a_model_number_is_not_a_prefix_of_a_longer_one() -> None:
    assert config.size_limits("gpt-image-1") is config.size_limits("gpt-image-1-mini")
    assert config.size_limits("gpt-image-1.5") is not config.size_limits("gpt-image-1")
    assert config.size_limits("gpt-image-10") is None and config.size_limits(None) is None
    assert validate_size("2048x1152", model="gpt-image-10") == "2048x1152"


def test_the_size_is_checked_against_the_model_of_each_call(mock_client: Any, png: Callable[..., bytes]) -> None:
    """The model passed to generate/edit, the tool's model, and the default image model."""
    counter = Counter()
    client = mock_client(counter)
    calls = [
        lambda: client.generate("x", size="2048x1152", model="gpt-image-1"),
        lambda: client.edit("x", png(), size="2048x1152", model="gpt-image-1-mini"),
        lambda: client.respond("x", tools=[{"type": "image_generation", "model": "dall-e-3", "size": "auto"}]),
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

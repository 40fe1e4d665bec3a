"""`Image`: header sniffing without PIL (checked against PIL), bytes kept exactly, display."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PIL

from nbimages.image import Image, Usage, sniff

SIZES = [(1, 1), (7, 3), (64, 64), (333, 17), (1024, 1536), (3001, 5)]


def encode(pil: PIL.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def variants(size: tuple[int, int]) -> dict[str, bytes]:
    rgb = PIL.new("RGB", size, (120, 40, 200))
    rgba = PIL.new("RGBA", size, (120, 40, 200, 100))
    exif = PIL.Exif()
    exif[0x010F] = "nbimages test camera"
    frames = [PIL.new("RGB", size, (i * 40, 0, 0)) for i in range(3)]
    return {
        "png rgb": encode(rgb, "PNG"),
        "png rgba": encode(rgba, "PNG"),
        "png palette": encode(rgb.convert("P"), "PNG"),
        "png 16-bit": encode(PIL.new("I;16", size), "PNG"),
        "png interlaced": encode(rgb, "PNG", interlace=1) if max(size) < 2000 else encode(rgb, "PNG"),
        "jpeg baseline": encode(rgb, "JPEG"),
        "jpeg progressive": encode(rgb, "JPEG", progressive=True),
        "jpeg grayscale": encode(rgb.convert("L"), "JPEG"),
        "jpeg cmyk": encode(rgb.convert("CMYK"), "JPEG"),
        "jpeg exif": encode(rgb, "JPEG", exif=exif.tobytes()),
        "jpeg icc": encode(rgb, "JPEG", icc_profile=b"\0" * 3000),
        "webp lossy": encode(rgb, "WEBP", quality=50),
        "webp lossless": encode(rgb, "WEBP", lossless=True),
        "webp alpha": encode(rgba, "WEBP"),
        "webp animated": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50),
        "webp exif": encode(rgb, "WEBP", exif=exif.tobytes()),
        "gif": encode(rgb, "GIF"),
        "gif animated": encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
    }


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_sniffed_format_and_size_equal_pils(size: tuple[int, int]) -> None:
    for name, data in variants(size).items():
        with PIL.open(io.BytesIO(data)) as pil:
            expected = (pil.format.lower(), pil.width, pil.height)
        assert sniff(data) == expected, name
        image = Image(data)
        assert (image.format, image.width, image.height) == expected, name


def test_jpeg_with_fill_bytes_before_a_marker() -> None:
    data = encode(PIL.new("RGB", (40, 30)), "JPEG")
    sof = data.index(b"\xff\xc0")
    padded = data[:sof] + b"\xff\xff\xff" + data[sof:]  # fill bytes are allowed before any marker
    with PIL.open(io.BytesIO(padded)) as pil:
        assert pil.size == (40, 30)
    assert sniff(padded) == ("jpeg", 40, 30)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8 ", b"\xff\xd8\xff",
                                  b"hello", b"%PDF-1.7 ..."])
def test_unknown_or_truncated_headers(data: bytes) -> None:
    _fmt, width, height = sniff(data)
    assert (width, height) == (None, None)
    assert Image(data).mime_type in ("application/octet-stream", "image/png", "image/gif", "image/webp", "image/jpeg")


def test_sniffing_does_not_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(PIL.new("RGB", (9, 4)), "PNG")
    monkeypatch.setattr(PIL, "open", lambda *a, **k: pytest.fail("decoded"))
    assert Image(data).size == (9, 4)


# -- bytes ----------------------------------------------------------------------------------
def test_save_writes_the_exact_bytes(tmp_path: Path, png: Callable[..., bytes]) -> None:
    data = png((10, 10), (1, 2, 3)) + b""  # with whatever chunks PIL wrote
    image = Image(data, prompt="p")
    path = image.save(tmp_path / "deep" / "dir" / "out.png")
    assert path == tmp_path / "deep" / "dir" / "out.png" and path.read_bytes() == data
    jpeg = encode(PIL.new("RGB", (5, 5)), "JPEG")
    assert Image(jpeg).save(tmp_path / "noext") == tmp_path / "noext.jpg"
    assert (tmp_path / "noext.jpg").read_bytes() == jpeg
    assert Image(data).save(str(tmp_path / "named.bin")).read_bytes() == data  # a given suffix is kept


def test_save_keeps_metadata_chunks_that_re_encoding_would_strip(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a lake, seed 1")
    data = encode(PIL.new("RGB", (4, 4)), "PNG", pnginfo=info)
    data = data[:-12] + b"\x00\x00\x00\x04caBX\x01\x02\x03\x04\x00\x00\x00\x00" + data[-12:]  # a C2PA-like chunk
    path = Image(data).save(tmp_path / "c2pa.png")
    assert path.read_bytes() == data and b"caBX" in path.read_bytes()


def test_b64_data_url_and_open_round_trip(tmp_path: Path, png: Callable[..., bytes]) -> None:
    data = png((3, 3))
    image = Image.from_b64(base64.b64encode(data).decode(), prompt="x")
    assert image.data == data and image.prompt == "x"
    assert base64.b64decode(image.b64()) == data
    assert image.to_data_url() == "data:image/png;base64," + base64.b64encode(data).decode()
    path = tmp_path / "i.png"
    path.write_bytes(data)
    opened = Image.open(path, source="disk")
    assert opened.data == data and opened.path == path and opened.source == "disk"
    assert opened.nbytes == len(data)


def test_image_is_frozen_and_with_meta_shares_the_bytes(png: Callable[..., bytes]) -> None:
    image = Image(png(), prompt="a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        image.prompt = "b"  # type: ignore[misc]
    other = image.with_meta(prompt="b", call_id="ig_1")
    assert other.data is image.data and (other.prompt, other.call_id, image.prompt) == ("b", "ig_1", "a")
    assert other.size == image.size


def test_pixels(png: Callable[..., bytes]) -> None:
    image = Image(png((6, 4), (10, 20, 30)))
    assert image.to_pil().getpixel((0, 0)) == (10, 20, 30)
    array = image.to_numpy()
    assert array.shape == (4, 6, 3) and tuple(array[0, 0]) == (10, 20, 30)


def test_thumbnail(png: Callable[..., bytes]) -> None:
    small = Image(png((100, 50)))
    assert small.thumbnail(512) is small
    big = Image(png((1024, 512), (0, 0, 0, 128), "RGBA"), prompt="kept", path=Path("/x.png"))
    thumb = big.thumbnail(256)
    assert thumb.size == (256, 128) and thumb.format == "png" and thumb.prompt == "kept" and thumb.path is None
    jpeg = big.thumbnail(100, format="jpeg")
    assert jpeg.format == "jpeg" and jpeg.size == (100, 50)


# -- display ----------------------------------------------------------------------------------
def test_repr_mimebundle(png: Callable[..., bytes]) -> None:
    data = png((40, 20))
    image = Image(data, prompt="a <b>lake</b>", revised_prompt="A lake", model="gpt-image-1.5",
                  params={"quality": "low", "size": "1024x1024"}, response_id="resp_1", call_id="ig_1",
                  usage=Usage(1, 2, 3, {"text_tokens": 1}, {}), path=Path("/tmp/x.png"), created=1.5)
    bundle, meta = image._repr_mimebundle_()
    assert bundle["image/png"] == data and bundle["text/plain"] == repr(image)
    assert meta["image/png"] == {"width": 40, "height": 20}
    nb = meta["nbimages"]
    assert nb == image.describe_meta()
    assert nb["prompt"] == "a <b>lake</b>" and nb["revised_prompt"] == "A lake" and nb["model"] == "gpt-image-1.5"
    assert nb["params"] == {"quality": "low", "size": "1024x1024"} and nb["path"] == "/tmp/x.png"
    assert nb["usage"]["total_tokens"] == 3 and (nb["width"], nb["height"], nb["format"]) == (40, 20, "png")
    assert json.loads(json.dumps(meta)) == meta  # JSON-safe, as notebook metadata must be
    assert image._repr_png_() == data


def test_repr_mimebundle_of_other_formats() -> None:
    jpeg = encode(PIL.new("RGB", (8, 8)), "JPEG")
    bundle, meta = Image(jpeg)._repr_mimebundle_()
    assert bundle["image/jpeg"] == jpeg and meta["image/jpeg"] == {"width": 8, "height": 8}
    assert Image(jpeg)._repr_png_() is None
    bundle, meta = Image(b"not an image")._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "nbimages" in meta


def test_repr(png: Callable[..., bytes]) -> None:
    text = repr(Image(png((12, 34)), prompt="x" * 100, path=Path("/a/b.png")))
    assert text.startswith("<nbimages.Image png 12x34, ") and "xxx..." in text and "at /a/b.png" in text
    assert len(text) < 200


def test_describe_meta_leaves_out_unknown_fields(png: Callable[..., bytes]) -> None:
    assert Image(png((2, 2))).describe_meta() == {"format": "png", "width": 2, "height": 2}


def test_usage_from_and_to_dict() -> None:
    assert Usage.from_dict(None) is None and Usage.from_dict({}) is None
    raw = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12,
           "input_tokens_details": {"text_tokens": 5, "image_tokens": 0}, "output_tokens_details": {}}
    assert Usage.from_dict(raw).to_dict() == raw
    assert Usage.from_dict({"input_tokens": None, "output_tokens": 3}).to_dict()["input_tokens"] == 0


def test_open_reads_regular_files_only_and_never_past_the_limit(tmp_path: Path) -> None:
    import os

    from nbimages.errors import InvalidInputError

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it to read would block until a writer came
    with pytest.raises(InvalidInputError, match="not a named pipe"):
        Image.open(fifo)
    with pytest.raises(InvalidInputError, match="not a character device"):
        Image.open("/dev/zero")
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.truncate(51 * 2**20)  # sparse: 51 MB that cost nothing to write
    with pytest.raises(InvalidInputError, match="at most 50 MB"):
        Image.open(big)

"""A corpus of bad inputs, through every front end: each is refused before any request.

Every row must raise (or, in a notebook, show) an `InvalidInputError` that names the
parameter, repeats the value and says what would be accepted, and the simulator behind
the client must have received nothing. The simulator is real (in-process transport for
the Python API, a 127.0.0.1 socket for the magics), so "no request" is counted, not assumed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from IPython.utils.capture import capture_output

import nbimages
from nbimages import config
from nbimages.errors import InvalidInputError


# -- bad things on disk and in memory ---------------------------------------------------------
def _encode(mode: str, size: tuple[int, int], color: Any, fmt: str) -> bytes:
    from io import BytesIO

    from PIL import Image as PIL

    buffer = BytesIO()
    PIL.new(mode, size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def crafted_png(width: int, height: int, idat: bytes, *, bit_depth: int = 8, color_type: int = 2) -> bytes:
    """A PNG written chunk by chunk, with right checksums: whatever the header claims."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def with_bad_ihdr_crc(png: bytes) -> bytes:
    """Every chunk there, up to IEND: it looks complete, but the header's checksum is wrong."""
    data = bytearray(png)
    data[29] ^= 0xFF  # the 4 bytes after IHDR's 13 (8 signature + 8 length and type + 13)
    return bytes(data)


@functools.cache
def bomb_png(side: int = 20_000) -> bytes:
    """A real side x side black 1-bit PNG: tens of kB on disk, 1.2 GB as RGB pixels at 20000."""
    deflate = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte, then the row's bits
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    return crafted_png(side, side, idat, bit_depth=1, color_type=0)


class EndlessReader:
    """A file-like object with no end, like ``open('/dev/zero', 'rb')``; counts what it gave."""

    def __init__(self) -> None:
        self.given = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise MemoryError("read() without a size never ends here")
        self.given += size
        return bytes(size)


@contextmanager
def unblocks_fifo_readers(fifo: Path, after: float = 10.0) -> Iterator[None]:
    """If something still waits to read ``fifo`` after ``after`` seconds, feed it text and close:
    code that opens a FIFO then fails its test (a wrong error) instead of hanging the run."""
    done = threading.Event()
    open_fd = os.open  # taken now: a test may replace os.open to prove it is not called

    def feed() -> None:
        if done.wait(after):
            return
        try:
            fd = open_fd(fifo, os.O_WRONLY | os.O_NONBLOCK)  # fails when nobody is reading
        except OSError:
            return
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(b"not an image")

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@dataclass(frozen=True)
class Bad:
    """Files (paths as strings, as users type them) and bytes that no endpoint should accept."""

    folder: Path
    good: str  # a 64x64 RGB PNG: a fine image, a bad mask
    mask_ok: str  # a 64x64 RGBA PNG (to prove the other files are refused for their own fault)
    mask_small: str  # 32x64 RGBA PNG
    mask_jpeg: str
    truncated: str
    empty: str
    directory: str
    missing: str
    text: str
    huge: str  # 51 MB (sparse: costs no disk)
    # complete-looking images that do not decode, or would not fit in memory decoded
    bad_crc: str  # good.png with a wrong IHDR checksum
    mask_bad_crc: str  # mask_ok.png with a wrong IHDR checksum
    zero_size: str  # a 0x0 PNG
    bomb: str  # 20000x20000 pixels in 48 kB
    scrambled: str  # right checksums, but IDAT is not a deflate stream
    # files that are not regular files: their size reads 0, and reading them never ends or blocks
    fifo: str
    char_device: str  # /dev/zero
    mask_huge: str  # 5 MB (sparse), over the 4 MB of a mask

    @property
    def good_bytes(self) -> bytes:
        return Path(self.good).read_bytes()


@pytest.fixture
def bad(tmp_path: Path) -> Iterator[Bad]:
    files = {
        "good.png": _encode("RGB", (64, 64), (10, 120, 200), "PNG"),
        "mask_ok.png": _encode("RGBA", (64, 64), (0, 0, 0, 0), "PNG"),
        "mask_small.png": _encode("RGBA", (32, 64), (0, 0, 0, 0), "PNG"),
        "mask.jpg": _encode("RGB", (64, 64), (0, 0, 0), "JPEG"),
        "truncated.png": _encode("RGB", (64, 64), (1, 2, 3), "PNG")[:-20],
        "empty.png": b"",
        "notes.png": b"these are meeting notes, not pixels\n",
    }
    files.update({
        "bad_crc.png": with_bad_ihdr_crc(files["good.png"]),
        "mask_bad_crc.png": with_bad_ihdr_crc(files["mask_ok.png"]),
        "zero.png": crafted_png(0, 0, zlib.compress(b"")),
        "bomb.png": bomb_png(),
        "scrambled.png": crafted_png(64, 64, b"these bytes are not a deflate stream"),
    })
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "album.png").mkdir()
    with (tmp_path / "huge.png").open("wb") as f:
        f.write(files["good.png"])
        f.truncate(config.MAX_IMAGE_BYTES + 2**20)
    with (tmp_path / "mask_huge.png").open("wb") as f:
        f.write(files["mask_ok.png"])
        f.truncate(config.MAX_MASK_BYTES + 2**20)
    os.mkfifo(tmp_path / "pipe.png")
    p = lambda name: str(tmp_path / name)  # noqa: E731
    with unblocks_fifo_readers(tmp_path / "pipe.png"):
        yield Bad(tmp_path, p("good.png"), p("mask_ok.png"), p("mask_small.png"), p("mask.jpg"), p("truncated.png"),
                  p("empty.png"), p("album.png"), p("missing.png"), p("notes.png"), p("huge.png"), p("bad_crc.png"),
                  p("mask_bad_crc.png"), p("zero.png"), p("bomb.png"), p("scrambled.png"), p("pipe.png"),
                  "/dev/zero", p("mask_huge.png"))


def assert_names(err: BaseException, param: str, shows: str) -> None:
    """The error names the parameter, shows the value and says what is accepted, in one short line."""
    assert isinstance(err, InvalidInputError), repr(err)
    assert isinstance(err, ValueError) and isinstance(err, nbimages.NbImagesError)
    message = str(err)
    assert err.param == param, message
    assert message.startswith(f"{param}="), message
    assert shows in message.split(" is not valid")[0], f"value {shows!r} not shown in {message!r}"
    assert err.expected and f"expected {err.expected}" in message, message
    assert "\n" not in message and len(message) < 400, message


# -- the Python API: Client and AsyncClient ---------------------------------------------------
@dataclass(frozen=True)
class Case:
    id: str
    param: str
    shows: str  # how the value appears in the message
    call: Callable[[Any, Bad], Any]  # (client, bad) -> result or awaitable
    expects: str = ""  # part of what the message says would be accepted


def _jpeg_mask_bytes() -> bytes:
    return _encode("RGB", (64, 64), (0, 0, 0), "JPEG")


def _pil(size: tuple[int, int]) -> Any:
    from PIL import Image as PIL

    return PIL.new("RGB", size)


API_CASES = [
    # prompts
    Case("generate: empty prompt", "prompt", "''", lambda c, b: c.generate("")),
    Case("generate: whitespace prompt", "prompt", r"' \n\t '", lambda c, b: c.generate(" \n\t ")),
    Case("generate: prompt of 32001 chars", "prompt", "<32001 characters>", lambda c, b: c.generate("x" * 32_001)),
    Case("generate: prompt is bytes", "prompt", "<6 bytes>", lambda c, b: c.generate(b"a frog")),
    Case("generate: NUL in the prompt", "prompt", r"'a\x00frog'", lambda c, b: c.generate("a\x00frog")),
    Case("generate: lone surrogate in the prompt", "prompt", r"'a \ud800 frog'",
         lambda c, b: c.generate("a \ud800 frog")),
    Case("describe: lone surrogate in the question", "question", r"'why\udfff?'",
         lambda c, b: c.describe(b.good, "why\udfff?")),
    Case("generate: NUL in the model", "model", r"'gpt\x00'", lambda c, b: c.generate("a frog", model="gpt\x00")),
    Case("generate: size in full-width digits", "size", "'１０２４x１０２４'",
         lambda c, b: c.generate("a frog", size="１０２４x１０２４")),
    Case("generate: size with a trailing newline", "size", r"'1024x1024\n'",
         lambda c, b: c.generate("a frog", size="1024x1024\n")),
    # counts
    Case("generate: n=0", "n", "n=0", lambda c, b: c.generate("a frog", n=0)),
    Case("generate: n=11", "n", "n=11", lambda c, b: c.generate("a frog", n=11)),
    Case("generate: n='2'", "n", "n='2'", lambda c, b: c.generate("a frog", n="2")),
    Case("generate: partial_images=4", "partial_images", "=4",
         lambda c, b: c.generate("a frog", partial_images=4, stream=True)),
    Case("generate: partial_images=-1", "partial_images", "=-1",
         lambda c, b: c.generate("a frog", partial_images=-1, stream=True)),
    # sizes
    Case("generate: size not divisible by 16", "size", "'1000x1000'", lambda c, b: c.generate("a frog", size="1000x1000")),
    Case("generate: size too large", "size", "'4096x4096'", lambda c, b: c.generate("a frog", size="4096x4096")),
    Case("generate: aspect ratio 4:1", "size", "'2048x512'", lambda c, b: c.generate("a frog", size="2048x512")),
    Case("generate: size with spaces", "size", "'1024 x 1024'", lambda c, b: c.generate("a frog", size="1024 x 1024")),
    Case("generate: size with a star", "size", "'1024*1024'", lambda c, b: c.generate("a frog", size="1024*1024")),
    Case("generate: size 'large'", "size", "'large'", lambda c, b: c.generate("a frog", size="large")),
    Case("generate: size as a tuple", "size", "(1024, 1024)", lambda c, b: c.generate("a frog", size=(1024, 1024))),
    # sizes over (or under) the model's pixel limits, and outside a model's fixed list
    Case("generate: 3840x3840, over the pixel limit", "size", "'3840x3840'",
         lambda c, b: c.generate("a frog", size="3840x3840")),
    Case("generate: 2896x2896, just over the pixel limit", "size", "'2896x2896'",
         lambda c, b: c.generate("a frog", size="2896x2896", model="gpt-image-2")),
    Case("generate: under gpt-image-2's pixel minimum", "size", "'512x768'",
         lambda c, b: c.generate("a frog", size="512x768", model="gpt-image-2")),
    Case("generate: gpt-image-1.5 and a flexible size", "size", "'1792x1024'",
         lambda c, b: c.generate("a frog", size="1792x1024", model="gpt-image-1.5")),
    Case("generate: a shut-down model, with its replacement", "model", "'gpt-image-1'",
         lambda c, b: c.generate("a frog", model="gpt-image-1"), "gpt-image-2.5-sunburst"),
    Case("generate: a retired DALL·E model", "model", "'dall-e-3'",
         lambda c, b: c.generate("a frog", model="dall-e-3"), "retired"),
    Case("respond: a shut-down model in the tool", "model", "'gpt-image-1-2025-04-15'",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "model": "gpt-image-1-2025-04-15"}])),
    # options of today's models, refused before the upload
    Case("generate: quality xhigh on gpt-image-2", "quality", "'xhigh'",
         lambda c, b: c.generate("a frog", quality="xhigh", model="gpt-image-2"), "GPT Image 2.5"),
    Case("generate: quality 'standard' (DALL·E's)", "quality", "'standard'",
         lambda c, b: c.generate("a frog", quality="standard"), "retired"),
    Case("generate: complexity typo", "complexity", "'meduim'",
         lambda c, b: c.generate("a frog", complexity="meduim"), "did you mean 'medium'"),
    Case("generate: an empty safety_identifier", "safety_identifier", "''",
         lambda c, b: c.generate("a frog", safety_identifier="")),
    Case("generate: a safety_identifier over 128 characters", "safety_identifier", "'uuu",
         lambda c, b: c.generate("a frog", safety_identifier="u" * 129), "128 characters"),
    Case("edit: input_fidelity high on gpt-image-1-mini", "input_fidelity", "'high'",
         lambda c, b: c.edit("a hat", b.good, input_fidelity="high", model="gpt-image-1-mini"), "'low'"),
    Case("edit: input_fidelity on gpt-image-2", "input_fidelity", "'low'",
         lambda c, b: c.edit("a hat", b.good, input_fidelity="low", model="gpt-image-2"), "leave it out"),
    Case("generate: frame_count without gif", "frame_count", "=4",
         lambda c, b: c.generate("a frog", frame_count=4), "output_format='gif'"),
    Case("generate: frame_count 17", "frame_count", "=17",
         lambda c, b: c.generate("a frog", output_format="gif", frame_count=17), "from 2 to 16"),
    Case("generate: frame_count 1", "frame_count", "=1",
         lambda c, b: c.generate("a frog", output_format="gif", frame_count=1), "from 2 to 16"),
    Case("generate: frame_duration_ms 0", "frame_duration_ms", "=0",
         lambda c, b: c.generate("a frog", output_format="gif", frame_duration_ms=0)),
    Case("generate: gif streamed", "stream", "=True",
         lambda c, b: c.generate("a frog", output_format="gif", stream=True), "output_format='gif'"),
    Case("generate: gif with partial images", "partial_images", "=2",
         lambda c, b: c.generate("a frog", output_format="gif", partial_images=2), "output_format='gif'"),
    Case("generate: gif with compression", "output_compression", "=50",
         lambda c, b: c.generate("a frog", output_format="gif", output_compression=50), "output_format='gif'"),
    Case("generate: gif with a transparent background", "output_format", "'gif'",
         lambda c, b: c.generate("a frog", output_format="gif", background="transparent"), "'png' or 'webp'"),
    Case("edit: gif with a mask", "mask", "<mask>",
         lambda c, b: c.edit("a hat", b.good, mask=b.mask_ok, output_format="gif"), "output_format='gif'"),
    Case("respond: gif tool with partial images", "partial_images", "=1",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "output_format": "gif",
                                                   "partial_images": 1}]), "output_format='gif'"),
    Case("generate: svg with n=2", "n", "=2",
         lambda c, b: c.generate("a frog", output_format="svg", n=2), "output_format='svg'"),
    Case("generate: svg streamed", "stream", "=True",
         lambda c, b: c.generate("a frog", output_format="svg", stream=True), "output_format='svg'"),
    Case("generate: svg options without svg output", "svg", "'gpt-5'",
         lambda c, b: c.generate("a frog", svg={"model": "gpt-5"}), "output_format='svg'"),
    Case("generate: svg options without a model", "svg", "'reasoning'",
         lambda c, b: c.generate("a frog", output_format="svg", svg={"reasoning": {"effort": "low"}}), "'model'"),
    Case("generate: svg reasoning effort unknown", "svg[reasoning][effort]", "'extreme'",
         lambda c, b: c.generate("a frog", output_format="svg", svg={"model": "gpt-5", "reasoning": {"effort": "extreme"}})),
    Case("generate: 1536x1024 on gpt-image-1.5 is fine, 2048x1152 is not", "size", "'2048x1152'",
         lambda c, b: c.generate("a frog", size="2048x1152", model="gpt-image-1.5"), "'1536x1024'"),
    Case("edit: size over the pixel limit", "size", "'3200x3200'",
         lambda c, b: c.edit("a hat", b.good, size="3200x3200")),
    Case("respond: tool size over the pixel limit", "size", "'3840x3840'",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "size": "3840x3840"}])),
    Case("respond: gpt-image-1-mini tool with a flexible size", "size", "'2048x1152'",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "model": "gpt-image-1-mini",
                                                   "size": "2048x1152"}])),
    Case("variations: a size the endpoint does not make", "size", "'1536x1024'",
         lambda c, b: c.variations(b.mask_ok, size="1536x1024")),
    # formats and options
    Case("generate: output_compression=101", "output_compression", "=101",
         lambda c, b: c.generate("a frog", output_format="jpeg", output_compression=101)),
    Case("generate: output_compression=-5", "output_compression", "=-5",
         lambda c, b: c.generate("a frog", output_format="webp", output_compression=-5)),
    Case("generate: output_compression with PNG", "output_compression", "=80",
         lambda c, b: c.generate("a frog", output_format="png", output_compression=80)),
    Case("generate: transparent background as JPEG", "output_format", "'jpeg'",
         lambda c, b: c.generate("a frog", background="transparent", output_format="jpeg")),
    Case("generate: quality typo 'hgih'", "quality", "'hgih'", lambda c, b: c.generate("a frog", quality="hgih")),
    Case("generate: quality 'HIGH'", "quality", "'HIGH'", lambda c, b: c.generate("a frog", quality="HIGH")),
    Case("generate: output_format 'jpg'", "output_format", "'jpg'",
         lambda c, b: c.generate("a frog", output_format="jpg")),
    Case("generate: background typo", "background", "'transparant'",
         lambda c, b: c.generate("a frog", background="transparant")),
    Case("generate: moderation typo", "moderation", "'lwo'", lambda c, b: c.generate("a frog", moderation="lwo")),
    Case("generate: empty model", "model", "''", lambda c, b: c.generate("a frog", model="")),
    Case("generate: URL replies", "response_format", "'url'",
         lambda c, b: c.generate("a frog", response_format="url")),
    # images and masks for edits
    Case("edit: mask of the wrong size", "mask", "32x64", lambda c, b: c.edit("a hat", b.good, mask=b.mask_small)),
    Case("edit: mask without alpha", "mask", "good.png", lambda c, b: c.edit("a hat", b.good, mask=b.good)),
    Case("edit: JPEG mask file", "mask", "mask.jpg", lambda c, b: c.edit("a hat", b.good, mask=b.mask_jpeg)),
    Case("edit: JPEG mask bytes", "mask", "bytes>", lambda c, b: c.edit("a hat", b.good, mask=_jpeg_mask_bytes())),
    Case("edit: truncated PNG mask", "mask", "truncated.png", lambda c, b: c.edit("a hat", b.good, mask=b.truncated)),
    Case("edit: mask with an input_fidelity typo", "input_fidelity", "'hihg'",
         lambda c, b: c.edit("a hat", b.good, mask=b.mask_ok, input_fidelity="hihg")),
    Case("edit: truncated PNG", "image", "truncated.png", lambda c, b: c.edit("a hat", b.truncated)),
    Case("edit: empty file", "image", "empty.png", lambda c, b: c.edit("a hat", b.empty)),
    Case("edit: a directory", "image", "album.png", lambda c, b: c.edit("a hat", b.directory)),
    Case("edit: missing path", "image", "missing.png", lambda c, b: c.edit("a hat", b.missing)),
    Case("edit: missing pathlib.Path", "image", "missing.png", lambda c, b: c.edit("a hat", Path(b.missing))),
    Case("edit: ftp URL", "image", "'ftp://example.com/cat.png'",
         lambda c, b: c.edit("a hat", "ftp://example.com/cat.png")),
    Case("edit: file URL", "image", "'file:///tmp/cat.png'", lambda c, b: c.edit("a hat", "file:///tmp/cat.png")),
    Case("edit: http URL", "image", "'https://example.com/cat.png'",
         lambda c, b: c.edit("a hat", "https://example.com/cat.png")),
    Case("edit: image over 50 MB", "image", "huge.png", lambda c, b: c.edit("a hat", b.huge)),
    Case("edit: bytes over 50 MB", "image", "bytes>", lambda c, b: c.edit("a hat", b.good_bytes + bytes(51 * 2**20))),
    Case("edit: non-image bytes", "image", "<22 bytes>", lambda c, b: c.edit("a hat", b"GIF? no, just a string")),
    Case("edit: a text file named .png", "image", "notes.png", lambda c, b: c.edit("a hat", b.text)),
    Case("edit: empty bytes", "image", "<0 bytes>", lambda c, b: c.edit("a hat", b"")),
    Case("edit: a dict", "image", "{'path'", lambda c, b: c.edit("a hat", {"path": b.good})),
    Case("edit: second of two images missing", "image[1]", "missing.png",
         lambda c, b: c.edit("a hat", [b.good, b.missing])),
    Case("edit: 17 images", "image", "<17 images>", lambda c, b: c.edit("a hat", [b.good] * 17)),
    Case("edit: whitespace prompt", "prompt", "'   '", lambda c, b: c.edit("   ", b.good)),
    # images that look complete but do not decode, or would not fit in memory decoded
    Case("edit: PNG with a bad IHDR checksum", "image", "bad_crc.png", lambda c, b: c.edit("a hat", b.bad_crc),
         "decodes"),
    Case("edit: 0x0 PNG", "image", "zero.png", lambda c, b: c.edit("a hat", b.zero_size), "(0x0)"),
    Case("edit: 20000x20000 PNG bomb", "image", "bomb.png", lambda c, b: c.edit("a hat", b.bomb), "20000x20000"),
    Case("edit: PNG whose pixels are not deflate data", "image", "scrambled.png",
         lambda c, b: c.edit("a hat", b.scrambled), "does not decode"),
    Case("edit: bomb as bytes", "image", "bytes>", lambda c, b: c.edit("a hat", bomb_png()), "20000x20000"),
    Case("edit: second image with a bad checksum", "image[1]", "bad_crc.png",
         lambda c, b: c.edit("a hat", [b.good, b.bad_crc]), "decodes"),
    Case("edit: mask with a bad IHDR checksum", "mask", "mask_bad_crc.png",
         lambda c, b: c.edit("a hat", b.good, mask=b.mask_bad_crc), "decodes"),
    Case("edit: a 0x0 PIL image", "image", "PIL image 0x0", lambda c, b: c.edit("a hat", _pil((0, 0))), "0x0"),
    Case("edit: a 20000x20000 array", "image", "(20000, 20000)",
         lambda c, b: c.edit("a hat", np.broadcast_to(np.uint8(0), (20_000, 20_000))), "40,000,000 pixels"),
    # files that are not regular files, and reads with no end
    Case("edit: a FIFO", "image", "pipe.png", lambda c, b: c.edit("a hat", b.fifo), "named pipe"),
    Case("edit: /dev/zero", "image", "'/dev/zero'", lambda c, b: c.edit("a hat", b.char_device), "character device"),
    Case("edit: mask is a FIFO", "mask", "pipe.png", lambda c, b: c.edit("a hat", b.good, mask=b.fifo), "named pipe"),
    Case("edit: mask file over 4 MB", "mask", "mask_huge.png",
         lambda c, b: c.edit("a hat", b.good, mask=b.mask_huge), "4 MB"),
    Case("edit: a file object with no end", "image", "EndlessReader",
         lambda c, b: c.edit("a hat", EndlessReader()), "at most 50 MB"),
    # vision
    Case("describe: detail='ultra'", "detail", "'ultra'", lambda c, b: c.describe(b.good, detail="ultra")),
    Case("describe: ftp URL", "image", "'ftp://example.com/cat.png'",
         lambda c, b: c.describe("ftp://example.com/cat.png")),
    Case("describe: file URL", "image", "'file:///etc/hostname'", lambda c, b: c.describe("file:///etc/hostname")),
    Case("describe: missing path", "image", "missing.png", lambda c, b: c.describe(b.missing)),
    Case("describe: a directory", "image", "album.png", lambda c, b: c.describe(b.directory)),
    Case("describe: non-image file", "image", "notes.png", lambda c, b: c.describe(b.text)),
    Case("describe: empty question", "question", "''", lambda c, b: c.describe(b.good, "")),
    Case("describe: PNG with a bad IHDR checksum", "image", "bad_crc.png", lambda c, b: c.describe(b.bad_crc),
         "decodes"),
    Case("describe: 20000x20000 PNG bomb", "image", "bomb.png", lambda c, b: c.describe(b.bomb), "20000x20000"),
    Case("describe: 0x0 PNG", "image", "zero.png", lambda c, b: c.describe(b.zero_size), "(0x0)"),
    Case("describe: a FIFO", "image", "pipe.png", lambda c, b: c.describe(b.fifo), "named pipe"),
    Case("describe: /dev/zero", "image", "'/dev/zero'", lambda c, b: c.describe(b.char_device), "character device"),
    Case("describe: nothing to look at", "image", "[]", lambda c, b: c.describe([])),
    # Responses API and its image tool
    Case("respond: tool size not divisible by 16", "size", "'1000x1000'",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "size": "1000x1000"}])),
    Case("respond: tool partial_images=4", "partial_images", "=4",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "partial_images": 4}], stream=True)),
    Case("respond: tool quality typo", "quality", "'meduim'",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "quality": "meduim"}])),
    Case("respond: image given as file URL", "images[0]", "'file:///tmp/a.png'",
         lambda c, b: c.respond("what is this?", images=["file:///tmp/a.png"])),
    Case("respond: detail='ultra'", "detail", "'ultra'",
         lambda c, b: c.respond("what is this?", images=[b.good], detail="ultra")),
    Case("respond: empty input", "input", "''", lambda c, b: c.respond("")),
    Case("respond: image is a bomb", "images[0]", "bomb.png",
         lambda c, b: c.respond("what is this?", images=[b.bomb]), "20000x20000"),
    Case("respond: tool mask with a bad checksum", "input_image_mask", "mask_bad_crc.png",
         lambda c, b: c.respond("a frog", tools=[{"type": "image_generation", "input_image_mask": b.mask_bad_crc}]),
         "decodes"),
    # variations and files
    Case("variations: n=11", "n", "n=11", lambda c, b: c.variations(b.good, n=11)),
    Case("variations: JPEG", "image", "mask.jpg", lambda c, b: c.variations(b.mask_jpeg)),
    Case("upload: non-image bytes", "file", "<9 bytes>", lambda c, b: c.upload(b"%PDF-1.7\n")),
    Case("upload: empty file", "file", "empty.png", lambda c, b: c.upload(b.empty)),
    Case("upload: PNG bomb", "file", "bomb.png", lambda c, b: c.upload(b.bomb), "20000x20000"),
    Case("upload: /dev/zero", "file", "'/dev/zero'", lambda c, b: c.upload(b.char_device), "character device"),
    Case("variations: PNG with a bad IHDR checksum", "image", "bad_crc.png", lambda c, b: c.variations(b.bad_crc),
         "decodes"),
]


@pytest.fixture(params=["Client", "AsyncClient"])
def api(request: pytest.FixtureRequest, sim_transport: Any) -> Iterator[Any]:
    """A sync or async client over the in-process simulator (with a key, as against OpenAI)."""
    if request.param == "Client":
        http: Any = httpx.Client(transport=sim_transport)
        yield nbimages.Client(api_key="sk-test", base_url="http://simulator.test/v1", http_client=http)
        http.close()
    else:
        http = httpx.AsyncClient(transport=sim_transport)
        yield nbimages.AsyncClient(api_key="sk-test", base_url="http://simulator.test/v1", http_client=http)
        asyncio.run(http.aclose())


def call_api(call: Callable[[Any, Bad], Any], client: Any, bad: Bad) -> Any:
    async def run() -> Any:
        result = call(client, bad)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, nbimages.AsyncStream):
            async with result:
                return [event async for event in result]
        if isinstance(result, nbimages.Stream):
            with result:
                return list(result)
        return result

    return asyncio.run(run())


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_python_api_refuses_before_sending(api: Any, simulator: Any, bad: Bad, case: Case) -> None:
    with pytest.raises(InvalidInputError) as info:
        call_api(case.call, api, bad)
    assert_names(info.value, case.param, case.shows)
    assert case.expects in info.value.expected, str(info.value)
    assert simulator.requests == []


@pytest.mark.parametrize("call", [
    lambda c, b: c.generate("a frog", size="1024x1024", quality="xhigh"),  # an unknown quality passes through
    lambda c, b: c.edit("a hat", b.good, mask=b.mask_ok),
    lambda c, b: c.describe(b.good, detail="low"),
], ids=["generate", "edit with mask", "describe"])
def test_good_inputs_do_reach_the_simulator(api: Any, simulator: Any, bad: Bad, call: Callable[..., Any]) -> None:
    """The control: the counter above would see a request (so zero means nothing was sent)."""
    call_api(call, api, bad)
    assert len(simulator.requests) == 1


# -- Conversation ---------------------------------------------------------------------------
CONVERSATION_CASES = [
    Case("generate: n=0", "n", "n=0", lambda conv, b: conv.generate("a frog", n=0)),
    Case("generate: stream, partial_images=4", "partial_images", "=4",
         lambda conv, b: conv.generate("a frog", stream=True, partial_images=4)),
    Case("generate: empty prompt", "prompt", "''", lambda conv, b: conv.generate("")),
    Case("edit: nothing to edit yet", "image", "None", lambda conv, b: conv.edit("a hat")),
    Case("edit: mask without alpha", "mask", "good.png", lambda conv, b: conv.edit("a hat", b.good, mask=b.good)),
    Case("edit: truncated PNG", "image", "truncated.png", lambda conv, b: conv.edit("a hat", b.truncated)),
    Case("edit: PNG bomb", "image", "bomb.png", lambda conv, b: conv.edit("a hat", b.bomb), "20000x20000"),
    Case("edit: a FIFO", "image", "pipe.png", lambda conv, b: conv.edit("a hat", b.fifo), "named pipe"),
    Case("send: extra image with a bad checksum", "images[0]", "bad_crc.png",
         lambda conv, b: conv.send("a frog", images=[b.bad_crc]), "decodes"),
    Case("send: size too large", "size", "'4096x4096'", lambda conv, b: conv.send("a frog", size="4096x4096")),
    Case("send: size over the pixel limit", "size", "'3840x3840'", lambda conv, b: conv.send("a frog", size="3840x3840")),
    Case("generate: size over the pixel limit", "size", "'3840x3840'",
         lambda conv, b: conv.generate("a frog", size="3840x3840")),
    Case("send: whitespace prompt", "input", "'  '", lambda conv, b: conv.send("  ")),
    Case("send: transparent JPEG", "output_format", "'jpeg'",
         lambda conv, b: conv.send("a frog", background="transparent", output_format="jpeg")),
    Case("send: extra image missing", "images[0]", "missing.png", lambda conv, b: conv.send("a frog", images=[b.missing])),
    Case("checkout: unknown turn", "turn", "42", lambda conv, b: conv.checkout(42)),
]


@pytest.mark.parametrize("case", CONVERSATION_CASES, ids=[c.id for c in CONVERSATION_CASES])
def test_conversation_refuses_before_sending(client: nbimages.Client, simulator: Any, bad: Bad, case: Case) -> None:
    conv = nbimages.Conversation(client)
    with pytest.raises(InvalidInputError) as info:
        result = case.call(conv, bad)
        if isinstance(result, Iterator):
            list(result)
    assert_names(info.value, case.param, case.shows)
    assert case.expects in info.value.expected, str(info.value)
    assert simulator.requests == []
    assert conv.all_turns == [] and conv.head is None  # nothing half-committed


# -- the magics, in a real IPython shell -------------------------------------------------------
@dataclass(frozen=True)
class MagicCase:
    id: str
    cell: str  # {dir} is replaced by the folder of the `bad` files
    param: str
    shows: str


MAGIC_CASES = [
    MagicCase("whitespace cell", "%%imagine\n   \n\t\n", "prompt", "''"),
    MagicCase("prompt over 32000 chars", "%%imagine\n" + "fog " * 8001, "prompt", "<32003 characters>"),
    MagicCase("empty line prompt", "%imagine", "prompt", "''"),
    MagicCase("--size 1000x1000", "%%imagine --size 1000x1000\na frog", "size", "'1000x1000'"),
    MagicCase("--size 4096x4096", "%%imagine --size 4096x4096\na frog", "size", "'4096x4096'"),
    MagicCase("--size 2048x512", "%%imagine --size 2048x512\na frog", "size", "'2048x512'"),
    MagicCase("--size big", "%%imagine --size big\na frog", "size", "'big'"),
    MagicCase("--size 3840x3840 (over the pixel limit)", "%%imagine --size 3840x3840\na frog", "size", "'3840x3840'"),
    MagicCase("--model gpt-image-1.5 --size 2048x1152", "%%imagine --model gpt-image-1.5 --size 2048x1152\na frog",
              "size", "'2048x1152'"),
    MagicCase("--model gpt-image-1 (shut down)", "%%imagine --model gpt-image-1\na frog", "model", "gpt-image-2.5-flare"),
    MagicCase("--quality max on gpt-image-1.5", "%%imagine --model gpt-image-1.5 --quality max\na frog", "quality",
              "GPT Image 2.5"),
    MagicCase("--frames 20", "%%imagine --output-format gif --frames 20\na frog", "frame_count", "from 2 to 16"),
    MagicCase("--frames without gif", "%%imagine --frames 4\na frog", "frame_count", "output_format='gif'"),
    MagicCase("--svg-effort without --svg-model", "%%imagine --output-format svg --svg-effort low\na frog", "svg",
              "'model'"),
    MagicCase("svg with -n 2", "%%imagine --output-format svg -n 2\na frog", "n", "output_format='svg'"),
    MagicCase("--complexity hgih", "%%imagine --complexity hgih\na frog", "complexity", "did you mean 'high'"),
    MagicCase("-n 0", "%%imagine -n 0\na frog", "n", "n=0"),
    MagicCase("-n 11", "%%imagine -n 11\na frog", "n", "n=11"),
    MagicCase("--partial-images 4", "%%imagine --partial-images 4\na frog", "partial_images", "=4"),
    MagicCase("--partial-images -1", "%%imagine --partial-images -1\na frog", "partial_images", "=-1"),
    MagicCase("--quality hgih", "%%imagine --quality hgih\na frog", "quality", "'hgih'"),
    MagicCase("--output-format jpg", "%%imagine --output-format jpg\na frog", "output_format", "'jpg'"),
    MagicCase("--output-compression 101", "%%imagine --output-format jpeg --output-compression 101\na frog",
              "output_compression", "=101"),
    MagicCase("transparent JPEG", "%%imagine --background transparent --output-format jpeg\na frog",
              "output_format", "'jpeg'"),
    MagicCase("--edit missing path", "%%imagine --edit {dir}/missing.png\na hat", "image", "missing.png"),
    MagicCase("--edit a directory", "%%imagine --edit {dir}/album.png\na hat", "image", "album.png"),
    MagicCase("--edit empty file", "%%imagine --edit {dir}/empty.png\na hat", "image", "empty.png"),
    MagicCase("--edit truncated PNG", "%%imagine --edit {dir}/truncated.png\na hat", "image", "truncated.png"),
    MagicCase("--edit PNG bomb", "%%imagine --edit {dir}/bomb.png\na hat", "image", "20000x20000"),
    MagicCase("--edit bad IHDR checksum", "%%imagine --edit {dir}/bad_crc.png\na hat", "image", "does not decode"),
    MagicCase("--edit a FIFO", "%%imagine --edit {dir}/pipe.png\na hat", "image", "named pipe"),
    MagicCase("--edit /dev/zero", "%%imagine --edit /dev/zero\na hat", "image", "character device"),
    MagicCase("--mask bad IHDR checksum", "%%imagine --edit {dir}/good.png --mask {dir}/mask_bad_crc.png\na hat",
              "mask", "does not decode"),
    MagicCase("--edit ftp URL", "%%imagine --edit ftp://example.com/cat.png\na hat", "image", "ftp://"),
    MagicCase("--edit file URL", "%%imagine --edit file:///tmp/cat.png\na hat", "image", "file://"),
    MagicCase("--mask JPEG", "%%imagine --edit {dir}/good.png --mask {dir}/mask.jpg\na hat", "mask", "mask.jpg"),
    MagicCase("--mask without alpha", "%%imagine --edit {dir}/good.png --mask {dir}/good.png\na hat", "mask",
              "good.png"),
    MagicCase("--mask wrong size", "%%imagine --edit {dir}/good.png --mask {dir}/mask_small.png\na hat", "mask",
              "32x64"),
    MagicCase("--mask with no image yet", "%%imagine --mask {dir}/mask_ok.png\na hat", "image", "None"),
    MagicCase("--edit last with no image yet", "%%imagine --edit last\na hat", "image", "'last'"),
    MagicCase("%describe missing path", "%describe {dir}/missing.png what is it?", "image", "missing.png"),
    MagicCase("%describe a directory", "%describe {dir}/album.png", "image", "album.png"),
    MagicCase("%describe non-image file", "%describe {dir}/notes.png", "image", "notes.png"),
    MagicCase("%describe ftp URL", "%describe ftp://example.com/cat.png", "image", "ftp://"),
    MagicCase("%describe 0x0 PNG", "%describe {dir}/zero.png", "image", "(0x0)"),
    MagicCase("%describe bad IHDR checksum", "%describe {dir}/bad_crc.png", "image", "does not decode"),
    MagicCase("%describe a FIFO", "%describe {dir}/pipe.png", "image", "named pipe"),
    MagicCase("%describe whitespace question", "%describe {dir}/good.png '   '", "question", "question=' '"),
]

# Options argparse itself refuses: IPython shows them as one "UsageError: argument ..." line.
USAGE_CASES = [
    MagicCase("%describe --detail ultra", "%describe {dir}/good.png --detail ultra", "--detail", "'ultra'"),
    MagicCase("-n abc", "%%imagine -n abc\na frog", "-n", "'abc'"),
    MagicCase("--partial-images two", "%%imagine --partial-images two\na frog", "--partial-images", "'two'"),
    MagicCase("--output-compression high", "%%imagine --output-format jpeg --output-compression high\na frog",
              "--output-compression", "'high'"),
]


@pytest.fixture
def magic_shell(ipshell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The shell's magics talk to the simulator on a real socket, with a key, as to OpenAI."""
    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return ipshell


def visible_outputs(outputs: list[Any]) -> list[dict[str, Any]]:
    """What the user ends up seeing: the last version of each display (updates replace)."""
    final: dict[Any, dict[str, Any]] = {}
    for i, out in enumerate(outputs):
        display_id = (out.transient or {}).get("display_id") or i
        final[display_id] = out.data
    return list(final.values())


def run_cell(shell: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as captured:
        result = shell.run_cell(cell)
    return result, captured


@pytest.mark.parametrize("case", MAGIC_CASES, ids=[c.id for c in MAGIC_CASES])
def test_magic_shows_one_line_naming_the_parameter(magic_shell: Any, sim_server: Any, bad: Bad,
                                                   case: MagicCase) -> None:
    result, captured = run_cell(magic_shell, case.cell.replace("{dir}", str(bad.folder)))
    assert result.error_in_exec is None and result.error_before_exec is None  # shown, not raised
    assert "Traceback" not in captured.stdout + captured.stderr
    shown = visible_outputs(captured.outputs)
    assert len(shown) == 1, shown
    text = shown[0]["text/plain"]
    assert "\n" not in text, text
    assert text.startswith(f"nbimages: InvalidInputError: {case.param}="), text
    assert case.shows in text and "expected" in text and "nothing was sent" in text, text
    assert "InvalidInputError</b>: " in shown[0]["text/html"]
    assert sim_server.simulator.requests == []


@pytest.mark.parametrize("case", USAGE_CASES, ids=[c.id for c in USAGE_CASES])
def test_magic_option_of_the_wrong_type_is_one_usage_line(magic_shell: Any, sim_server: Any, bad: Bad,
                                                          case: MagicCase) -> None:
    _result, captured = run_cell(magic_shell, case.cell.replace("{dir}", str(bad.folder)))
    assert captured.outputs == []
    assert "Traceback" not in captured.stdout + captured.stderr
    lines = [line for line in (captured.stdout + captured.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    magic = case.cell.lstrip("%").split()[0]  # the line names its magic: "UsageError: %describe: argument ..."
    assert lines[0].startswith(f"UsageError: %{magic}: argument {case.param}") and case.shows in lines[0], lines[0]
    assert sim_server.simulator.requests == []


def test_magic_control_a_good_cell_reaches_the_simulator(magic_shell: Any, sim_server: Any) -> None:
    result, captured = run_cell(magic_shell, "%%imagine --size 1024x1024 --partial-images 0\na frog")
    assert result.error_in_exec is None
    assert [r for r in sim_server.simulator.requests if r.path.endswith("/images/generations")]
    assert "InvalidInputError" not in str([o.data for o in captured.outputs])


# -- the widgets -------------------------------------------------------------------------------
def _studio(client: Any, **options: Any) -> Any:
    from nbimages.widgets import Studio

    return Studio(client=client, **options)


def _painter(source: Any, **options: Any) -> Any:
    from nbimages.widgets import MaskPainter

    return MaskPainter(source, **options)


def _gallery(**options: Any) -> Any:
    from nbimages.widgets import Gallery

    return Gallery(**options)


def _assign(widget: Any, name: str, value: Any) -> None:
    setattr(widget, name, value)


WIDGET_CASES = [
    Case("Studio: size not divisible by 16", "size", "'1000x1000'", lambda c, b: _studio(c, size="1000x1000")),
    Case("Studio: size too large", "size", "'4096x4096'", lambda c, b: _studio(c, size="4096x4096")),
    Case("Studio: size over the pixel limit", "size", "'3840x3840'", lambda c, b: _studio(c, size="3840x3840")),
    Case("Studio: quality typo", "quality", "'hgih'", lambda c, b: _studio(c, quality="hgih")),
    Case("Studio: partial_images=4", "partial_images", "=4", lambda c, b: _studio(c, partial_images=4)),
    Case("Studio: partial_images=-1 set later", "partial_images", "=-1",
         lambda c, b: _assign(_studio(c), "partial_images", -1)),
    Case("Studio: size set to a malformed string", "size", "'1024 by 1024'",
         lambda c, b: _assign(_studio(c), "size", "1024 by 1024")),
    Case("Studio: unknown option", "colour", "'red'", lambda c, b: _studio(c, colour="red")),
    Case("Studio: misspelt option", "partial_image", "=2", lambda c, b: _studio(c, partial_image=2)),
    Case("Studio: whitespace prompt", "prompt", "''", lambda c, b: _studio(c).generate("  \n")),
    Case("Studio: refine with no image yet", "prompt", "'bluer'", lambda c, b: _studio(c).refine("bluer")),
    Case("Studio: conversation and client both", "client", "Client", lambda c, b: _studio(
        c, conversation=nbimages.Conversation(c))),
    Case("MaskPainter: non-image bytes", "image", "<4 bytes>", lambda c, b: _painter(b"nope")),
    Case("MaskPainter: missing path", "image", "missing.png", lambda c, b: _painter(b.missing)),
    Case("MaskPainter: truncated PNG", "image", "truncated.png", lambda c, b: _painter(b.truncated)),
    Case("MaskPainter: bad IHDR checksum", "image", "bad_crc.png", lambda c, b: _painter(b.bad_crc), "decodes"),
    Case("MaskPainter: 0x0 PNG", "image", "zero.png", lambda c, b: _painter(b.zero_size), "(0x0)"),
    Case("MaskPainter: PNG bomb", "image", "bomb.png", lambda c, b: _painter(b.bomb), "20000x20000"),
    Case("MaskPainter: a FIFO", "image", "pipe.png", lambda c, b: _painter(b.fifo), "named pipe"),
    Case("MaskPainter: painting from a mask with a bad checksum", "painted", "mask_bad_crc.png",
         lambda c, b: _painter(b.good).set_painted(b.mask_bad_crc), "decodes"),
    Case("MaskPainter: a directory", "image", "album.png", lambda c, b: _painter(b.directory)),
    Case("MaskPainter: None", "image", "None", lambda c, b: _painter(None)),
    Case("MaskPainter: brush_size=0", "brush_size", "=0", lambda c, b: _painter(b.good, brush_size=0)),
    Case("MaskPainter: unknown option", "brush", "=12", lambda c, b: _painter(b.good, brush=12)),
    Case("MaskPainter: painting of the wrong shape", "painted", "(32, 32)",
         lambda c, b: _painter(b.good).set_painted(np.zeros((32, 32), dtype=bool))),
    Case("MaskPainter: edit with nothing painted", "mask", "nothing painted",
         lambda c, b: _painter(b.good).edit("a hat", client=c)),
    Case("MaskPainter: edit with a bad size", "size", "'999x999'", lambda c, b: _paint_all(_painter(b.good)).edit(
        "a hat", client=c, size="999x999")),
    Case("Gallery: page_size=0", "page_size", "=0", lambda c, b: _gallery(page_size=0)),
    Case("Gallery: page_size=1000", "page_size", "=1000", lambda c, b: _gallery(page_size=1000)),
    Case("Gallery: page_size as text", "page_size", "'24'", lambda c, b: _gallery(page_size="24")),
    Case("Gallery: unknown option", "columns", "=4", lambda c, b: _gallery(columns=4)),
    Case("Gallery: negative page set later", "page", "=-1", lambda c, b: _assign(_gallery(), "page", -1)),
]


def _paint_all(painter: Any) -> Any:
    painter.set_painted(np.ones((painter.height, painter.width), dtype=bool))
    return painter


@pytest.mark.parametrize("case", WIDGET_CASES, ids=[c.id for c in WIDGET_CASES])
def test_widgets_refuse_before_sending(client: nbimages.Client, simulator: Any, bad: Bad, case: Case) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unknown option must not be a mere warning
        with pytest.raises(InvalidInputError) as info:
            case.call(client, bad)
    assert_names(info.value, case.param, case.shows)
    assert case.expects in info.value.expected, str(info.value)
    assert simulator.requests == []


@pytest.mark.parametrize(("action", "param"), [
    ({"action": "generate", "prompt": "   "}, "prompt"),
    ({"action": "refine", "prompt": "make it blue"}, "prompt"),
], ids=["generate a blank prompt", "refine before any image"])
def test_studio_view_actions_show_one_error_line(client: nbimages.Client, simulator: Any, action: dict[str, Any],
                                                 param: str) -> None:
    """What the browser sends: the error trait shows one line naming the parameter; nothing is sent."""
    studio = _studio(client)
    studio._handle_custom_msg(action, [])
    assert studio.error.startswith(f"InvalidInputError: {param}=") and "expected" in studio.error
    assert "\n" not in studio.error and not studio.busy
    assert simulator.requests == []

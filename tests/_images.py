"""Test images made on the spot (import with ``from _images import make_png``)."""

from __future__ import annotations

import io
from typing import Any


def make_png(size: tuple[int, int] = (64, 64), color: Any = (255, 0, 0), mode: str = "RGB") -> bytes:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    PIL.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape, or 0x0),
    with one row of pixels: decoding it would need the claimed size."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + b"\x00" * 3 * max(width, 1)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(row))
            + _chunk(b"IEND", b""))


def truncated_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG with a valid header whose pixel data stops halfway (it does not decode)."""
    import random

    from PIL import Image as PIL

    noise = random.Random(7).randbytes(size[0] * size[1] * 3)  # incompressible: a long IDAT
    buffer = io.BytesIO()
    PIL.frombytes("RGB", size, noise).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]

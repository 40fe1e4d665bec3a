"""Test images made on the spot (import with ``from _images import make_png``)."""

from __future__ import annotations

import io
from typing import Any


def make_png(size: tuple[int, int] = (64, 64), color: Any = (255, 0, 0), mode: str = "RGB") -> bytes:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    PIL.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()

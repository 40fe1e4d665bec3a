"""Helpers for the simulator's tests: synthetic images, masks, SSE parsing, a live server."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest


def png_bytes(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def solid_png(size: tuple[int, int] = (64, 64), color: Any = (255, 0, 0), mode: str = "RGB") -> bytes:
    from PIL import Image

    return png_bytes(Image.new(mode, size, color))


def half_red_blue(size: tuple[int, int] = (128, 64)) -> bytes:
    """Left half pure red, right half pure blue."""
    from PIL import Image

    img = Image.new("RGB", size, (255, 0, 0))
    img.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))
    return png_bytes(img)


def top_bottom(size: tuple[int, int], top: Any, bottom: Any) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, top)
    img.paste(bottom, (0, size[1] // 2, size[0], size[1]))
    return png_bytes(img)


def scene_png(size: tuple[int, int] = (256, 256)) -> bytes:
    """A small picture with varied content (gradient + shapes), so edits show changes."""
    from PIL import Image, ImageDraw

    img = Image.linear_gradient("L").resize(size).convert("RGB")
    d = ImageDraw.Draw(img)
    d.ellipse((20, 20, 120, 120), fill=(200, 30, 30))
    d.rectangle((140, 140, 230, 230), fill=(30, 30, 200))
    return png_bytes(img)


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """An RGBA mask: opaque everywhere, alpha 0 inside ``box`` (the area to edit)."""
    from PIL import Image

    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return png_bytes(mask)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def decode_image(b64: str) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    """Events of a complete SSE body, as (event name, data) dicts: {"event", "data"}."""
    text = raw.decode("utf-8").replace("\r\n", "\n")
    out = []
    for block in text.split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        if data:
            out.append({"event": event, "data": "\n".join(data)})
    return out


def sse_json(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(e["data"]) for e in parse_sse(raw)]


@pytest.fixture
def sim_server() -> Iterator[Any]:
    from nbimages.local import start_server

    with start_server() as handle:
        yield handle

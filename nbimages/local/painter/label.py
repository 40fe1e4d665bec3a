"""The prompt written small in a picture's bottom-left corner, on a dark band.

An edit writes its own prompt there, and its band must hide the earlier one: whose text
may be unknown (the picture came back as an input image), so the band is found in the
pixels too (:func:`find_label_band`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .shapes import Box

if TYPE_CHECKING:
    from PIL import Image as PILImage


def _font(px: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType
        return ImageFont.load_default()


def _label_layout(size: tuple[int, int], text: str) -> tuple[Any, list[str], Box] | None:
    """(font, lines, box) of the corner label for ``text`` on an image of ``size``."""
    from PIL import Image, ImageDraw

    w, h = size
    text = " ".join(text.split())
    if w < 48 or h < 32 or not text:
        return None
    px = max(10, round(min(w, h) / 54))
    font = _font(px)
    d = ImageDraw.Draw(Image.new("L", (1, 1)))
    max_w = w * 0.72
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        trial = (current + " " + word).strip()
        if d.textlength(trial, font=font) <= max_w:
            current = trial
        else:
            if current:
                lines.append(current)
            current = word
        if len(lines) == 2:
            break
    if current and len(lines) < 2:
        lines.append(current)
    if len(lines) == 2 and " ".join(lines) != text:
        while lines[1] and d.textlength(lines[1] + "…", font=font) > max_w:
            lines[1] = lines[1][:-1]
        lines[1] = lines[1].rstrip() + "…"
    pad = px * 0.6
    line_h = px * 1.25
    box_w = max(d.textlength(ln, font=font) for ln in lines) + 2 * pad
    box_h = line_h * len(lines) + 2 * pad - (line_h - px)
    bx, by = px * 0.8, h - px * 0.8 - box_h
    return font, lines, (bx, by, bx + box_w, by + box_h)


def draw_label(img: PILImage.Image, text: str, *, cover: Box | None = None) -> None:
    """Write ``text`` small in the bottom-left corner, on a dark translucent band.

    ``cover`` is a box the band must also cover (an older label being replaced).
    """
    from PIL import ImageDraw

    layout = _label_layout(img.size, text)
    if layout is None:
        return
    font, lines, box = layout
    px = max(10, round(min(img.size) / 54))
    if cover is not None:
        box = (min(box[0], cover[0]), min(box[1], cover[1]), max(box[2], cover[2]),
               max(box[3], cover[3]))
    # Drawn as a mask and pasted: a translucent rounded_rectangle darkens where its parts overlap.
    from PIL import Image

    bx0, by0 = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    bx1, by1 = min(img.width, math.ceil(box[2])), min(img.height, math.ceil(box[3]))
    band = Image.new("L", (bx1 - bx0, by1 - by0), 0)
    ImageDraw.Draw(band).rounded_rectangle((0, 0, bx1 - bx0 - 1, by1 - by0 - 1), radius=px * 0.4,
                                           fill=255 if cover else 205)
    ink = (12, 14, 20, 255) if img.mode == "RGBA" else (12, 14, 20)
    img.paste(ink, (bx0, by0, bx1, by1), band)
    d = ImageDraw.Draw(img, "RGBA")
    pad = px * 0.6
    line_h = px * 1.25
    top = box[3] - (line_h * len(lines) + 2 * pad - (line_h - px))
    for k, ln in enumerate(lines):
        d.text((box[0] + pad, top + pad + k * line_h - px * 0.1), ln, font=font,
               fill=(245, 245, 245, 255))


def label_box(size: tuple[int, int], text: str) -> Box | None:
    layout = _label_layout(size, text)
    return layout[2] if layout else None


def _is_band(pixel: Any) -> bool:
    # the band is (12, 14, 20) at alpha >= 205: no channel can exceed ~62 on any background
    return bool(max(pixel[:3]) <= 64)


def find_label_band(img: PILImage.Image) -> Box | None:
    """The box of a corner label band already in ``img`` (None if there is none).

    Scans a row just above the band's bottom corners rightwards and a column just right
    of its left corners upwards: no glyph reaches either, so the box is found whatever
    text the band holds, to the pixel (a band redrawn over it does not grow).
    """
    w, h = img.size
    if w < 48 or h < 32:
        return None
    rgb = img.convert("RGB")
    px = max(10, round(min(w, h) / 54))
    bx, bottom = px * 0.8, h - px * 0.8
    inset = math.ceil(px * 0.4) + 1  # past the rounded corner
    row = math.ceil(bottom) - 1 - inset
    col = math.floor(bx) + inset
    if not (_is_band(rgb.getpixel((col, row))) and _is_band(rgb.getpixel((col + px, row)))):
        return None
    # the widest band: a full line plus padding, drawn at most at this size
    max_right = min(w - 1, int(bx + w * 0.72 + 2 * px))
    right = col
    while right + 1 <= max_right and _is_band(rgb.getpixel((right + 1, row))):
        right += 1
    max_h = px * 1.25 * 2 + 2 * px  # two lines and their padding
    top = row
    while top - 1 >= max(0, int(bottom - max_h)) and _is_band(rgb.getpixel((col, top - 1))):
        top -= 1
    return (bx, float(top), float(right + 1), bottom)

"""Procedural images for the simulator: deterministic, fast, related to the prompt.

A prompt is read into a :class:`~nbimages.local.scene.Scene` (colours, objects, mood)
and drawn with Pillow on a gradient sky: ground layers (mountains, hills, water) at the
bottom, sky objects (sun, moon, clouds, birds) at the top, everything else in slots
across the middle, and the prompt written small in the bottom-left corner.

Pillow is imported inside the functions so that importing the simulator stays cheap.
"""

from __future__ import annotations

import io
import math
import random
import struct
import threading
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from .colors import RGB, mix, shade
from .scene import DEFAULT_COLORS, Element, Scene, parse_prompt

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageDraw as PILImageDraw

Box = tuple[float, float, float, float]

SKY_KINDS = ("sun", "moon", "cloud", "bird", "rainbow", "balloon")
GROUND_KINDS = ("mountain", "hill", "water")
GROUNDED_KINDS = ("tree", "house", "building", "flower", "person", "cat", "lighthouse", "car")
WATER_KINDS = ("boat", "fish")
TALL_KINDS = ("tree", "building", "person", "lighthouse")

MOOD_SKIES: dict[str, tuple[RGB, RGB]] = {
    "night": ((8, 12, 40), (45, 55, 110)),
    "dusk": ((60, 50, 120), (230, 140, 120)),
    "sunset": ((70, 40, 120), (255, 150, 80)),
    "space": ((0, 0, 8), (30, 15, 60)),
    "underwater": ((0, 90, 140), (0, 30, 70)),
    "snow": ((190, 205, 225), (245, 248, 252)),
    "fog": ((170, 175, 185), (225, 228, 232)),
    "desert": ((120, 180, 235), (250, 225, 170)),
    "autumn": ((150, 190, 230), (250, 210, 150)),
    "storm": ((50, 55, 70), (120, 125, 140)),
}
DAY_SKIES: tuple[tuple[RGB, RGB], ...] = (
    ((70, 130, 220), (190, 220, 250)),
    ((90, 150, 230), (220, 235, 250)),
    ((60, 120, 200), (170, 210, 240)),
    ((100, 160, 225), (235, 225, 240)),
)
ABSTRACT_PALETTE: tuple[RGB, ...] = (
    (230, 57, 70), (241, 250, 238), (168, 218, 220), (69, 123, 157), (29, 53, 87),
    (255, 183, 3), (251, 133, 0), (33, 158, 188), (142, 202, 230), (106, 76, 147),
    (46, 196, 182), (255, 159, 28), (203, 153, 201), (42, 157, 143), (233, 196, 106),
)

C2PA_MANIFEST = (
    b'{"claim_generator":"nbimages-simulator/0.1","title":"simulated image",'
    b'"assertions":[{"label":"c2pa.actions","data":{"actions":[{"action":"c2pa.created",'
    b'"digitalSourceType":"http://cv.iptc.org/newscodes/digitalsourcetype/'
    b'trainedAlgorithmicMedia","softwareAgent":"nbimages offline simulator"}]}}],'
    b'"note":"placeholder manifest: not signed"}'
)


# --------------------------------------------------------------------------- caching


class LRU:
    """A small thread-safe LRU cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_IMAGES = LRU(12)  # decoded renders keyed by seed and options
_ENCODED = LRU(48)  # encoded bytes


# --------------------------------------------------------------------------- drawing


def _outline(color: RGB) -> tuple[int, int, int, int]:
    return (*shade(color, 0.6), 255)


def _rgba(color: RGB, alpha: int = 255) -> tuple[int, int, int, int]:
    return (color[0], color[1], color[2], alpha)


def _line_width(box: Box) -> int:
    return max(1, int(min(box[2] - box[0], box[3] - box[1]) / 36))


def draw_circle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    d.ellipse(box, fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.ellipse((x0 + w * 0.22, y0 + h * 0.18, x0 + w * 0.42, y0 + h * 0.36),
              fill=(255, 255, 255, 80))


def draw_ring(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    d.ellipse(box, outline=_rgba(color), width=max(2, int((box[2] - box[0]) / 7)))


def draw_square(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    s = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sq = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
    d.rounded_rectangle(sq, radius=s * 0.04, fill=_rgba(color), outline=_outline(color),
                        width=_line_width(box))


def draw_rectangle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    r = (x0 + w * 0.2, y0, x1 - w * 0.2, y1)
    d.rectangle(r, fill=_rgba(color), outline=_outline(color), width=_line_width(box))


def draw_triangle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    pts = [((x0 + x1) / 2, y0), (x1, y1), (x0, y1)]
    d.polygon(pts, fill=_rgba(color), outline=_outline(color), width=_line_width(box))


def _star_points(cx: float, cy: float, r: float, points: int = 5, inner: float = 0.45,
                 rot: float = -math.pi / 2) -> list[tuple[float, float]]:
    pts = []
    for k in range(points * 2):
        rr = r if k % 2 == 0 else r * inner
        a = rot + k * math.pi / points
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def draw_star(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    r = min(x1 - x0, y1 - y0) / 2
    d.polygon(_star_points((x0 + x1) / 2, (y0 + y1) / 2 + r * 0.08, r), fill=_rgba(color),
              outline=_outline(color), width=_line_width(box))


def draw_heart(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    s = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    pts = []
    for k in range(60):
        t = 2 * math.pi * k / 60
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((cx + x * s / 34, cy - y * s / 34))
    d.polygon(pts, fill=_rgba(color), outline=_outline(color), width=_line_width(box))


def draw_diamond(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = (x1 - x0) * 0.38
    pts = [(cx, y0), (cx + w, cy), (cx, y1), (cx - w, cy)]
    d.polygon(pts, fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    d.line([(cx - w, cy), (cx + w, cy)], fill=_rgba(shade(color, 1.4)), width=_line_width(box))


def draw_sun(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = min(x1 - x0, y1 - y0) / 2
    d.ellipse((cx - r * 0.95, cy - r * 0.95, cx + r * 0.95, cy + r * 0.95),
              fill=_rgba(shade(color, 1.3), 70))
    for k in range(12):
        a = k * math.pi / 6
        d.line([(cx + r * 0.72 * math.cos(a), cy + r * 0.72 * math.sin(a)),
                (cx + r * 1.0 * math.cos(a), cy + r * 1.0 * math.sin(a))],
               fill=_rgba(color), width=max(2, int(r / 10)))
    d.ellipse((cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6), fill=_rgba(color))


def draw_moon(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = min(x1 - x0, y1 - y0) / 2 * 0.8
    pts = []
    for k in range(41):  # outer arc, right side
        a = -math.pi / 2 + math.pi * k / 40 - 0.5
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    for k in range(41):  # inner arc back
        a = math.pi / 2 - math.pi * k / 40 - 0.5
        pts.append((cx + r * 0.45 * math.cos(a) + r * 0.05, cy + r * 0.85 * math.sin(a)))
    d.polygon(pts, fill=_rgba(color))


def draw_cloud(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, (y1 - y0) * 0.55
    yb = y0 + (y1 - y0) * 0.7
    fill = _rgba(color, 235)
    d.ellipse((x0, yb - h * 0.55, x0 + w * 0.45, yb), fill=fill)
    d.ellipse((x0 + w * 0.2, yb - h * 1.0, x0 + w * 0.65, yb - h * 0.1), fill=fill)
    d.ellipse((x0 + w * 0.45, yb - h * 0.75, x1, yb), fill=fill)
    d.rounded_rectangle((x0 + w * 0.15, yb - h * 0.4, x1 - w * 0.1, yb), radius=h * 0.2,
                        fill=fill)


def draw_bird(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = (x1 - x0) * 0.35
    lw = max(2, int(w / 8))
    d.line([(cx - w, cy - w * 0.35), (cx - w * 0.45, cy - w * 0.1), (cx, cy + w * 0.15)],
           fill=_rgba(color), width=lw, joint="curve")
    d.line([(cx, cy + w * 0.15), (cx + w * 0.45, cy - w * 0.1), (cx + w, cy - w * 0.35)],
           fill=_rgba(color), width=lw, joint="curve")
    # a body, head and beak under the wings: a parrot or a duck shows its colour
    d.ellipse((cx - w * 0.32, cy + w * 0.02, cx + w * 0.22, cy + w * 0.3), fill=_rgba(color))
    d.ellipse((cx + w * 0.12, cy - w * 0.06, cx + w * 0.36, cy + w * 0.18), fill=_rgba(color))
    d.polygon([(cx + w * 0.34, cy + w * 0.02), (cx + w * 0.5, cy + w * 0.08),
               (cx + w * 0.34, cy + w * 0.13)], fill=(240, 170, 40, 255))


def draw_tree(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    d.rectangle((cx - w * 0.07, y0 + h * 0.6, cx + w * 0.07, y1), fill=(110, 70, 35, 255))
    for k, (top, bot, half) in enumerate(((0.0, 0.42, 0.28), (0.18, 0.6, 0.36),
                                          (0.34, 0.76, 0.44))):
        c = shade(color, 1.0 - 0.1 * (2 - k))
        d.polygon([(cx, y0 + h * top), (cx + w * half, y0 + h * bot),
                   (cx - w * half, y0 + h * bot)], fill=_rgba(c))


def draw_house(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = (x0 + w * 0.1, y0 + h * 0.42, x1 - w * 0.1, y1)
    d.rectangle(body, fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    d.polygon([(x0, y0 + h * 0.45), ((x0 + x1) / 2, y0 + h * 0.05), (x1, y0 + h * 0.45)],
              fill=_rgba(shade(color, 0.55)))
    d.rectangle((x0 + w * 0.42, y0 + h * 0.68, x0 + w * 0.58, y1), fill=(90, 55, 30, 255))
    for wx in (0.2, 0.66):
        d.rectangle((x0 + w * wx, y0 + h * 0.55, x0 + w * (wx + 0.14), y0 + h * 0.69),
                    fill=(255, 236, 150, 255), outline=(60, 40, 20, 255), width=2)


def draw_building(d: PILImageDraw.ImageDraw, box: Box, color: RGB,
                  rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    top = y0 + h * rng.uniform(0.0, 0.35)
    b = (x0 + w * 0.15, top, x1 - w * 0.15, y1)
    d.rectangle(b, fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    cols, rows = 3, max(3, int((y1 - top) / (w * 0.18)))
    bw, bh = (b[2] - b[0]) / (cols * 2 + 1), (y1 - top) / (rows * 2 + 1)
    for r in range(rows):
        for c in range(cols):
            lit = rng.random() < 0.6
            wx, wy = b[0] + bw * (2 * c + 1), top + bh * (2 * r + 1)
            d.rectangle((wx, wy, wx + bw, wy + bh),
                        fill=(255, 230, 140, 255) if lit else (*shade(color, 0.5), 255))


def draw_flower(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, y0 + h * 0.32
    d.line([(cx, cy), (cx, y1)], fill=(40, 140, 50, 255), width=max(2, int(w / 16)))
    d.ellipse((cx, y0 + h * 0.6, cx + w * 0.3, y0 + h * 0.72), fill=(50, 160, 60, 255))
    r = min(w, h) * 0.3
    for k in range(6):
        a = k * math.pi / 3
        px, py = cx + r * 0.6 * math.cos(a), cy + r * 0.6 * math.sin(a)
        d.ellipse((px - r * 0.42, py - r * 0.42, px + r * 0.42, py + r * 0.42),
                  fill=_rgba(color), outline=_outline(color), width=1)
    yellow_petals = color[0] > 200 and color[1] > 150 and color[2] < 120
    d.ellipse((cx - r * 0.35, cy - r * 0.35, cx + r * 0.35, cy + r * 0.35),
              fill=(110, 60, 20, 255) if yellow_petals else (255, 210, 40, 255))


def draw_boat(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    hull_top = y0 + h * 0.62
    pts = [(x0, hull_top)]
    for k in range(21):
        t = k / 20
        pts.append((x0 + w * (0.08 + 0.84 * t), hull_top + h * 0.3 * math.sin(math.pi * t)))
    pts.append((x1, hull_top))
    d.polygon(pts, fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    d.line([(x0 + w * 0.1, hull_top + h * 0.05), (x1 - w * 0.1, hull_top + h * 0.05)],
           fill=_rgba(shade(color, 1.5)), width=max(2, int(h / 30)))
    # a paddle
    d.line([(x0 + w * 0.62, y0 + h * 0.25), (x0 + w * 0.45, hull_top + h * 0.2)],
           fill=(120, 80, 40, 255), width=max(2, int(w / 40)))
    d.ellipse((x0 + w * 0.41, hull_top + h * 0.1, x0 + w * 0.49, hull_top + h * 0.32),
              fill=(120, 80, 40, 255))


def draw_fish(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cy = (y0 + y1) / 2
    d.polygon([(x0 + w * 0.7, cy), (x1, cy - h * 0.25), (x1, cy + h * 0.25)],
              fill=_rgba(shade(color, 0.8)))
    d.ellipse((x0, cy - h * 0.25, x0 + w * 0.78, cy + h * 0.25), fill=_rgba(color),
              outline=_outline(color), width=_line_width(box))
    d.ellipse((x0 + w * 0.12, cy - h * 0.08, x0 + w * 0.2, cy), fill=(20, 20, 20, 255))


def draw_cat(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    s = min(w, h)
    cx, cy = (x0 + x1) / 2, y1 - s * 0.45
    r = s * 0.4
    for sx in (-1, 1):
        d.polygon([(cx + sx * r * 0.9, cy - r * 0.3), (cx + sx * r * 0.75, cy - r * 1.25),
                   (cx + sx * r * 0.2, cy - r * 0.8)], fill=_rgba(shade(color, 0.8)))
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_rgba(color), outline=_outline(color),
              width=_line_width(box))
    for sx in (-1, 1):
        d.ellipse((cx + sx * r * 0.4 - r * 0.12, cy - r * 0.25, cx + sx * r * 0.4 + r * 0.12,
                   cy + r * 0.0), fill=(30, 30, 30, 255))
    d.polygon([(cx - r * 0.1, cy + r * 0.15), (cx + r * 0.1, cy + r * 0.15),
               (cx, cy + r * 0.28)], fill=(60, 30, 30, 255))


def draw_person(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    hr = h * 0.12
    d.ellipse((cx - hr, y0 + h * 0.05, cx + hr, y0 + h * 0.05 + 2 * hr),
              fill=(240, 200, 160, 255))
    d.polygon([(cx - w * 0.22, y0 + h * 0.7), (cx - w * 0.12, y0 + h * 0.32),
               (cx + w * 0.12, y0 + h * 0.32), (cx + w * 0.22, y0 + h * 0.7)],
              fill=_rgba(color))
    lw = max(2, int(w / 14))
    d.line([(cx - w * 0.08, y0 + h * 0.7), (cx - w * 0.12, y1)], fill=(50, 50, 60, 255),
           width=lw)
    d.line([(cx + w * 0.08, y0 + h * 0.7), (cx + w * 0.12, y1)], fill=(50, 50, 60, 255),
           width=lw)
    d.line([(cx - w * 0.12, y0 + h * 0.36), (cx - w * 0.3, y0 + h * 0.56)],
           fill=_rgba(color), width=lw)
    d.line([(cx + w * 0.12, y0 + h * 0.36), (cx + w * 0.3, y0 + h * 0.56)],
           fill=_rgba(color), width=lw)


def draw_rainbow(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    bands = [(228, 3, 3), (255, 140, 0), (255, 237, 0), (0, 128, 38), (36, 64, 142),
             (115, 41, 130)]
    w = x1 - x0
    bw = w / 28
    for k, c in enumerate(bands):
        inset = k * bw
        d.arc((x0 + inset, y0 + inset, x1 - inset, y0 + w - inset), 180, 360,
              fill=_rgba(c, 220), width=int(bw) + 1)


def draw_balloon(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    """A hot-air balloon: a striped envelope, ropes and a basket."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    r = min(w / 2, h / 2.9)
    cx, cy = (x0 + x1) / 2, y0 + r * 1.05

    def envelope(squeeze: float) -> list[tuple[float, float]]:
        pts = []
        for k in range(33):  # 220 degrees over the top, then the taper to the mouth
            a = math.radians(200 - 220 * k / 32)
            pts.append((cx + r * math.cos(a) * squeeze, cy - r * math.sin(a)))
        pts += [(cx + r * 0.32 * squeeze, cy + r * 1.3), (cx - r * 0.32 * squeeze, cy + r * 1.3)]
        return pts

    d.polygon(envelope(1.0), fill=_rgba(color), outline=_outline(color), width=_line_width(box))
    d.polygon(envelope(0.6), fill=_rgba(shade(color, 1.75)))
    d.polygon(envelope(0.25), fill=_rgba(color))
    lw = max(1, int(r / 30))
    top, bottom = cy + r * 1.62, cy + r * 1.9
    for sx in (-1, 1):
        d.line([(cx + sx * r * 0.3, cy + r * 1.3), (cx + sx * r * 0.2, top)],
               fill=(70, 50, 30, 255), width=lw)
    d.rectangle((cx - r * 0.22, top, cx + r * 0.22, bottom), fill=(150, 100, 50, 255),
                outline=(90, 60, 30, 255), width=lw)


def draw_lighthouse(d: PILImageDraw.ImageDraw, box: Box, color: RGB,
                    rng: random.Random) -> None:
    """A tapered tower in bands of ``color`` and white, a lit lamp room and its beams."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    lamp_y = y0 + h * 0.2
    for sx in (-1, 1):
        d.polygon([(cx, lamp_y), (cx + sx * w * 1.6, lamp_y - h * 0.12),
                   (cx + sx * w * 1.6, lamp_y + h * 0.06)], fill=(255, 236, 140, 110))
    tower_top, base_half, top_half = y0 + h * 0.3, w * 0.3, w * 0.18
    bands = 5
    for k in range(bands):
        ya = tower_top + (y1 - tower_top) * k / bands
        yb = tower_top + (y1 - tower_top) * (k + 1) / bands
        ha = top_half + (base_half - top_half) * k / bands
        hb = top_half + (base_half - top_half) * (k + 1) / bands
        fill = color if k % 2 == 0 else (245, 245, 240)
        d.polygon([(cx - ha, ya), (cx + ha, ya), (cx + hb, yb), (cx - hb, yb)], fill=_rgba(fill))
    dark = (45, 45, 55, 255)
    d.rectangle((cx - w * 0.25, tower_top - h * 0.02, cx + w * 0.25, tower_top + h * 0.01),
                fill=dark)
    d.rectangle((cx - w * 0.14, y0 + h * 0.13, cx + w * 0.14, tower_top - h * 0.02),
                fill=(255, 225, 110, 255), outline=dark, width=max(1, _line_width(box) // 2))
    d.polygon([(cx - w * 0.19, y0 + h * 0.13), (cx, y0 + h * 0.03), (cx + w * 0.19, y0 + h * 0.13)],
              fill=_rgba(shade(color, 0.6)))
    d.rectangle((cx - w * 0.05, y1 - h * 0.1, cx + w * 0.05, y1), fill=dark)


def draw_car(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    outline, lw = _outline(color), _line_width(box)
    d.polygon([(x0 + w * 0.22, y0 + h * 0.45), (x0 + w * 0.32, y0 + h * 0.12),
               (x0 + w * 0.68, y0 + h * 0.12), (x0 + w * 0.8, y0 + h * 0.45)],
              fill=_rgba(color), outline=outline, width=lw)
    glass = (190, 225, 245, 255)
    d.polygon([(x0 + w * 0.28, y0 + h * 0.43), (x0 + w * 0.35, y0 + h * 0.19),
               (x0 + w * 0.48, y0 + h * 0.19), (x0 + w * 0.48, y0 + h * 0.43)], fill=glass)
    d.polygon([(x0 + w * 0.52, y0 + h * 0.43), (x0 + w * 0.52, y0 + h * 0.19),
               (x0 + w * 0.65, y0 + h * 0.19), (x0 + w * 0.73, y0 + h * 0.43)], fill=glass)
    d.rounded_rectangle((x0, y0 + h * 0.42, x1, y0 + h * 0.8), radius=h * 0.12,
                        fill=_rgba(color), outline=outline, width=lw)
    d.ellipse((x1 - w * 0.06, y0 + h * 0.5, x1 - w * 0.01, y0 + h * 0.6), fill=(255, 240, 170, 255))
    r = h * 0.19
    for wx in (0.24, 0.76):
        c = (x0 + w * wx, y0 + h * 0.8)
        d.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=(30, 30, 35, 255))
        d.ellipse((c[0] - r * 0.45, c[1] - r * 0.45, c[0] + r * 0.45, c[1] + r * 0.45),
                  fill=(170, 170, 180, 255))


DRAWERS: dict[str, Callable[..., None]] = {
    "circle": draw_circle, "ring": draw_ring, "square": draw_square,
    "rectangle": draw_rectangle, "triangle": draw_triangle, "star": draw_star,
    "heart": draw_heart, "diamond": draw_diamond, "sun": draw_sun, "moon": draw_moon,
    "cloud": draw_cloud, "bird": draw_bird, "tree": draw_tree, "house": draw_house,
    "building": draw_building, "flower": draw_flower, "boat": draw_boat, "fish": draw_fish,
    "cat": draw_cat, "person": draw_person, "rainbow": draw_rainbow,
    "balloon": draw_balloon, "lighthouse": draw_lighthouse, "car": draw_car,
}


# --------------------------------------------------------------------------- layers


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> PILImage.Image:
    from PIL import Image

    w, h = size
    mask = Image.linear_gradient("L").resize((w, h), Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _sky_colors(sky: RGB, rng: random.Random) -> tuple[RGB, RGB]:
    """Top and bottom of a sky asked for in a colour ("a blue sky", "pink skies")."""
    day_top, day_bottom = DAY_SKIES[rng.randrange(len(DAY_SKIES))]
    if sky[2] >= max(sky[0], sky[1]) and sky[2] > 90:
        # a blue sky: a day sky leaning towards that blue (plain "blue" is a harsh 0,0,255)
        return mix(day_top, sky, 0.2), mix(day_bottom, sky, 0.1)
    return mix(sky, (255, 255, 255), 0.1), mix(sky, (255, 255, 255), 0.6)


def _ground_layers(d: PILImageDraw.ImageDraw, region: Box, elements: list[Element],
                   scene: Scene, rng: random.Random) -> float:
    """Draw mountains, hills and water across ``region``; return the baseline y."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    baseline = y0 + h * 0.86
    kinds = {e.kind: e for e in elements}
    if "mountain" in kinds:
        e = kinds["mountain"]
        color = e.color or DEFAULT_COLORS["mountain"]
        peaks = max(2, min(e.count, 5))
        for layer in range(2):
            c = shade(color, 0.75 if layer == 0 else 1.0)
            n = peaks + (1 if layer == 0 else 0)
            for k in range(n):
                px = x0 + w * (k + 0.5 + rng.uniform(-0.25, 0.25)
                               + (0.5 if layer == 0 else 0)) / n - (w / n / 2 if layer == 0 else 0)
                top = y0 + h * (rng.uniform(0.36, 0.46) + 0.06 * layer)
                half = w / n * rng.uniform(0.6, 0.8) * (1.25 if layer == 0 else 1.0)
                base_y = y0 + h * 0.78
                d.polygon([(px, top), (px + half, base_y), (px - half, base_y)], fill=_rgba(c))
                if layer == 1:
                    cap = (base_y - top) * 0.22
                    d.polygon([(px, top), (px + half * cap / (base_y - top), top + cap),
                               (px, top + cap * 0.8),
                               (px - half * cap / (base_y - top), top + cap)],
                              fill=(250, 250, 255, 255))
        baseline = y0 + h * 0.86
    if "hill" in kinds or scene.mood in ("desert", "snow") or (
            "mountain" in kinds and "water" not in kinds):
        e = kinds.get("hill")
        if e and e.color:
            color = e.color
        elif scene.mood == "desert" or (e and e.word in ("desert", "beach", "dune")):
            color = (225, 195, 130)
        elif scene.mood == "snow":
            color = (245, 248, 252)
        else:
            color = DEFAULT_COLORS["hill"] if "mountain" not in kinds else shade(
                kinds["mountain"].color or DEFAULT_COLORS["hill"], 0.6)
        top = y0 + h * 0.72
        d.ellipse((x0 - w * 0.3, top, x0 + w * 0.75, y1 + h * 0.35), fill=_rgba(shade(color, 0.9)))
        # both hills reach below the region (no flat edge); together they cover it from 0.82h down
        d.ellipse((x0 + w * 0.3, top + h * 0.04, x1 + w * 0.3, y1 + h * 0.35), fill=_rgba(color))
        baseline = y0 + h * 0.88
    if "water" in kinds:
        e = kinds["water"]
        color = e.color or DEFAULT_COLORS["water"]
        top = y0 + h * 0.74
        d.rectangle((x0, top, x1, y1), fill=_rgba(color))
        waves = 9
        for row in range(4):
            yy = top + (y1 - top) * (0.12 + row * 0.22)
            amp = h * 0.008
            pts = []
            for k in range(61):
                t = k / 60
                pts.append((x0 + w * t, yy + amp * math.sin(t * waves * 2 * math.pi + row)))
            d.line(pts, fill=_rgba(shade(color, 1.45), 200), width=max(2, int(h / 200)))
        baseline = top + (y1 - top) * 0.25
    return baseline


def _baseline(region: Box, kinds: set[str], mood: str | None) -> tuple[float, bool]:
    """Where grounded objects stand given the ground layers present (y, has water)."""
    y0, y1 = region[1], region[3]
    h = y1 - y0
    if "water" in kinds:
        top = y0 + h * 0.74
        return top + (y1 - top) * 0.25, True
    if "hill" in kinds or mood in ("desert", "snow"):
        return y0 + h * 0.88, False
    if "mountain" in kinds:
        return y0 + h * 0.86, False
    return y0 + h * 0.9, False


def _element_color(e: Element, k: int, rng: random.Random) -> RGB:
    if e.color is not None:
        return e.color if k == 0 else shade(e.color, 1.0 - 0.08 * (k % 3))
    if e.kind in DEFAULT_COLORS:
        base = DEFAULT_COLORS[e.kind]
        return base if k == 0 else shade(base, 1.0 - 0.07 * (k % 3))
    return ABSTRACT_PALETTE[rng.randrange(len(ABSTRACT_PALETTE))]


def _fg_size(kind: str, slot_w: float, h: float, n: int) -> tuple[float, float]:
    """(height, half width) of a foreground thing in a slot ``slot_w`` wide."""
    aspect = {"boat": 1.8, "fish": 1.6, "car": 1.8, "rectangle": 0.9}.get(kind, 1.0)
    if kind in TALL_KINDS:
        size = min(slot_w * 0.95, h * (0.5 if kind == "lighthouse" else 0.42))
        return size, size * {"tree": 0.55, "lighthouse": 0.3}.get(kind, 0.38)
    cap = {"boat": 0.36, "car": 0.2}.get(kind, 0.34 if n <= 2 else 0.28)
    size = min(slot_w * 0.9 / aspect, h * cap)
    return size, size * aspect / 2


Span = tuple[float, float]
# (element, its k-th copy, centre x, slot width, afloat: a boat or fish added to the water)
Placed = tuple[Element, int, float, float, bool]


def _free_spans(region: Box, taken: list[Span]) -> list[Span]:
    """Stretches of ``region`` at least an eighth of it wide that nothing in ``taken`` covers."""
    x0, x1 = region[0], region[2]
    spans, edge = [], x0
    for a, b in sorted(taken):
        if a > edge:
            spans.append((edge, a))
        edge = max(edge, b)
    if edge < x1:
        spans.append((edge, x1))
    return [sp for sp in spans if sp[1] - sp[0] >= (x1 - x0) * 0.12]


def _item_size(e: Element, slot_w: float, h: float, n: int, afloat: bool) -> tuple[float, float]:
    size, hw = _fg_size(e.kind, slot_w, h, n)
    if afloat:  # small enough to float in front of the shore, below what stands there
        fit = min(1.0, h * (0.32 if e.kind == "boat" else 0.1) / size)
        size, hw = size * fit, hw * fit
    return size * e.scale, hw * e.scale


def _layout(region: Box, scene: Scene, has_water: bool,
            taken: tuple[list[Span], list[Span]] | None) -> list[Placed]:
    """Where the foreground things of ``scene`` go: evenly across a fresh picture, or (an
    edit) in the room the earlier turns left, ``taken`` = (standing spans, afloat spans)."""
    items = [(e, k) for e in scene.elements
             if e.kind not in SKY_KINDS and e.kind not in GROUND_KINDS for k in range(e.count)]
    if not items:
        return []
    if taken is None:
        return [(e, k, cx, sw, False)
                for (e, k), (cx, sw) in zip(items, _fg_slots(region, len(items), None))]
    out: list[Placed] = []
    for afloat in (False, True):
        group = [(e, k) for e, k in items if (e.kind in WATER_KINDS and has_water) == afloat]
        if group:
            # clear of everything if there is room, else at least of its own layer
            spans = _free_spans(region, taken[0] + taken[1]) or _free_spans(region, taken[afloat])
            slots = _fg_slots(region, len(group), spans)
            out += [(e, k, cx, sw, afloat) for (e, k), (cx, sw) in zip(group, slots)]
    return out


def _taken(region: Box, turns: list[Scene]) -> tuple[list[Span], list[Span]]:
    """The spans the foreground things of earlier turns were drawn in (replayed)."""
    h = region[3] - region[1]
    taken: tuple[list[Span], list[Span]] = ([], [])
    kinds: set[str] = set()
    for t, turn in enumerate(turns):
        kinds |= {e.kind for e in turn.elements}
        placed = _layout(region, turn, "water" in kinds, None if t == 0 else taken)
        for e, k, cx, slot_w, afloat in placed:
            hw = _item_size(e, slot_w, h, len(placed), afloat)[1] + slot_w * 0.08  # + jitter
            taken[afloat].append((cx - hw, cx + hw))
    return taken


def _fg_slots(region: Box, count: int, spans: list[tuple[float, float]] | None
              ) -> list[tuple[float, float]]:
    """(centre x, slot width) for ``count`` things: evenly, or shared out over ``spans``."""
    x0, x1 = region[0], region[2]
    if not spans:
        slot_w = (x1 - x0) / count
        return [(x0 + slot_w * (k + 0.5), slot_w) for k in range(count)]
    share = [0] * len(spans)
    for _ in range(count):  # each thing to the span with the most room per thing
        # ties go right, away from the label in the bottom-left corner
        best = max(reversed(range(len(spans))),
                   key=lambda i: (spans[i][1] - spans[i][0]) / (share[i] + 1))
        share[best] += 1
    out = []
    for (a, b), m in zip(spans, share):
        for k in range(m):
            out.append((a + (b - a) * (k + 0.5) / m, (b - a) / m))
    return out


def _draw_elements(d: PILImageDraw.ImageDraw, region: Box, scene: Scene,
                   rng: random.Random, *, context: Scene | None = None,
                   history: list[Scene] | None = None) -> None:
    """Draw ``scene``; in an edit ``context`` is the earlier picture's scene and
    ``history`` its turns one by one (to know where their things were put)."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    elements = scene.elements
    kinds = {e.kind for e in elements}
    baseline, has_water = _baseline(region, kinds, scene.mood)
    if context is not None:  # an edit: stand on the ground the earlier picture had
        ctx_kinds = {e.kind for e in context.elements} | kinds
        baseline, has_water = _baseline(region, ctx_kinds, scene.mood or context.mood)
    ground = elements
    if context is not None:  # ground the earlier picture has stays as it is, under its things
        had = {e.kind for e in context.elements}
        ground = [e for e in elements if e.kind not in had]
    if any(e.kind in GROUND_KINDS for e in ground) or (
            scene.mood in ("desert", "snow") and context is None):
        _ground_layers(d, region, ground, scene, rng)

    sky = [e for e in elements if e.kind in SKY_KINDS]
    # birds on their own are the subject ("a red parrot"): big, across the middle
    birds_only = context is None and all(e.kind == "bird" for e in elements)
    # sky objects: along the top
    slots = sum(e.count for e in sky)
    slot = 0
    for e in sky:
        for k in range(e.count):
            cx = x0 + w * (0.12 + 0.76 * (slot + 0.5) / max(slots, 1)) + rng.uniform(-0.03, 0.03) * w
            if e.kind in ("sun", "moon") and slots == 1:
                cx = x0 + w * rng.choice((0.25, 0.75))
            size = min(w, h, w / max(slots, 1) * 1.2) * {
                "sun": 0.24, "moon": 0.2, "cloud": 0.2, "bird": 0.09, "rainbow": 0.8,
                "balloon": 0.3}[e.kind] * e.scale * (3.2 if birds_only else 1.0)
            if e.kind == "rainbow":
                box = (x0 + w * 0.1, y0 + h * 0.12, x1 - w * 0.1, y0 + h * 0.12 + w * 0.8)
            else:
                cy = y0 + h * (0.17 + rng.uniform(-0.04, 0.06) + (0.2 if birds_only else 0))
                if e.kind == "balloon":
                    cy += size * 0.35
                aspect = {"cloud": 1.6, "balloon": 0.72}.get(e.kind, 1.0)
                box = (cx - size * aspect / 2, cy - size / 2, cx + size * aspect / 2,
                       cy + size / 2)
            DRAWERS[e.kind](d, box, _element_color(e, k, rng), rng)
            slot += 1

    # an edit adds things beside what the earlier picture has, not on top of it
    taken = _taken(region, history or [context]) if context is not None else None
    placed = _layout(region, scene, has_water, taken)
    for e, k, cx, slot_w, afloat in placed:
        size, hw = _item_size(e, slot_w, h, len(placed), afloat)
        cx += rng.uniform(-0.08, 0.08) * slot_w
        if afloat:
            cy = y0 + h * 0.9 - size / 2 if e.kind == "boat" else y0 + h * 0.87
        elif e.kind in GROUNDED_KINDS or (e.kind in WATER_KINDS and has_water):
            cy = baseline + (h * 0.05 if e.kind in WATER_KINDS else 0) - size / 2
        else:
            cy = y0 + h * (0.5 + rng.uniform(-0.06, 0.04))
        box = (cx - hw, cy - size / 2, cx + hw, cy + size / 2)
        DRAWERS[e.kind](d, box, _element_color(e, k, rng), rng)


def _mood_details(d: PILImageDraw.ImageDraw, size: tuple[int, int], scene: Scene,
                  rng: random.Random) -> None:
    w, h = size
    if scene.mood in ("night", "space"):
        for _ in range(70 if scene.mood == "space" else 45):
            x, y = rng.uniform(0, w), rng.uniform(0, h * (0.95 if scene.mood == "space" else 0.6))
            r = rng.uniform(0.6, 2.2) * max(1, w / 700)
            d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 235, rng.randint(150, 255)))
    elif scene.mood == "snow":
        for _ in range(90):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(1.0, 3.5) * max(1, w / 700)
            d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 210))
    elif scene.mood == "storm":
        for _ in range(60):
            x, y = rng.uniform(0, w), rng.uniform(0, h * 0.8)
            d.line([(x, y), (x - w * 0.01, y + h * 0.04)], fill=(200, 210, 230, 120), width=2)


def _abstract(d: PILImageDraw.ImageDraw, region: Box, prompt: str, palette: list[RGB],
              rng: random.Random) -> None:
    """A composition for prompts with no drawable words: shapes chosen by the words."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    words = [wd for wd in prompt.lower().split() if len(wd) > 2] or [prompt or "image"]
    kinds = ("circle", "square", "triangle", "star", "diamond", "ring", "heart")
    colors = list(palette) or [ABSTRACT_PALETTE[(zlib.crc32(wd.encode()) >> 3)
                                                % len(ABSTRACT_PALETTE)] for wd in words]
    n = max(3, min(len(words), 6))
    for k in range(n):
        wd = words[k % len(words)]
        hv = zlib.crc32(wd.encode()) + k * 7919
        kind = kinds[hv % len(kinds)]
        size = min(w, h) * rng.uniform(0.18, 0.34)
        cx = x0 + w * (0.15 + 0.7 * rng.random())
        cy = y0 + h * (0.18 + 0.55 * rng.random())
        box = (cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2)
        DRAWERS[kind](d, box, colors[k % len(colors)], rng)


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
    return max(pixel[:3]) <= 64


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


# --------------------------------------------------------------------------- public


def render(prompt: str, size: tuple[int, int], seed: int, *, transparent: bool = False,
           label: bool = True) -> PILImage.Image:
    """The final image for ``prompt`` (RGB, or RGBA when ``transparent``)."""
    key = ("gen", prompt, size, seed, transparent, label)
    cached = _IMAGES.get(key)
    if cached is not None:
        return cached.copy()
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    scene = parse_prompt(prompt)
    w, h = size
    if transparent:
        img = Image.new("RGBA", size, (0, 0, 0, 0))
    else:
        if scene.sky is not None:
            top, bottom = _sky_colors(scene.sky, rng)
        elif scene.mood in MOOD_SKIES:
            top, bottom = MOOD_SKIES[scene.mood]
        elif scene.palette:
            top = scene.palette[0]
            bottom = scene.palette[1] if len(scene.palette) > 1 else mix(top, (255, 255, 255), 0.6)
        elif not scene.elements:
            a, b = rng.sample(ABSTRACT_PALETTE, 2)
            top, bottom = shade(a, 0.8), mix(b, (255, 255, 255), 0.4)
        else:
            top, bottom = DAY_SKIES[rng.randrange(len(DAY_SKIES))]
        img = _gradient(size, top, bottom)
    d = ImageDraw.Draw(img, "RGBA")
    _mood_details(d, size, scene, rng)
    region = (0.0, 0.0, float(w), float(h))
    if scene.elements:
        _draw_elements(d, region, scene, rng)
    else:
        _abstract(d, region, prompt, scene.palette, rng)
    if label:
        draw_label(img, prompt)
    _IMAGES.put(key, img)
    return img.copy()


def apply_styles(img: PILImage.Image, styles: list[str]) -> PILImage.Image:
    from PIL import ImageEnhance, ImageFilter, ImageOps

    for style in styles:
        alpha = img.getchannel("A") if img.mode == "RGBA" else None
        rgb = img.convert("RGB")
        if style == "vivid":
            rgb = ImageEnhance.Color(rgb).enhance(1.7)
        elif style == "brighter":
            rgb = ImageEnhance.Brightness(rgb).enhance(1.3)
        elif style == "darker":
            rgb = ImageEnhance.Brightness(rgb).enhance(0.6)
        elif style == "grayscale":
            rgb = ImageOps.grayscale(rgb).convert("RGB")
        elif style == "blur":
            rgb = rgb.filter(ImageFilter.GaussianBlur(max(2, img.width / 150)))
        elif style == "sharpen":
            rgb = rgb.filter(ImageFilter.SHARPEN)
        elif style == "sepia":
            rgb = ImageOps.colorize(ImageOps.grayscale(rgb), (40, 26, 13), (255, 240, 192))
        elif style in ("warmer", "cooler"):
            r, g, b = rgb.split()
            if style == "warmer":
                r = r.point(lambda v: min(255, int(v * 1.12)))
                b = b.point(lambda v: int(v * 0.88))
            else:
                b = b.point(lambda v: min(255, int(v * 1.12)))
                r = r.point(lambda v: int(v * 0.88))
            from PIL import Image

            rgb = Image.merge("RGB", (r, g, b))
        if alpha is not None:
            rgb = rgb.convert("RGBA")
            rgb.putalpha(alpha)
        img = rgb
    return img


def render_edit(base: PILImage.Image, prompt: str, seed: int, *,
                mask: PILImage.Image | None = None,
                extra: list[PILImage.Image] | None = None,
                context: str | None = None, old_label: str | None = None) -> PILImage.Image:
    """Edit ``base`` for ``prompt``.

    With ``mask`` (an "L" image, 255 where the image may change, i.e. where the mask's
    alpha was 0) only those pixels change; every other pixel is kept exactly. Without a
    mask the picture keeps its content and gets the prompt's elements drawn on top.
    """
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    scene = parse_prompt(prompt)
    w, h = base.size
    mode = "RGBA" if base.mode == "RGBA" else "RGB"
    base = base.convert(mode)
    layer = base.copy()
    if mask is not None:
        bbox = mask.getbbox()
        if bbox is None:
            return base
        bx0, by0, bx1, by1 = bbox
        # repaint the masked area: the old content faded towards a fresh sky/palette
        if scene.sky is not None:
            top, bottom = _sky_colors(scene.sky, rng)
        elif scene.palette:
            top, bottom = scene.palette[0], scene.palette[-1]
        elif scene.mood in MOOD_SKIES:
            top, bottom = MOOD_SKIES[scene.mood]
        else:
            top, bottom = ABSTRACT_PALETTE[seed % len(ABSTRACT_PALETTE)], (250, 250, 250)
        fresh = _gradient((w, h), top, bottom).convert(mode)
        if mode == "RGBA":
            fresh.putalpha(255)
        layer = Image.blend(layer, fresh, 0.55)
        region: Box = (float(bx0), float(by0), float(bx1), float(by1))
    else:
        region = (0.0, 0.0, float(w), float(h))
    ctx = parse_prompt(context) if context else None
    # the simulator's revised prompts chain the turns: "first; then: second; then: ..."
    turns = [parse_prompt(t) for t in context.split("; then: ")] if context else None
    # "make it night": the whole picture takes the mood's light (a masked edit only its area)
    relit = mask is None and scene.mood in MOOD_SKIES and (ctx is None or ctx.mood != scene.mood)
    if relit:
        tint = _gradient((w, h), *MOOD_SKIES[scene.mood]).convert(mode)  # type: ignore[misc]
        if mode == "RGBA":
            tint.putalpha(layer.getchannel("A"))
        layer = Image.blend(layer, tint, 0.4)
    d = ImageDraw.Draw(layer, "RGBA")
    if relit or mask is not None:
        _mood_details(d, (w, h), scene, rng)
    if scene.elements:
        if mask is None:
            _draw_elements(d, region, scene, rng, context=ctx, history=turns)
        else:
            _draw_elements(d, region, scene, rng)
    elif not (scene.styles or relit) or mask is not None:
        _abstract(d, region, prompt, scene.palette, rng)
    for k, other in enumerate(extra or []):
        thumb = other.convert("RGBA")
        side = int(min(region[2] - region[0], region[3] - region[1]) * 0.3)
        if side < 8:
            continue
        thumb.thumbnail((side, side))
        px = int(region[0] + (region[2] - region[0]) * (0.05 + 0.32 * (k % 3)))
        py = int(region[3] - thumb.height - (region[3] - region[1]) * 0.05)
        layer.paste(thumb, (px, py), thumb)
    if scene.styles:
        layer = apply_styles(layer, scene.styles)
    if mask is None:
        # The earlier label's text may be unknown (the image came back as an input image)
        # or drawn at another size, so the band found in the pixels counts too.
        known = label_box((w, h), old_label) if old_label else None
        found = find_label_band(base)
        boxes = [b for b in (known, found) if b is not None]
        old = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
               max(b[3] for b in boxes)) if boxes else None
        draw_label(layer, prompt, cover=old)
        return layer
    return Image.composite(layer, base, mask)


def render_variation(base: PILImage.Image, size: tuple[int, int], seed: int) -> PILImage.Image:
    """A variation: the same picture, mirrored or recoloured, with a few accents."""
    from PIL import Image, ImageDraw, ImageEnhance, ImageOps

    rng = random.Random(seed)
    img = base.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    img = ImageEnhance.Color(img).enhance(rng.uniform(0.7, 1.5))
    img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    d = ImageDraw.Draw(img, "RGBA")
    w, h = size
    for _ in range(3):
        r = min(w, h) * rng.uniform(0.04, 0.09)
        x, y = rng.uniform(r, w - r), rng.uniform(r, h - r)
        c = ABSTRACT_PALETTE[rng.randrange(len(ABSTRACT_PALETTE))]
        d.ellipse((x - r, y - r, x + r, y + r), fill=(*c, 150))
    return img


def partial(img: PILImage.Image, index: int, total: int) -> PILImage.Image:
    """Partial image ``index`` of ``total``: the final picture, coarse to fine."""
    from PIL import Image, ImageEnhance

    blocks = {1: (24,), 2: (40, 12), 3: (56, 20, 7)}.get(total) or tuple(
        max(2, int(64 / (2 ** k))) for k in range(total))
    block = blocks[min(index, len(blocks) - 1)]
    w, h = img.size
    scale = max(total - min(index, total - 1) + 1, round(block * max(w, h) / 1024))
    small = img.resize((max(1, w // scale), max(1, h // scale)), Image.Resampling.BOX)
    out = small.resize((w, h), Image.Resampling.NEAREST)
    if index < total - 1 or total == 1:
        fade = 0.45 + 0.45 * index / max(total, 1)
        rgb = ImageEnhance.Color(out.convert("RGB")).enhance(fade)
        if out.mode == "RGBA":
            rgb = rgb.convert("RGBA")
            rgb.putalpha(out.getchannel("A"))
        out = rgb
    return out


def add_png_chunk(png: bytes, ctype: bytes, data: bytes) -> bytes:
    """Insert an ancillary chunk right after IHDR."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ihdr_len = struct.unpack(">I", png[8:12])[0]
    cut = 8 + 12 + ihdr_len
    chunk = struct.pack(">I", len(data)) + ctype + data + struct.pack(
        ">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)
    return png[:cut] + chunk + png[cut:]


def _jumbf_manifest() -> bytes:
    def box(btype: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + btype + payload

    c2pa_uuid = bytes.fromhex("6332706100110010800000aa00389b71")
    desc = box(b"jumd", c2pa_uuid + b"\x03" + b"c2pa\x00")
    return box(b"jumb", desc + box(b"json", C2PA_MANIFEST))


CABX = _jumbf_manifest()


def png_chunks(png: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order (handy for tests)."""
    out, pos = [], 8
    while pos + 8 <= len(png):
        length = struct.unpack(">I", png[pos:pos + 4])[0]
        out.append(png[pos + 4:pos + 8])
        pos += 12 + length
    return out


def encode(img: PILImage.Image, fmt: str = "png", compression: int | None = None,
           *, provenance: bool = True) -> bytes:
    """Encode ``img`` as png/jpeg/webp/gif; PNGs get a placeholder C2PA ``caBX`` chunk."""
    fmt = fmt.lower()
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
        data = buf.getvalue()
        return add_png_chunk(data, b"caBX", CABX) if provenance else data
    quality = 90 if compression is None else max(1, min(int(compression), 100))
    if fmt in ("jpeg", "jpg"):
        if img.mode != "RGB":
            from PIL import Image

            bg = Image.new("RGB", img.size, (255, 255, 255))
            if img.mode == "RGBA":
                bg.paste(img, (0, 0), img)
            else:
                bg.paste(img.convert("RGB"))
            img = bg
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality, method=0)
    elif fmt == "gif":
        img.convert("RGB").convert("P", palette=1, colors=255).save(buf, "GIF")
    else:
        raise ValueError(f"unsupported output format {fmt!r}")
    return buf.getvalue()


def encode_cached(key: Any, make: Callable[[], PILImage.Image], fmt: str,
                  compression: int | None) -> bytes:
    full = (key, fmt, compression)
    data = _ENCODED.get(full)
    if data is None:
        data = encode(make(), fmt, compression)
        _ENCODED.put(full, data)
    return data


def clear_caches() -> None:
    _IMAGES.clear()
    _ENCODED.clear()

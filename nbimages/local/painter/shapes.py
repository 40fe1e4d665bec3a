"""The shapes the painter draws: one function per kind of thing, each filling a box.

Every drawer takes ``(draw, box, color, rng)``: a Pillow ``ImageDraw`` in RGBA mode, the
box to fill (x0, y0, x1, y1), the thing's colour and the picture's random generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from .colors import RGB, shade

if TYPE_CHECKING:
    from PIL import ImageDraw as PILImageDraw

Box = tuple[float, float, float, float]


def _outline(color: RGB) -> tuple[int, int, int, int]:
    return (*shade(color, 0.6), 255)


def rgba(color: RGB, alpha: int = 255) -> tuple[int, int, int, int]:
    return (color[0], color[1], color[2], alpha)


def _line_width(box: Box) -> int:
    return max(1, int(min(box[2] - box[0], box[3] - box[1]) / 36))


def draw_circle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    d.ellipse(box, fill=rgba(color), outline=_outline(color), width=_line_width(box))
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    d.ellipse((x0 + w * 0.22, y0 + h * 0.18, x0 + w * 0.42, y0 + h * 0.36),
              fill=(255, 255, 255, 80))


def draw_ring(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    d.ellipse(box, outline=rgba(color), width=max(2, int((box[2] - box[0]) / 7)))


def draw_square(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    s = min(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sq = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
    d.rounded_rectangle(sq, radius=s * 0.04, fill=rgba(color), outline=_outline(color),
                        width=_line_width(box))


def draw_rectangle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w = x1 - x0
    r = (x0 + w * 0.2, y0, x1 - w * 0.2, y1)
    d.rectangle(r, fill=rgba(color), outline=_outline(color), width=_line_width(box))


def draw_triangle(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    pts = [((x0 + x1) / 2, y0), (x1, y1), (x0, y1)]
    d.polygon(pts, fill=rgba(color), outline=_outline(color), width=_line_width(box))


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
    d.polygon(_star_points((x0 + x1) / 2, (y0 + y1) / 2 + r * 0.08, r), fill=rgba(color),
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
    d.polygon(pts, fill=rgba(color), outline=_outline(color), width=_line_width(box))


def draw_diamond(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = (x1 - x0) * 0.38
    pts = [(cx, y0), (cx + w, cy), (cx, y1), (cx - w, cy)]
    d.polygon(pts, fill=rgba(color), outline=_outline(color), width=_line_width(box))
    d.line([(cx - w, cy), (cx + w, cy)], fill=rgba(shade(color, 1.4)), width=_line_width(box))


def draw_sun(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r = min(x1 - x0, y1 - y0) / 2
    d.ellipse((cx - r * 0.95, cy - r * 0.95, cx + r * 0.95, cy + r * 0.95),
              fill=rgba(shade(color, 1.3), 70))
    for k in range(12):
        a = k * math.pi / 6
        d.line([(cx + r * 0.72 * math.cos(a), cy + r * 0.72 * math.sin(a)),
                (cx + r * 1.0 * math.cos(a), cy + r * 1.0 * math.sin(a))],
               fill=rgba(color), width=max(2, int(r / 10)))
    d.ellipse((cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6), fill=rgba(color))


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
    d.polygon(pts, fill=rgba(color))


def draw_cloud(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, (y1 - y0) * 0.55
    yb = y0 + (y1 - y0) * 0.7
    fill = rgba(color, 235)
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
           fill=rgba(color), width=lw, joint="curve")
    d.line([(cx, cy + w * 0.15), (cx + w * 0.45, cy - w * 0.1), (cx + w, cy - w * 0.35)],
           fill=rgba(color), width=lw, joint="curve")
    # a body, head and beak under the wings: a parrot or a duck shows its colour
    d.ellipse((cx - w * 0.32, cy + w * 0.02, cx + w * 0.22, cy + w * 0.3), fill=rgba(color))
    d.ellipse((cx + w * 0.12, cy - w * 0.06, cx + w * 0.36, cy + w * 0.18), fill=rgba(color))
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
                   (cx - w * half, y0 + h * bot)], fill=rgba(c))


def draw_house(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    body = (x0 + w * 0.1, y0 + h * 0.42, x1 - w * 0.1, y1)
    d.rectangle(body, fill=rgba(color), outline=_outline(color), width=_line_width(box))
    d.polygon([(x0, y0 + h * 0.45), ((x0 + x1) / 2, y0 + h * 0.05), (x1, y0 + h * 0.45)],
              fill=rgba(shade(color, 0.55)))
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
    d.rectangle(b, fill=rgba(color), outline=_outline(color), width=_line_width(box))
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
                  fill=rgba(color), outline=_outline(color), width=1)
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
    d.polygon(pts, fill=rgba(color), outline=_outline(color), width=_line_width(box))
    d.line([(x0 + w * 0.1, hull_top + h * 0.05), (x1 - w * 0.1, hull_top + h * 0.05)],
           fill=rgba(shade(color, 1.5)), width=max(2, int(h / 30)))
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
              fill=rgba(shade(color, 0.8)))
    d.ellipse((x0, cy - h * 0.25, x0 + w * 0.78, cy + h * 0.25), fill=rgba(color),
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
                   (cx + sx * r * 0.2, cy - r * 0.8)], fill=rgba(shade(color, 0.8)))
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgba(color), outline=_outline(color),
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
              fill=rgba(color))
    lw = max(2, int(w / 14))
    d.line([(cx - w * 0.08, y0 + h * 0.7), (cx - w * 0.12, y1)], fill=(50, 50, 60, 255),
           width=lw)
    d.line([(cx + w * 0.08, y0 + h * 0.7), (cx + w * 0.12, y1)], fill=(50, 50, 60, 255),
           width=lw)
    d.line([(cx - w * 0.12, y0 + h * 0.36), (cx - w * 0.3, y0 + h * 0.56)],
           fill=rgba(color), width=lw)
    d.line([(cx + w * 0.12, y0 + h * 0.36), (cx + w * 0.3, y0 + h * 0.56)],
           fill=rgba(color), width=lw)


def draw_rainbow(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, _ = box
    bands = [(228, 3, 3), (255, 140, 0), (255, 237, 0), (0, 128, 38), (36, 64, 142),
             (115, 41, 130)]
    w = x1 - x0
    bw = w / 28
    for k, c in enumerate(bands):
        inset = k * bw
        d.arc((x0 + inset, y0 + inset, x1 - inset, y0 + w - inset), 180, 360,
              fill=rgba(c, 220), width=int(bw) + 1)


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

    d.polygon(envelope(1.0), fill=rgba(color), outline=_outline(color), width=_line_width(box))
    d.polygon(envelope(0.6), fill=rgba(shade(color, 1.75)))
    d.polygon(envelope(0.25), fill=rgba(color))
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
        d.polygon([(cx - ha, ya), (cx + ha, ya), (cx + hb, yb), (cx - hb, yb)], fill=rgba(fill))
    dark = (45, 45, 55, 255)
    d.rectangle((cx - w * 0.25, tower_top - h * 0.02, cx + w * 0.25, tower_top + h * 0.01),
                fill=dark)
    d.rectangle((cx - w * 0.14, y0 + h * 0.13, cx + w * 0.14, tower_top - h * 0.02),
                fill=(255, 225, 110, 255), outline=dark, width=max(1, _line_width(box) // 2))
    d.polygon([(cx - w * 0.19, y0 + h * 0.13), (cx, y0 + h * 0.03), (cx + w * 0.19, y0 + h * 0.13)],
              fill=rgba(shade(color, 0.6)))
    d.rectangle((cx - w * 0.05, y1 - h * 0.1, cx + w * 0.05, y1), fill=dark)


def draw_car(d: PILImageDraw.ImageDraw, box: Box, color: RGB, rng: random.Random) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    outline, lw = _outline(color), _line_width(box)
    d.polygon([(x0 + w * 0.22, y0 + h * 0.45), (x0 + w * 0.32, y0 + h * 0.12),
               (x0 + w * 0.68, y0 + h * 0.12), (x0 + w * 0.8, y0 + h * 0.45)],
              fill=rgba(color), outline=outline, width=lw)
    glass = (190, 225, 245, 255)
    d.polygon([(x0 + w * 0.28, y0 + h * 0.43), (x0 + w * 0.35, y0 + h * 0.19),
               (x0 + w * 0.48, y0 + h * 0.19), (x0 + w * 0.48, y0 + h * 0.43)], fill=glass)
    d.polygon([(x0 + w * 0.52, y0 + h * 0.43), (x0 + w * 0.52, y0 + h * 0.19),
               (x0 + w * 0.65, y0 + h * 0.19), (x0 + w * 0.73, y0 + h * 0.43)], fill=glass)
    d.rounded_rectangle((x0, y0 + h * 0.42, x1, y0 + h * 0.8), radius=h * 0.12,
                        fill=rgba(color), outline=outline, width=lw)
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

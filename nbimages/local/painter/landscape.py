"""Landscapes: a sky, ground layers, and the prompt's things laid out across the picture.

Ground layers (mountains, hills, water) go at the bottom, sky objects (sun, moon, clouds,
birds) along the top, everything else in slots across the middle; an edit puts its new
things in the room the earlier turns left.
"""

from __future__ import annotations

import math
import random
import zlib
from typing import TYPE_CHECKING

from .colors import RGB, mix, shade
from .scene import DEFAULT_COLORS, Element, Scene
from .shapes import DRAWERS, Box, rgba

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageDraw as PILImageDraw

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


def gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> PILImage.Image:
    from PIL import Image

    w, h = size
    mask = Image.linear_gradient("L").resize((w, h), Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def sky_colors(sky: RGB, rng: random.Random) -> tuple[RGB, RGB]:
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
                d.polygon([(px, top), (px + half, base_y), (px - half, base_y)], fill=rgba(c))
                if layer == 1:
                    cap = (base_y - top) * 0.22
                    d.polygon([(px, top), (px + half * cap / (base_y - top), top + cap),
                               (px, top + cap * 0.8),
                               (px - half * cap / (base_y - top), top + cap)],
                              fill=(250, 250, 255, 255))
        baseline = y0 + h * 0.86
    if "hill" in kinds or scene.mood in ("desert", "snow") or (
            "mountain" in kinds and "water" not in kinds):
        hill = kinds.get("hill")
        if hill and hill.color:
            color = hill.color
        elif scene.mood == "desert" or (hill and hill.word in ("desert", "beach", "dune")):
            color = (225, 195, 130)
        elif scene.mood == "snow":
            color = (245, 248, 252)
        else:
            color = DEFAULT_COLORS["hill"] if "mountain" not in kinds else shade(
                kinds["mountain"].color or DEFAULT_COLORS["hill"], 0.6)
        top = y0 + h * 0.72
        d.ellipse((x0 - w * 0.3, top, x0 + w * 0.75, y1 + h * 0.35), fill=rgba(shade(color, 0.9)))
        # both hills reach below the region (no flat edge); together they cover it from 0.82h down
        d.ellipse((x0 + w * 0.3, top + h * 0.04, x1 + w * 0.3, y1 + h * 0.35), fill=rgba(color))
        baseline = y0 + h * 0.88
    if "water" in kinds:
        e = kinds["water"]
        color = e.color or DEFAULT_COLORS["water"]
        top = y0 + h * 0.74
        d.rectangle((x0, top, x1, y1), fill=rgba(color))
        waves = 9
        for row in range(4):
            yy = top + (y1 - top) * (0.12 + row * 0.22)
            amp = h * 0.008
            pts = []
            for k in range(61):
                t = k / 60
                pts.append((x0 + w * t, yy + amp * math.sin(t * waves * 2 * math.pi + row)))
            d.line(pts, fill=rgba(shade(color, 1.45), 200), width=max(2, int(h / 200)))
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
                for (e, k), (cx, sw) in zip(items, _fg_slots(region, len(items), None), strict=True)]
    out: list[Placed] = []
    for afloat in (False, True):
        group = [(e, k) for e, k in items if (e.kind in WATER_KINDS and has_water) == afloat]
        if group:
            # clear of everything if there is room, else at least of its own layer
            spans = _free_spans(region, taken[0] + taken[1]) or _free_spans(region, taken[afloat])
            slots = _fg_slots(region, len(group), spans)
            out += [(e, k, cx, sw, afloat) for (e, k), (cx, sw) in zip(group, slots, strict=True)]
    return out


def _taken(region: Box, turns: list[Scene]) -> tuple[list[Span], list[Span]]:
    """The spans the foreground things of earlier turns were drawn in (replayed)."""
    h = region[3] - region[1]
    taken: tuple[list[Span], list[Span]] = ([], [])
    kinds: set[str] = set()
    for t, turn in enumerate(turns):
        kinds |= {e.kind for e in turn.elements}
        placed = _layout(region, turn, "water" in kinds, None if t == 0 else taken)
        for e, _k, cx, slot_w, afloat in placed:
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
    for (a, b), m in zip(spans, share, strict=True):
        for k in range(m):
            out.append((a + (b - a) * (k + 0.5) / m, (b - a) / m))
    return out


def draw_elements(d: PILImageDraw.ImageDraw, region: Box, scene: Scene,
                  rng: random.Random, *, context: Scene | None = None,
                  history: list[Scene] | None = None) -> None:
    """Draw ``scene``; in an edit ``context`` is the earlier picture's scene and
    ``history`` its turns one by one (to know where their things were put)."""
    baseline, has_water = _ground(d, region, scene, rng, context)
    # birds on their own are the subject ("a red parrot"): big, across the middle
    birds_only = context is None and all(e.kind == "bird" for e in scene.elements)
    _draw_sky_things(d, region, [e for e in scene.elements if e.kind in SKY_KINDS], rng, birds_only)
    # an edit adds things beside what the earlier picture has, not on top of it
    taken = _taken(region, history or [context]) if context is not None else None
    _draw_foreground(d, region, _layout(region, scene, has_water, taken), rng, baseline, has_water)


def _ground(d: PILImageDraw.ImageDraw, region: Box, scene: Scene, rng: random.Random,
            context: Scene | None) -> tuple[float, bool]:
    """Draw the ground layers a picture needs; return where things stand (y, has water)."""
    kinds = {e.kind for e in scene.elements}
    if context is None:
        baseline, has_water = _baseline(region, kinds, scene.mood)
        ground = scene.elements
    else:  # an edit: stand on the ground the earlier picture had, and leave that ground be
        had = {e.kind for e in context.elements}
        baseline, has_water = _baseline(region, had | kinds, scene.mood or context.mood)
        ground = [e for e in scene.elements if e.kind not in had]
    if any(e.kind in GROUND_KINDS for e in ground) or (
            scene.mood in ("desert", "snow") and context is None):
        _ground_layers(d, region, ground, scene, rng)
    return baseline, has_water


SKY_SIZES = {"sun": 0.24, "moon": 0.2, "cloud": 0.2, "bird": 0.09, "rainbow": 0.8, "balloon": 0.3}


def _draw_sky_things(d: PILImageDraw.ImageDraw, region: Box, sky: list[Element], rng: random.Random,
                     birds_only: bool) -> None:
    """Sun, moon, clouds, birds, rainbows and balloons along the top."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    slots = sum(e.count for e in sky)
    slot = 0
    for e in sky:
        for k in range(e.count):
            cx = x0 + w * (0.12 + 0.76 * (slot + 0.5) / max(slots, 1)) + rng.uniform(-0.03, 0.03) * w
            if e.kind in ("sun", "moon") and slots == 1:
                cx = x0 + w * rng.choice((0.25, 0.75))
            size = min(w, h, w / max(slots, 1) * 1.2) * SKY_SIZES[e.kind] * e.scale * (3.2 if birds_only else 1.0)
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


def _draw_foreground(d: PILImageDraw.ImageDraw, region: Box, placed: list[Placed], rng: random.Random,
                     baseline: float, has_water: bool) -> None:
    """The placed things: standing on the baseline, afloat, or in the middle."""
    y0, h = region[1], region[3] - region[1]
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


def mood_details(d: PILImageDraw.ImageDraw, size: tuple[int, int], scene: Scene,
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


def abstract(d: PILImageDraw.ImageDraw, region: Box, prompt: str, palette: list[RGB],
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

"""Procedural pictures: deterministic, fast, related to the prompt.

A prompt is read into a :class:`~.scene.Scene` (colours, objects, mood) and drawn with
Pillow on a gradient sky (:mod:`.landscape`), with the prompt written small in the
bottom-left corner (:mod:`.label`). Edits draw on an earlier picture, variations recolour
one, partials are the final picture coarse to fine.

Pillow is imported inside the functions so that importing the simulator stays cheap.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..lru import LRU
from .base import TURNS
from .colors import RGB, mix, shade
from .label import draw_label, find_label_band, label_box
from .landscape import (
    ABSTRACT_PALETTE,
    DAY_SKIES,
    MOOD_SKIES,
    abstract,
    draw_elements,
    gradient,
    mood_details,
    sky_colors,
)
from .scene import Scene, parse_prompt
from .shapes import Box

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageDraw as PILImageDraw

_IMAGES = LRU(12)  # renders keyed by prompt, size, seed and options


# --------------------------------------------------------------------------- new pictures


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
    img = Image.new("RGBA", size, (0, 0, 0, 0)) if transparent else gradient(size, *_sky(scene, rng))
    d = ImageDraw.Draw(img, "RGBA")
    mood_details(d, size, scene, rng)
    region = (0.0, 0.0, float(size[0]), float(size[1]))
    if scene.elements:
        draw_elements(d, region, scene, rng)
    else:
        abstract(d, region, prompt, scene.palette, rng)
    if label:
        draw_label(img, prompt)
    _IMAGES.put(key, img)
    return img.copy()


def _sky(scene: Scene, rng: random.Random) -> tuple[RGB, RGB]:
    """Top and bottom colour of a new picture's sky."""
    if scene.sky is not None:
        return sky_colors(scene.sky, rng)
    if scene.mood in MOOD_SKIES:
        return MOOD_SKIES[scene.mood]
    if scene.palette:
        top = scene.palette[0]
        return top, scene.palette[1] if len(scene.palette) > 1 else mix(top, (255, 255, 255), 0.6)
    if not scene.elements:
        a, b = rng.sample(ABSTRACT_PALETTE, 2)
        return shade(a, 0.8), mix(b, (255, 255, 255), 0.4)
    return DAY_SKIES[rng.randrange(len(DAY_SKIES))]


# --------------------------------------------------------------------------- styles


def _channel_shift(up: int, down: int) -> Callable[[PILImage.Image, int], PILImage.Image]:
    """Warmer (red up, blue down) or cooler (the other way round)."""

    def shift(rgb: PILImage.Image, width: int) -> PILImage.Image:
        from PIL import Image

        bands = list(rgb.split())
        bands[up] = bands[up].point(lambda v: min(255, int(v * 1.12)))
        bands[down] = bands[down].point(lambda v: int(v * 0.88))
        return Image.merge("RGB", bands)

    return shift


def _enhance(kind: str, factor: float) -> Callable[[PILImage.Image, int], PILImage.Image]:
    def enhance(rgb: PILImage.Image, width: int) -> PILImage.Image:
        from PIL import ImageEnhance

        return getattr(ImageEnhance, kind)(rgb).enhance(factor)

    return enhance


def _grayscale(rgb: PILImage.Image, width: int) -> PILImage.Image:
    from PIL import ImageOps

    return ImageOps.grayscale(rgb).convert("RGB")


def _sepia(rgb: PILImage.Image, width: int) -> PILImage.Image:
    from PIL import ImageOps

    return ImageOps.colorize(ImageOps.grayscale(rgb), (40, 26, 13), (255, 240, 192))


def _blur(rgb: PILImage.Image, width: int) -> PILImage.Image:
    from PIL import ImageFilter

    return rgb.filter(ImageFilter.GaussianBlur(max(2, width / 150)))


def _sharpen(rgb: PILImage.Image, width: int) -> PILImage.Image:
    from PIL import ImageFilter

    return rgb.filter(ImageFilter.SHARPEN)


STYLES: dict[str, Callable[[PILImage.Image, int], PILImage.Image]] = {
    "vivid": _enhance("Color", 1.7), "brighter": _enhance("Brightness", 1.3),
    "darker": _enhance("Brightness", 0.6), "grayscale": _grayscale, "sepia": _sepia,
    "blur": _blur, "sharpen": _sharpen, "warmer": _channel_shift(0, 2), "cooler": _channel_shift(2, 0),
}


def apply_styles(img: PILImage.Image, styles: list[str]) -> PILImage.Image:
    """``img`` with each style word applied in turn (its alpha channel kept)."""
    for style in styles:
        alpha = img.getchannel("A") if img.mode == "RGBA" else None
        rgb = img.convert("RGB")
        if style in STYLES:
            rgb = STYLES[style](rgb, img.width)
        if alpha is not None:
            rgb = rgb.convert("RGBA")
            rgb.putalpha(alpha)
        img = rgb
    return img


# --------------------------------------------------------------------------- edits


def render_edit(base: PILImage.Image, prompt: str, seed: int, *,
                mask: PILImage.Image | None = None,
                extra: list[PILImage.Image] | None = None,
                context: str | None = None, old_label: str | None = None) -> PILImage.Image:
    """Edit ``base`` for ``prompt``.

    With ``mask`` (an "L" image, 255 where the image may change, i.e. where the mask's
    alpha was 0) only those pixels change; every other pixel is kept exactly. Without a
    mask the picture keeps its content and gets the prompt's elements drawn on top, beside
    what the earlier turns (``context``, joined by :data:`TURNS`) put there, and its label
    replaces the old one (``old_label``, and whatever band is found in the pixels).
    """
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    scene = parse_prompt(prompt)
    mode = "RGBA" if base.mode == "RGBA" else "RGB"
    base = base.convert(mode)
    if mask is not None and mask.getbbox() is None:
        return base
    layer, region = _edit_layer(base, scene, seed, rng, mask)
    ctx = parse_prompt(context) if context else None
    # "make it night": the whole picture takes the mood's light (a masked edit only its area)
    relit = mask is None and scene.mood in MOOD_SKIES and (ctx is None or ctx.mood != scene.mood)
    if relit:
        layer = _relight(layer, MOOD_SKIES[scene.mood or ""])
    d = ImageDraw.Draw(layer, "RGBA")
    if relit or mask is not None:
        mood_details(d, base.size, scene, rng)
    turns = [parse_prompt(t) for t in context.split(TURNS)] if context and mask is None else None
    _draw_subject(d, region, scene, prompt, rng, ctx if mask is None else None, turns,
                  bare=not (scene.styles or relit) or mask is not None)
    _paste_references(layer, region, extra or [])
    if scene.styles:
        layer = apply_styles(layer, scene.styles)
    if mask is None:
        draw_label(layer, prompt, cover=_old_band(base, old_label))
        return layer
    return Image.composite(layer, base, mask)


def _edit_layer(base: PILImage.Image, scene: Scene, seed: int, rng: random.Random,
                mask: PILImage.Image | None) -> tuple[PILImage.Image, Box]:
    """The layer to draw on and the region to draw in: the whole picture, or (masked)
    the mask's box, the old content there faded towards a fresh sky or palette."""
    from PIL import Image

    w, h = base.size
    if mask is None:
        return base.copy(), (0.0, 0.0, float(w), float(h))
    bx0, by0, bx1, by1 = mask.getbbox()  # type: ignore[misc]
    fresh = gradient((w, h), *_repaint_colors(scene, seed, rng)).convert(base.mode)
    if base.mode == "RGBA":
        fresh.putalpha(255)
    return Image.blend(base.copy(), fresh, 0.55), (float(bx0), float(by0), float(bx1), float(by1))


def _repaint_colors(scene: Scene, seed: int, rng: random.Random) -> tuple[RGB, RGB]:
    if scene.sky is not None:
        return sky_colors(scene.sky, rng)
    if scene.palette:
        return scene.palette[0], scene.palette[-1]
    if scene.mood in MOOD_SKIES:
        return MOOD_SKIES[scene.mood]
    return ABSTRACT_PALETTE[seed % len(ABSTRACT_PALETTE)], (250, 250, 250)


def _relight(layer: PILImage.Image, sky: tuple[RGB, RGB]) -> PILImage.Image:
    from PIL import Image

    tint = gradient(layer.size, *sky).convert(layer.mode)
    if layer.mode == "RGBA":
        tint.putalpha(layer.getchannel("A"))
    return Image.blend(layer, tint, 0.4)


def _draw_subject(d: PILImageDraw.ImageDraw, region: Box, scene: Scene, prompt: str,
                  rng: random.Random, context: Scene | None, turns: list[Scene] | None,
                  *, bare: bool) -> None:
    """The prompt's things; with none, an abstract composition if ``bare`` (a style or
    mood edit changes the picture without adding shapes)."""
    if scene.elements:
        draw_elements(d, region, scene, rng, context=context, history=turns)
    elif bare:
        abstract(d, region, prompt, scene.palette, rng)


def _paste_references(layer: PILImage.Image, region: Box, references: list[PILImage.Image]) -> None:
    """Thumbnails of the other input images along the bottom of ``region``."""
    for k, other in enumerate(references):
        thumb = other.convert("RGBA")
        side = int(min(region[2] - region[0], region[3] - region[1]) * 0.3)
        if side < 8:
            continue
        thumb.thumbnail((side, side))
        px = int(region[0] + (region[2] - region[0]) * (0.05 + 0.32 * (k % 3)))
        py = int(region[3] - thumb.height - (region[3] - region[1]) * 0.05)
        layer.paste(thumb, (px, py), thumb)


def _old_band(base: PILImage.Image, old_label: str | None) -> Box | None:
    """The box the new label's band must cover: the old label's, as known and as found.

    The earlier label's text may be unknown (the image came back as an input image) or
    drawn at another size, so the band found in the pixels counts too.
    """
    known = label_box(base.size, old_label) if old_label else None
    found = find_label_band(base)
    boxes = [b for b in (known, found) if b is not None]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


# --------------------------------------------------------------------------- variations, partials


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

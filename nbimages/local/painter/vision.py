"""Truthful image descriptions computed from pixels (the simulator's "vision model").

No model, no guessing: size, dominant colours by name with their share, brightness,
transparency and a rough layout, written as short Markdown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .colors import nearest_name

if TYPE_CHECKING:
    from PIL import Image as PILImage

ANALYSIS_SIDE = 96  # pixels analysed on the long side (nearest-neighbour: no fake colours)


@dataclass
class Analysis:
    width: int
    height: int
    format: str | None
    mode: str
    colors: list[tuple[str, float]]  # name, share of opaque pixels (0..1)
    brightness: float  # 0..1 mean luminance of opaque pixels
    transparent: float  # share of fully/mostly transparent pixels
    regions: dict[str, str] = field(default_factory=dict)  # top/bottom/left/right -> colour
    analysed_size: tuple[int, int] = (0, 0)

    @property
    def brightness_word(self) -> str:
        if self.brightness < 0.33:
            return "dark"
        if self.brightness < 0.66:
            return "medium"
        return "bright"

    @property
    def orientation(self) -> str:
        if self.width == self.height:
            return "square"
        return "landscape" if self.width > self.height else "portrait"


def _dominant(counts: Counter[str], total: int) -> list[tuple[str, float]]:
    if total == 0:
        return []
    return [(name, n / total) for name, n in counts.most_common()]


def analyse(img: PILImage.Image, detail: str | None = "auto") -> Analysis:
    """Analyse a decoded image (``format`` is the file format it was decoded from, if any)."""
    from PIL import Image

    width, height = img.size
    fmt = getattr(img, "format", None)
    mode = img.mode
    if detail == "low":
        img = img.copy()
        img.thumbnail((512, 512), Image.Resampling.BILINEAR)
    rgba = img.convert("RGBA")
    scale = ANALYSIS_SIDE / max(rgba.size)
    if scale < 1:
        small = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))),
                            Image.Resampling.NEAREST)
    else:
        small = rgba
    sw, sh = small.size
    raw = small.tobytes()
    pixels = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
    total = len(pixels)
    names: Counter[str] = Counter()
    top: Counter[str] = Counter()
    bottom: Counter[str] = Counter()
    left: Counter[str] = Counter()
    right: Counter[str] = Counter()
    transparent = 0
    lum = 0.0
    opaque = 0
    for i, (r, g, b, a) in enumerate(pixels):
        if a < 32:
            transparent += 1
            continue
        opaque += 1
        # 4-bit buckets keep the name cache small and tolerate compression noise
        name = nearest_name(((r >> 3) << 3 | 4, (g >> 3) << 3 | 4, (b >> 3) << 3 | 4)
                            if (r, g, b) not in _PURE else (r, g, b))
        names[name] += 1
        lum += 0.2126 * r + 0.7152 * g + 0.0722 * b
        y, x = divmod(i, sw)
        if y < sh / 3:
            top[name] += 1
        elif y >= sh * 2 / 3:
            bottom[name] += 1
        if x < sw / 2:
            left[name] += 1
        else:
            right[name] += 1
    regions = {}
    for label, counter in (("top", top), ("bottom", bottom), ("left", left), ("right", right)):
        if counter:
            regions[label] = counter.most_common(1)[0][0]
    return Analysis(
        width=width, height=height, format=fmt, mode=mode,
        colors=_dominant(names, opaque),
        brightness=(lum / opaque / 255) if opaque else 0.0,
        transparent=transparent / total if total else 0.0,
        regions=regions,
        analysed_size=(sw, sh),
    )


_PURE = {(255, 0, 0), (0, 0, 255), (0, 255, 0), (0, 128, 0), (255, 255, 0), (0, 255, 255),
         (255, 0, 255), (255, 255, 255), (0, 0, 0), (128, 128, 128)}


def _pct(x: float) -> str:
    p = x * 100
    if 0 < p < 1:
        return "<1%"
    return f"{p:.0f}%"


def describe_analysis(a: Analysis, index: int | None = None) -> str:
    lines = []
    head = "**Image**" if index is None else f"**Image {index}**"
    fmt = f" {a.format}" if a.format else ""
    lines.append(f"{head}: {a.width} × {a.height} pixels ({a.orientation}{fmt}).")
    shown = [(n, s) for n, s in a.colors if s >= 0.02][:5] or a.colors[:1]
    if shown:
        colours = ", ".join(f"{n} ({_pct(s)})" for n, s in shown)
        lines.append(f"- Dominant colours: {colours}.")
    else:
        lines.append("- No opaque pixels to name colours from.")
    if a.transparent > 0.995:
        lines.append("- Transparency: the image is fully transparent.")
    elif a.transparent > 0:
        lines.append(f"- Transparency: {_pct(a.transparent)} of the pixels are transparent"
                     " (alpha channel).")
    else:
        lines.append("- Transparency: none, every pixel is opaque.")
    if a.colors:
        lines.append(f"- Brightness: {a.brightness_word} (mean luminance {a.brightness:.0%}).")
    layout = []
    if "top" in a.regions and "bottom" in a.regions:
        if a.regions["top"] != a.regions["bottom"]:
            layout.append(f"mostly {a.regions['top']} at the top and "
                          f"{a.regions['bottom']} at the bottom")
        else:
            layout.append(f"{a.regions['top']} at both top and bottom")
    if "left" in a.regions and "right" in a.regions and a.regions["left"] != a.regions["right"]:
        layout.append(f"{a.regions['left']} on the left, {a.regions['right']} on the right")
    if layout:
        lines.append("- Layout: " + "; ".join(layout) + ".")
    return "\n".join(lines)


def describe(images: Sequence[tuple[PILImage.Image, str | None]], question: str | None = None) -> str:
    """A Markdown answer about ``images`` ((image, detail) pairs) for ``question``."""
    parts: list[str] = []
    if (question or "").strip():  # not repeated: the notebook shows the question above the answer
        parts.append("I'm the offline simulator, so I can only report what the pixels "
                     "measure:\n")
    else:
        parts.append("Here is what the pixels show (offline simulator analysis):\n")
    for k, (img, detail) in enumerate(images, start=1):
        a = analyse(img, detail)
        parts.append(describe_analysis(a, k if len(images) > 1 else None))
        if detail == "low":
            parts.append(f"_(analysed at low detail: {a.analysed_size[0]}×"
                         f"{a.analysed_size[1]} sample of a 512 px downscale)_")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"

"""`Image`: an encoded image (PNG/JPEG/WebP/GIF/SVG bytes) with its provenance.

Images stay encoded in memory; pixels are decoded (with Pillow, imported lazily) only
when asked for. Format, dimensions and a GIF's frame count are read from the header and
blocks without decoding.

An SVG is a document, not pixels: it is kept and saved byte for byte, shown only as the
``src`` of an ``<img>`` (where its scripts never run, unlike an inline SVG), and asking it
for pixels raises `VectorImageError`. An animated GIF stays animated: its thumbnail is a
smaller animated GIF with every frame and its frame durations.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass, field, replace
from functools import cached_property
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["DECODE_ERRORS", "Image", "Usage", "decode_error_text", "decode_problem", "header_problem", "sniff"]

# Larger than any image model makes or any photo worth sending (an 8K frame is 33 MP), far
# smaller than what a decompression bomb would take: 20000x20000 would need 1.6 GB decoded.
MAX_PIXELS = 40_000_000
MAX_DECODED_SIDE = 16_384

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
         "svg": "image/svg+xml"}
RASTER_FORMATS = ("png", "jpeg", "webp", "gif")


@dataclass(frozen=True)
class Usage:
    """Token usage as the API reports it (`usage` of an image reply or a response)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, int] = field(default_factory=dict)
    output_tokens_details: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage | None:
        """Usage from a reply; None when absent or not an object (it is only informational)."""
        if not data or not isinstance(data, dict):
            return None
        return cls(
            input_tokens=_count(data.get("input_tokens")),
            output_tokens=_count(data.get("output_tokens")),
            total_tokens=_count(data.get("total_tokens")),
            input_tokens_details=_counts(data.get("input_tokens_details")),
            output_tokens_details=_counts(data.get("output_tokens_details")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "input_tokens_details": dict(self.input_tokens_details),
            "output_tokens_details": dict(self.output_tokens_details),
        }


def _count(value: Any) -> int:
    """A token count as sent; anything that is not a count reads as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _counts(value: Any) -> dict[str, int]:
    return {str(k): _count(v) for k, v in value.items()} if isinstance(value, dict) else {}


def sniff(data: bytes) -> tuple[str | None, int | None, int | None]:
    """Return (format, width, height) from an image header, or Nones if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:3] == b"\xff\xd8\xff":
        return ("jpeg", *_jpeg_size(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("webp", *_webp_size(data))
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "gif", width, height
    svg_attributes = _svg_root_attributes(data)
    if svg_attributes is not None:
        return ("svg", *_svg_size(svg_attributes))
    return None, None, None


# -- SVG -------------------------------------------------------------------------------
SVG_HEAD_BYTES = 65_536  # where the root element must start: after a BOM, an XML declaration, comments
# One whitespace character per repetition, not \s+: a nested quantifier would backtrack
# exponentially on a long run of spaces. A DOCTYPE with an internal subset is not an SVG here.
_SVG_PROLOG = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s|<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^>\[]*>)*"
    rb"<svg((?:\s+[\w:.-]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>",
    re.S | re.I,
)
_SVG_ATTRIBUTE = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SVG_LENGTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:px)?\s*$")
_SVG_ROOT_TAGS = ("svg", "{http://www.w3.org/2000/svg}svg")


def _svg_root_attributes(data: bytes) -> dict[str, str] | None:
    """The attributes of the ``<svg>`` root element, or None if ``data`` does not start with one."""
    match = _SVG_PROLOG.match(data[:SVG_HEAD_BYTES])
    if match is None:
        return None
    return {name.decode("ascii", "replace"): (double if double is not None else single).decode("utf-8", "replace")
            for name, double, single in _SVG_ATTRIBUTE.findall(match.group(1))}


def _svg_size(attributes: dict[str, str]) -> tuple[int | None, int | None]:
    """Width and height from the ``width``/``height`` attributes (px or no unit), falling
    back on the ``viewBox``; None for a side given in other units or not at all."""
    width, height = _svg_length(attributes.get("width")), _svg_length(attributes.get("height"))
    box = _svg_view_box(attributes.get("viewBox"))
    if box is not None:
        box_width, box_height = box
        if width is None and height is None:
            width, height = box_width, box_height
        elif width is None and height is not None:
            width = height * box_width / box_height
        elif height is None and width is not None:
            height = width * box_height / box_width
    return _pixels(width), _pixels(height)


def _svg_length(value: str | None) -> float | None:
    match = _SVG_LENGTH.match(value) if value is not None else None
    return float(match.group(1)) if match else None


def _svg_view_box(value: str | None) -> tuple[float, float] | None:
    try:
        _, _, width, height = (float(v) for v in (value or "").replace(",", " ").split())
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _pixels(length: float | None) -> int | None:
    return round(length) if length is not None else None


def svg_problem(data: bytes) -> str | None:
    """Why ``data`` is not a usable SVG document (None when it parses and its root is ``<svg>``).

    A DOCTYPE is refused before parsing: its entities can expand without bound (billion laughs).
    """
    if re.search(rb"<!(?:DOCTYPE|ENTITY)", data, re.I):
        return "an SVG with a DOCTYPE or entities (refused: entities can expand without bound)"
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        return f"the svg data does not parse ({exc})"
    if root.tag not in _SVG_ROOT_TAGS:
        return f"the root element is <{root.tag}>, not <svg>"
    return None


# -- GIF -------------------------------------------------------------------------------
def gif_frame_count(data: bytes) -> int:
    """How many frames a GIF has, counted from its blocks (no pixel is decoded); at least 1."""
    count, at = 0, _gif_blocks_start(data)
    while 0 < at < len(data):
        block = data[at]
        if block == 0x2C:  # an image descriptor: one frame
            count += 1
            at = _skip_sub_blocks(data, _after_color_table(data, at + 10, data[at + 9]) + 1)
        elif block == 0x21:  # an extension (graphic control, comment, application)
            at = _skip_sub_blocks(data, at + 2)
        else:  # 0x3B, the trailer; or damaged data: what was counted stands
            break
    return max(count, 1)


def _gif_blocks_start(data: bytes) -> int:
    if len(data) < 13:
        return 0
    return _after_color_table(data, 13, data[10])


def _after_color_table(data: bytes, at: int, packed: int) -> int:
    """Where the blocks go on after an optional colour table of ``packed``'s size."""
    return at + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0)


def _skip_sub_blocks(data: bytes, at: int) -> int:
    """The position after a chain of data sub-blocks (each a length byte, then that many bytes)."""
    while at < len(data):
        length = data[at]
        at += 1 + length
        if length == 0:
            return at
    return len(data)


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(data) >= 30:
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None, None


def header_problem(data: bytes, *, max_pixels: int = MAX_PIXELS) -> str | None:
    """Why the header of ``data`` rules it out as an image (not an image, empty, too large).

    Nothing is decoded: cheap enough for every partial image of a stream.
    """
    fmt, width, height = sniff(data)
    if fmt is None:
        return "not PNG, JPEG, WebP, GIF or SVG image data"
    if width is not None and height is not None:
        return _size_problem(width, height, max_pixels)
    return None


def decode_problem(data: bytes, *, max_pixels: int = MAX_PIXELS) -> str | None:
    """Why ``data`` is not a usable image (None when it decodes and is within the limits).

    The size is read from the header first, so a decompression bomb is refused before
    anything is decompressed; then the pixels are decoded once, all of them.
    """
    problem = header_problem(data, max_pixels=max_pixels)
    if problem:
        return problem
    if sniff(data)[0] == "svg":
        return svg_problem(data)
    from io import BytesIO

    from PIL import Image as PIL

    try:
        with PIL.open(BytesIO(data)) as pil:
            problem = _size_problem(pil.width, pil.height, max_pixels)
            if problem:
                return problem
            _load_every_frame(pil)
    except PIL.DecompressionBombError:
        return f"more than {max_pixels:,} pixels"
    except DECODE_ERRORS as exc:
        return f"the {sniff(data)[0] or 'image'} data does not decode ({decode_error_text(exc)})"
    return None


def _animated_gif_thumbnail(data: bytes, max_side: int) -> bytes:
    """A smaller animated GIF: every frame, each frame's duration, the source's loop count."""
    from io import BytesIO

    from PIL import Image as PIL
    from PIL import ImageSequence

    frames, durations = [], []
    with PIL.open(BytesIO(data)) as gif:
        looping = {"loop": gif.info["loop"]} if "loop" in gif.info else {}
        for frame in ImageSequence.Iterator(gif):
            durations.append(frame.info.get("duration", 100))
            small = frame.convert("RGBA")
            small.thumbnail((max_side, max_side))
            frames.append(small)
    buffer = BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=durations,
                   disposal=2, **looping)
    return buffer.getvalue()


def _load_every_frame(pil: PILImage) -> None:
    for index in range(getattr(pil, "n_frames", 1)):
        pil.seek(index)
        pil.load()


# What Pillow raises for broken data.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error)


def decode_error_text(exc: BaseException) -> str:
    """Pillow's reason, without the reprs of in-memory files it likes to add."""
    reason = str(exc).split(" <_io.", 1)[0].strip() or type(exc).__name__
    return reason[:120]


def _size_problem(width: int, height: int, max_pixels: int) -> str | None:
    if width <= 0 or height <= 0:
        return f"an empty image ({width}x{height})"
    if max(width, height) > MAX_DECODED_SIDE or width * height > max_pixels:
        return f"{width}x{height} is larger than {max_pixels:,} pixels or {MAX_DECODED_SIDE} pixels a side"
    return None


@dataclass(frozen=True, eq=False)
class Image:
    """An encoded image plus what is known of where it came from.

    ``data`` holds the bytes exactly as the server sent them (or as read from disk).
    """

    data: bytes
    prompt: str | None = None
    revised_prompt: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    response_id: str | None = None
    call_id: str | None = None
    usage: Usage | None = None
    path: Path | None = None
    parent: str | None = None
    created: float | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        fmt, width, height = sniff(self.data)
        object.__setattr__(self, "_format", fmt)
        object.__setattr__(self, "_size", (width, height))

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_b64(cls, b64: str, **meta: Any) -> Image:
        return cls(base64.b64decode(b64), **meta)

    @classmethod
    def open(cls, path: str | Path, **meta: Any) -> Image:
        """The image file at ``path``: a regular file of at most 50 MB (else `InvalidInputError`)."""
        from .inputs import read_image_file

        path = Path(path)
        return cls(read_image_file(path), path=path, **meta)

    def with_meta(self, **changes: Any) -> Image:
        """A copy with some metadata changed (the bytes are shared, not copied)."""
        return replace(self, **changes)

    # -- header facts -------------------------------------------------------------
    @property
    def format(self) -> str | None:
        return self._format  # type: ignore[attr-defined,no-any-return]

    @property
    def width(self) -> int | None:
        return self._size[0]  # type: ignore[attr-defined,no-any-return]

    @property
    def height(self) -> int | None:
        return self._size[1]  # type: ignore[attr-defined,no-any-return]

    @property
    def size(self) -> tuple[int | None, int | None]:
        return self._size  # type: ignore[attr-defined,no-any-return]

    @property
    def mime_type(self) -> str:
        return _MIME.get(self.format or "", "application/octet-stream")

    @cached_property
    def frame_count(self) -> int:
        """Frames of an animated GIF, 1 for every other image (counted once, without decoding)."""
        return gif_frame_count(self.data) if self.format == "gif" else 1

    @property
    def is_animated(self) -> bool:
        return self.frame_count > 1

    @property
    def nbytes(self) -> int:
        return len(self.data)

    # -- conversions --------------------------------------------------------------
    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def to_data_url(self) -> str:
        return f"data:{self.mime_type};base64,{self.b64()}"

    def to_pil(self) -> PILImage:
        """The decoded pixels (the first frame of an animated GIF; `VectorImageError` for an SVG)."""
        if self.format == "svg":
            from .errors import VectorImageError

            raise VectorImageError("an SVG image has no pixels to decode: nbimages keeps SVGs as documents")
        from io import BytesIO

        from PIL import Image as PIL

        img = PIL.open(BytesIO(self.data))
        img.load()
        return img

    def to_numpy(self) -> Any:
        import numpy as np

        return np.asarray(self.to_pil())

    def save(self, path: str | Path) -> Path:
        """Write the original bytes (no re-encoding) and return the path."""
        path = Path(path)
        if path.suffix == "" and self.format:
            path = path.with_suffix("." + ("jpg" if self.format == "jpeg" else self.format))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.data)
        return path

    def thumbnail(self, max_side: int = 512, format: str = "png") -> Image:
        """A downscaled copy (the same image when already small enough), encoded as ``format``.

        An SVG is its own thumbnail: it scales without loss and is small. An animated GIF
        gives an animated GIF (every frame, its durations), whatever ``format`` says.
        """
        small_enough = bool(self.width and self.height and max(self.width, self.height) <= max_side)
        if small_enough or self.format == "svg":
            return self
        if self.is_animated:
            return replace(self, data=_animated_gif_thumbnail(self.data, max_side), path=None)
        from io import BytesIO

        pil = self.to_pil()
        pil.thumbnail((max_side, max_side))
        buffer = BytesIO()
        if format == "jpeg" and pil.mode not in ("RGB", "L"):
            pil = pil.convert("RGB")
        pil.save(buffer, format=format.upper(), optimize=False)
        return replace(self, data=buffer.getvalue(), path=None)

    # -- display ------------------------------------------------------------------
    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        meta: dict[str, Any] = {"nbimages": self.describe_meta()}
        if self.format == "svg":
            # Never inline image/svg+xml: front ends put it into the page, where its scripts run.
            return {"text/html": self.img_html(), "text/plain": repr(self)}, meta
        if self.format in RASTER_FORMATS:
            if self.width and self.height:
                meta[self.mime_type] = {"width": self.width, "height": self.height}
            return {self.mime_type: self.data, "text/plain": repr(self)}, meta
        return {"text/plain": repr(self)}, meta

    def img_html(self, alt: str | None = None, style: str = "max-width:100%;height:auto") -> str:
        """An ``<img>`` showing the image from a data URL (the one safe way to show an SVG)."""
        size = f' width="{self.width}" height="{self.height}"' if self.width and self.height else ""
        text = escape(alt if alt is not None else self.revised_prompt or self.prompt or "", quote=True)
        return f'<img src="{self.to_data_url()}"{size} alt="{text}" style="{style}">'

    def _repr_png_(self) -> bytes | None:
        return self.data if self.format == "png" else None

    def describe_meta(self) -> dict[str, Any]:
        """JSON-safe provenance, as stored with the image and shown in outputs."""
        meta: dict[str, Any] = {
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }
        if self.format == "gif":
            meta["frame_count"] = self.frame_count
        for key in ("prompt", "revised_prompt", "model", "response_id", "call_id", "parent", "created", "source"):
            value = getattr(self, key)
            if value is not None:
                meta[key] = value
        if self.params:
            meta["params"] = self.params
        if self.path is not None:
            meta["path"] = str(self.path)
        if self.usage is not None:
            meta["usage"] = self.usage.to_dict()
        return meta

    def __repr__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        prompt = ""
        if self.prompt:
            text = self.prompt if len(self.prompt) <= 40 else self.prompt[:37] + "..."
            prompt = f" prompt={text!r}"
        size = f"{self.width}x{self.height}"
        return f"<nbimages.Image {self.format or '?'} {size}, {len(self.data):,} bytes{prompt}{where}>"

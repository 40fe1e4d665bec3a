"""`Image`: an encoded image (PNG/JPEG/WebP/GIF bytes) with its provenance.

Images stay encoded in memory; pixels are decoded (with Pillow, imported lazily) only
when asked for. Format and dimensions are read from the header without decoding.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["DECODE_ERRORS", "Image", "Usage", "decode_error_text", "decode_problem", "header_problem", "sniff"]

# Larger than any image model makes or any photo worth sending (an 8K frame is 33 MP), far
# smaller than what a decompression bomb would take: 20000x20000 would need 1.6 GB decoded.
MAX_PIXELS = 40_000_000
MAX_DECODED_SIDE = 16_384

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


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
    return None, None, None


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
        return "not PNG, JPEG, WebP or GIF image data"
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
    from io import BytesIO

    from PIL import Image as PIL

    try:
        with PIL.open(BytesIO(data)) as pil:
            problem = _size_problem(pil.width, pil.height, max_pixels)
            if problem:
                return problem
            pil.load()
    except PIL.DecompressionBombError:
        return f"more than {max_pixels:,} pixels"
    except DECODE_ERRORS as exc:
        return f"the {sniff(data)[0] or 'image'} data does not decode ({decode_error_text(exc)})"
    return None


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

    @property
    def nbytes(self) -> int:
        return len(self.data)

    # -- conversions --------------------------------------------------------------
    def b64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def to_data_url(self) -> str:
        return f"data:{self.mime_type};base64,{self.b64()}"

    def to_pil(self) -> PILImage:
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
        """A downscaled copy (the same image when already small enough)."""
        if self.width and self.height and max(self.width, self.height) <= max_side:
            return self
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
        if self.width and self.height:
            meta[self.mime_type] = {"width": self.width, "height": self.height}
        if self.format in ("png", "jpeg", "gif", "webp"):
            return {self.mime_type: self.data, "text/plain": repr(self)}, meta
        return {"text/plain": repr(self)}, meta

    def _repr_png_(self) -> bytes | None:
        return self.data if self.format == "png" else None

    def describe_meta(self) -> dict[str, Any]:
        """JSON-safe provenance, as stored with the image and shown in outputs."""
        meta: dict[str, Any] = {
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }
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

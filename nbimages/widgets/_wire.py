"""How images cross from the kernel to the browser: binary buffers in custom messages.

Full images never go into synced state (saved widget state would grow with every image);
state holds at most a small thumbnail. Previews are sent as they are when the browser can
show them and they are small enough (no re-encoding: the bytes sent are the image's own),
otherwise downscaled. An SVG always goes as it is and an animated GIF as a smaller
animated GIF: a WebP would lose the vector or the animation (the view shows an SVG only as
an ``<img>`` from a data URL, where its scripts never run). Anything larger than one message
may carry is split into parts that the view puts back together (Jupyter's websocket drops
messages near 10 MB).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from io import BytesIO
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ..image import Image

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Sender",
    "encode_thumbnail",
    "preview_bytes",
    "send_download",
    "send_image",
    "send_thumbnails",
    "strip_thumbnail",
]

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
PREVIEW_MAX_SIDE = 768
# A preview up to this size goes out byte for byte (a 1024 px PNG from the API is ~1-2 MB).
PASSTHROUGH_MAX_BYTES = 3 * 1024 * 1024
PASSTHROUGH_MAX_SIDE = 2048
THUMBNAIL_SIDE = 256
BROWSER_FORMATS = frozenset({"png", "jpeg", "webp", "gif", "svg"})
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
        "svg": "image/svg+xml"}

_sequence = itertools.count(1)


class Sender(Protocol):
    def send(self, content: dict[str, Any], buffers: Sequence[bytes | memoryview] | None = None) -> None: ...


def _fits(image: Image, max_bytes: int, max_side: int) -> bool:
    return (
        image.format in BROWSER_FORMATS
        and image.nbytes <= max_bytes
        and bool(image.width and image.height)
        and max(image.width or 0, image.height or 0) <= max_side
    )


def _encode(image: Image, max_side: int, fmt: str = "webp", quality: int = 85) -> tuple[bytes, str]:
    pil = image.to_pil()
    pil.thumbnail((max_side, max_side))
    if pil.mode not in ("RGB", "RGBA", "L", "LA"):
        pil = pil.convert("RGBA")
    buffer = BytesIO()
    pil.save(buffer, format=fmt.upper(), quality=quality, method=4 if fmt == "webp" else None)
    return buffer.getvalue(), MIME[fmt]


def _shrunk(image: Image, max_side: int) -> tuple[bytes, str]:
    """A smaller copy for the browser: a WebP, except an SVG (as it is) and an animated GIF
    (still animated)."""
    if image.format == "svg" or image.is_animated:
        small = image.thumbnail(max_side)
        return small.data, small.mime_type
    return _encode(image, max_side)


def preview_bytes(
    image: Image, *, max_side: int = PREVIEW_MAX_SIDE, passthrough_bytes: int = PASSTHROUGH_MAX_BYTES,
    passthrough_side: int = PASSTHROUGH_MAX_SIDE,
) -> tuple[bytes, str]:
    """(bytes, mime) to show ``image`` in a browser: as received when small enough, else a
    smaller copy (`_shrunk`); a grey card saying why when the image does not decode (a view
    never breaks on one)."""
    from ..image import header_problem

    problem = header_problem(image.data)
    if problem is None and _fits(image, passthrough_bytes, passthrough_side):
        return image.data, image.mime_type
    if problem is None:
        try:
            return _shrunk(image, max_side)
        except _undecodable() as exc:
            problem = str(exc).split(" <_io.", 1)[0] or type(exc).__name__
    return _unshowable_card(problem), "image/png"


def encode_thumbnail(image: Image, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """A small still WebP (keeps transparency) for synced state; empty when the image does not
    decode or is an SVG (the view shows an empty frame until the preview arrives)."""
    return _or_nothing(lambda: _encode(image, max_side, "webp", quality=80)[0], image, b"")


def strip_thumbnail(image: Image, max_side: int) -> tuple[bytes, str]:
    """(bytes, mime) of a thumbnail in a strip of many: a WebP, an SVG as it is, an animated
    GIF animated; empty bytes when the image does not decode."""
    return _or_nothing(lambda: _shrunk(image, max_side), image, (b"", MIME["webp"]))


_T = TypeVar("_T")


def _or_nothing(make: Callable[[], _T], image: Image, nothing: _T) -> _T:
    """``make()``, or ``nothing`` when ``image`` does not decode."""
    from ..image import header_problem

    if header_problem(image.data):
        return nothing
    try:
        return make()
    except _undecodable():
        return nothing


def _undecodable() -> tuple[type[BaseException], ...]:
    """What decoding a broken image raises (Pillow is imported only when an image is decoded)."""
    from PIL.Image import DecompressionBombError

    from ..image import DECODE_ERRORS

    return (*DECODE_ERRORS, DecompressionBombError)


def _unshowable_card(problem: str, side: int = 256) -> bytes:
    from PIL import Image as PIL
    from PIL import ImageDraw

    card = PIL.new("RGB", (side, side), (214, 214, 214))
    draw = ImageDraw.Draw(card)
    words = f"cannot be shown: {problem}".split()
    lines, line = [], ""
    for word in words:
        if len(line) + len(word) > 34 and line:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    lines.append(line)
    draw.multiline_text((10, 10), "\n".join(lines[:12]), fill=(70, 70, 70))
    buffer = BytesIO()
    card.save(buffer, format="PNG")
    return buffer.getvalue()


def send_image(widget: Sender, slot: str, data: bytes, mime: str, **meta: Any) -> int:
    """Send one image as ``{"type": "image", "slot": ...}`` message(s); returns the sequence number.

    One message when it fits, else ``parts`` messages of at most MAX_MESSAGE_BYTES each,
    sharing ``seq``; the view shows the image once every part has arrived.
    """
    return _send_parts(widget, "image", data, mime, slot=slot, **meta)


def send_download(widget: Sender, data: bytes, name: str, mime: str, view: str | None = None) -> int:
    """Send a file for the view to save as ``{"type": "download", "name": ...}`` message(s),
    split into parts as `send_image` does; the view saves it once every part has arrived
    (only the view named ``view``, when one is: the one whose button was clicked)."""
    return _send_parts(widget, "download", data, mime, name=name, view=view)


def _send_parts(widget: Sender, kind: str, data: bytes, mime: str, **meta: Any) -> int:
    seq = next(_sequence)
    parts = max(1, -(-len(data) // MAX_MESSAGE_BYTES))
    view = memoryview(data)
    for part in range(parts):
        chunk = view[part * MAX_MESSAGE_BYTES : (part + 1) * MAX_MESSAGE_BYTES]
        content = {"type": kind, **meta, "seq": seq, "mime": mime, "part": part, "parts": parts}
        widget.send(content, buffers=[chunk])  # a view of the bytes: no copy
    return seq


def send_thumbnails(widget: Sender, kind: str, items: Iterable[tuple[Any, bytes, str]]) -> None:
    """Send many small images as ``{"type": kind, "items": [{id, mime}...]}`` with one buffer each.

    Items are grouped so that no message exceeds MAX_MESSAGE_BYTES.
    """
    batch: list[dict[str, Any]] = []
    buffers: list[bytes] = []
    size = 0
    for key, data, mime in items:
        if batch and size + len(data) > MAX_MESSAGE_BYTES:
            widget.send({"type": kind, "items": batch}, buffers=buffers)
            batch, buffers, size = [], [], 0
        batch.append({"id": key, "mime": mime})
        buffers.append(data)
        size += len(data)
    if batch:
        widget.send({"type": kind, "items": batch}, buffers=buffers)

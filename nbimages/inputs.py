"""Normalise what users pass as images and parameters, and reject bad input before any request.

Every check raises `InvalidInputError` naming the parameter, the value and what would be
accepted. Only hard, stable constraints of the API are checked; open enums (models,
qualities, formats) pass through, unless a value is one slip away from a known one.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import weakref
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from . import _png_text, config
from .errors import InvalidInputError
from .image import MAX_DECODED_SIDE, MAX_PIXELS, Image, decode_problem

__all__ = [
    "ImageSource",
    "to_image",
    "validate_detail",
    "validate_markup",
    "validate_mask",
    "validate_prompt",
    "vision_part",
]

ImageSource = Any  # path, URL, bytes, PIL image, ndarray, matplotlib Figure, Image, file id

# NUL and lone surrogates (U+D800-U+DFFF) have no place in text sent to the API, and a lone
# surrogate cannot even be encoded as UTF-8.
_UNSENDABLE = re.compile("[\x00\ud800-\udfff]")
_FILE_ID = re.compile(r"^file-[A-Za-z0-9_-]+$")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


# -- scalar parameters ------------------------------------------------------------
def validate_prompt(prompt: Any, param: str = "prompt") -> str:
    if not isinstance(prompt, str):
        raise InvalidInputError(param, prompt, "a string")
    if not prompt.strip():
        raise InvalidInputError(param, prompt, "a non-empty description of the image")
    if len(prompt) > config.MAX_PROMPT_CHARS:
        raise InvalidInputError(
            param, f"<{len(prompt)} characters>", f"at most {config.MAX_PROMPT_CHARS} characters"
        )
    check_sendable(param, prompt)
    return prompt


def check_sendable(param: str, text: str) -> None:
    """Refuse text holding NUL or a lone surrogate, naming the parameter."""
    if _UNSENDABLE.search(text):
        raise InvalidInputError(param, text, "text without NUL characters or lone surrogates "
                                             "(U+D800 to U+DFFF), which cannot be sent")


def validate_detail(detail: Any, param: str = "detail") -> str:
    if detail not in config.DETAIL_LEVELS:
        raise InvalidInputError(param, detail, "one of " + ", ".join(repr(d) for d in config.DETAIL_LEVELS))
    return str(detail)


# -- images ----------------------------------------------------------------------
# Images that passed every check of `to_image`: an image handed from call to call (the
# current image of a conversation) is decoded once, not at every use.
_CHECKED: weakref.WeakSet[Image] = weakref.WeakSet()

_PIXEL_LIMITS = f"at most {MAX_PIXELS:,} pixels and {MAX_DECODED_SIDE:,} a side"
_DECODABLE = f"an image that decodes, of {_PIXEL_LIMITS}"


def to_image(source: ImageSource, param: str = "image", *, formats: frozenset[str] | None = None,
             max_bytes: int = config.MAX_IMAGE_BYTES) -> Image:
    """Anything image-like to an encoded `Image` (PNG for pixels that were not encoded yet).

    No read of outside data goes past ``max_bytes``, and the image must decode, within
    `image.MAX_PIXELS`: a broken or oversized image is refused here, not met later by a
    thumbnail, a vision request or a mask painter.
    """
    image = _load(source, param, max_bytes)
    if image.format is None:
        raise InvalidInputError(param, source, "PNG, JPEG, WebP or GIF image data (these bytes are not an image)")
    if formats is not None and image.format not in formats:
        raise InvalidInputError(param, source, "an image in " + ", ".join(sorted(formats)) + f", not {image.format}")
    if len(image.data) > max_bytes:
        raise InvalidInputError(param, f"<{len(image.data):,} bytes>", f"at most {_megabytes(max_bytes)}")
    if image.format == "png" and not _png_text.is_complete(image.data):
        raise InvalidInputError(param, source, "a complete PNG file (this one is truncated)")
    _check_decodes(image, source, param)
    return image


def _check_decodes(image: Image, source: ImageSource, param: str) -> None:
    if image in _CHECKED:
        return
    problem = decode_problem(image.data)
    if problem:
        raise InvalidInputError(param, source, f"{_DECODABLE} (this one: {problem})")
    _CHECKED.add(image)


def _check_pixels(param: str, shown: Any, width: int, height: int) -> None:
    """Pixels not encoded yet: refuse an empty or oversized picture before encoding it."""
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS or max(width, height) > MAX_DECODED_SIDE:
        raise InvalidInputError(param, shown, f"a non-empty image of {_PIXEL_LIMITS} (this one: {width}x{height})")


def _megabytes(limit: int) -> str:
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"


def _load(source: ImageSource, param: str, max_bytes: int) -> Image:
    if isinstance(source, Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise InvalidInputError(param, source, "image bytes (got an empty value)")
        return Image(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        return _from_path_or_url(source, param, max_bytes)
    if hasattr(source, "savefig"):  # matplotlib Figure
        return _from_figure(source, param)
    if _is_pil(source):  # before arrays: PIL images expose __array_interface__ too
        return _from_pil(source, param)
    if hasattr(source, "__array_interface__") or type(source).__module__ == "numpy":
        return _from_array(source, param)
    if hasattr(source, "read"):
        return _from_file_object(source, param, max_bytes)
    raise InvalidInputError(
        param, source, "a path, a data URL, bytes, a PIL image, a numpy array, a matplotlib figure or an nbimages.Image"
    )


def _from_path_or_url(source: str | os.PathLike[str], param: str, max_bytes: int) -> Image:
    text = os.fspath(source)
    if isinstance(source, str):
        if text.startswith("data:"):
            return _from_data_url(text, param, max_bytes)
        if text.lower().startswith("file://"):
            raise InvalidInputError(param, text, "a plain local path (without 'file://') or image data")
        if _URL.match(text):
            raise InvalidInputError(param, text, "a local path or image data here (download URLs first)")
        if not text.strip():
            raise InvalidInputError(param, text, "a path to an image file")
    path = Path(text).expanduser()
    data = read_image_file(path, param, max_bytes, shown=text)
    return Image(data, path=path, source=str(path))


def _from_data_url(text: str, param: str, max_bytes: int) -> Image:
    header, _, payload = text.partition(",")
    if ";base64" not in header:
        raise InvalidInputError(param, text, "a base64 data URL (data:image/png;base64,...)")
    if len(payload) > 4 * (max_bytes // 3 + 1):  # refused before decoding: base64 is 4 characters for 3 bytes
        raise InvalidInputError(param, f"<data URL of {len(text):,} characters>", f"at most {_megabytes(max_bytes)}")
    try:
        return Image(base64.b64decode(payload, validate=True))
    except ValueError:
        raise InvalidInputError(param, text, "a data URL with valid base64") from None


def read_image_file(path: Path, param: str = "path", max_bytes: int = config.MAX_IMAGE_BYTES, *,
                    shown: str | None = None) -> bytes:
    """The file's bytes: a regular file only, and never more than ``max_bytes`` of it
    (`InvalidInputError` naming ``param`` and the path as ``shown`` otherwise).

    A FIFO, a character device (/dev/zero) or a socket reports a size of 0 and never ends, or
    blocks ``open()`` forever: such files are refused on ``stat()``, before they are opened.
    """
    text = str(path) if shown is None else shown
    try:
        info = path.stat()
    except (OSError, ValueError):  # missing, or not a possible path (too long, NUL byte...)
        raise InvalidInputError(param, text, "a path to an existing image file (no such file)") from None
    _check_regular_file(info.st_mode, text, param)
    if info.st_size > max_bytes:
        raise InvalidInputError(param, text, f"a file of at most {_megabytes(max_bytes)}")
    try:
        # Non-blocking, in case the file was swapped for a FIFO since the stat() above.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InvalidInputError(param, text, f"a readable file ({exc.strerror or exc})") from None
    with open(fd, "rb") as file:
        _check_regular_file(os.fstat(fd).st_mode, text, param)
        data = _read_at_most(file.read, max_bytes, param, text)
    if len(data) > max_bytes:  # it grew since the stat() above
        raise InvalidInputError(param, text, f"a file of at most {_megabytes(max_bytes)}")
    if not data:
        raise InvalidInputError(param, text, "an image file (this file is empty)")
    return data


_SPECIAL_FILES = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular_file(mode: int, text: str, param: str) -> None:
    if stat.S_ISDIR(mode):
        raise InvalidInputError(param, text, "a path to an image file, not a directory")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "a special file")
        raise InvalidInputError(param, text, f"a path to a regular image file, not {kind}")


def _read_at_most(read: Callable[[int], Any], max_bytes: int, param: str, shown: Any) -> bytes:
    """What ``read`` returns, up to ``max_bytes + 1`` bytes: one byte too many is enough to refuse."""
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = read(max_bytes + 1 - size)
        if not chunk:  # the end (or, non-blocking, nothing yet: a source that is not a file)
            break
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise InvalidInputError(param, shown, "a file opened in binary mode ('rb'), not text")
        chunks.append(bytes(chunk))
        size += len(chunk)
    return b"".join(chunks)


def _from_file_object(source: Any, param: str, max_bytes: int) -> Image:
    data = _read_at_most(source.read, max_bytes, param, source)
    if len(data) > max_bytes:
        raise InvalidInputError(param, source, f"at most {_megabytes(max_bytes)} to read (this holds more)")
    return _load(data, param, max_bytes)


def _from_figure(figure: Any, param: str) -> Image:
    if hasattr(figure, "get_size_inches") and hasattr(figure, "dpi"):  # seaborn grids have savefig only
        width, height = (round(float(v) * float(figure.dpi)) for v in figure.get_size_inches())
        _check_pixels(param, f"<figure of {width}x{height} pixels>", width, height)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return Image(buffer.getvalue(), source="matplotlib figure")


def _is_pil(source: Any) -> bool:
    return any(cls.__module__.startswith("PIL.") and cls.__name__ == "Image" for cls in type(source).__mro__)


def _from_pil(pil: Any, param: str = "image") -> Image:
    _check_pixels(param, f"<PIL image {pil.width}x{pil.height}>", pil.width, pil.height)
    buffer = BytesIO()
    try:
        if pil.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            pil = pil.convert("RGBA")
        pil.save(buffer, format="PNG")
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # a lazily opened file whose pixels do not load
        reason = str(exc).split(" <_io.", 1)[0][:120] or type(exc).__name__
        shown = f"<PIL image {pil.width}x{pil.height}>"
        raise InvalidInputError(param, shown, f"{_DECODABLE} (this one: {reason})") from None
    return Image(buffer.getvalue(), source="PIL image")


def _from_array(array: Any, param: str) -> Image:
    import numpy as np

    arr = np.asarray(array)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)) or arr.size == 0:
        raise InvalidInputError(param, f"<array of shape {arr.shape}>", "an HxW, HxWx3 or HxWx4 array")
    _check_pixels(param, f"<array of shape {arr.shape}>", arr.shape[1], arr.shape[0])
    if arr.dtype.kind == "f":
        arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    elif arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    from PIL import Image as PIL

    image = _from_pil(PIL.fromarray(arr), param)
    return Image(image.data, source="numpy array")


def validate_mask(mask: ImageSource, first_image: Image, param: str = "mask") -> Image:
    """A mask must be a PNG with an alpha channel, the size of the first image, under 4 MB."""
    image = to_image(mask, param, max_bytes=config.MAX_MASK_BYTES)
    shown = str(image.path) if image.path is not None else mask  # the file a user can go and fix
    if image.format != "png":
        raise InvalidInputError(param, shown, f"a PNG with an alpha channel (got {(image.format or '?').upper()})")
    if not _png_text.has_alpha(image.data):
        raise InvalidInputError(
            param, shown, "a PNG with an alpha channel: transparent pixels (alpha 0) mark where to edit"
        )
    if first_image.size != image.size:
        raise InvalidInputError(
            param,
            f"<{image.width}x{image.height} mask>",
            f"the same size as the image ({first_image.width}x{first_image.height})",
        )
    return image


def validate_markup(markup: ImageSource, first_image: Image, mask: Image | None = None,
                    param: str = "markup") -> Image:
    """A markup is a PNG with transparent pixels, the size of the first image, never with a mask
    (the SDK's rules for GPT Image 2.5's markup edits)."""
    if mask is not None:
        raise InvalidInputError(param, markup, "a markup or a mask, not both (the API refuses them together)")
    image = to_image(markup, param)
    shown = str(image.path) if image.path is not None else markup
    if image.format != "png" or not _png_text.has_alpha(image.data) or not _has_transparent_pixels(image):
        raise InvalidInputError(param, shown, "a PNG with transparent pixels, drawn over the first image")
    if first_image.size != image.size:
        raise InvalidInputError(param, f"<{image.width}x{image.height} markup>",
                                f"the same size as the image ({first_image.width}x{first_image.height})")
    return image


def _has_transparent_pixels(image: Image) -> bool:
    alpha = image.to_pil().convert("RGBA").getchannel("A")
    lowest, _ = alpha.getextrema()  # one band: (min, max)
    return bool(lowest < 255)  # type: ignore[operator]


def vision_part(source: ImageSource, detail: str, param: str = "image") -> dict[str, Any]:
    """An ``input_image`` content part: URLs and file ids are passed by reference."""
    if isinstance(source, str):
        if source.startswith(("http://", "https://")):
            return {"type": "input_image", "image_url": source, "detail": detail}
        if _FILE_ID.match(source) and not Path(source).exists():
            return {"type": "input_image", "file_id": source, "detail": detail}
        if _URL.match(source) and not source.lower().startswith("file://"):
            raise InvalidInputError(param, source, "an http(s) URL, a file id, a local path or image data")
    image = to_image(source, param, formats=config.VISION_INPUT_FORMATS)
    return {"type": "input_image", "image_url": image.to_data_url(), "detail": detail}

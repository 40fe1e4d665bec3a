"""Image bytes in and out of the simulator: data URLs, decoding, encoding with provenance.

Decoding turns a bad upload into the API's 400 (``invalid_image_file``); encoding writes
png/jpeg/webp, an animated GIF (the picture panned and hue-turned a step per frame) and an
SVG (shapes in the picture's colours); PNGs carry a placeholder C2PA ``caBX`` chunk as
OpenAI's do.
Pillow is imported inside the functions so that importing the simulator stays cheap.
"""

from __future__ import annotations

import base64
import binascii
import colorsys
import io
import re
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote_to_bytes

from .._png_text import insert_after_ihdr, make_chunk
from .lru import LRU
from .params import DEFAULT_FRAME_MS, DEFAULT_FRAMES, ImageOptions
from .protocol import APIError

if TYPE_CHECKING:
    from PIL import Image as PILImage

MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
        "svg": "image/svg+xml"}

C2PA_MANIFEST = (
    b'{"claim_generator":"nbimages-simulator/0.1","title":"simulated image",'
    b'"assertions":[{"label":"c2pa.actions","data":{"actions":[{"action":"c2pa.created",'
    b'"digitalSourceType":"http://cv.iptc.org/newscodes/digitalsourcetype/'
    b'trainedAlgorithmicMedia","softwareAgent":"nbimages offline simulator"}]}}],'
    b'"note":"placeholder manifest: not signed"}'
)

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[^,;]*)*?)(;base64)?,(.*)$", re.S)
_ENCODED = LRU(48)  # encoded bytes, keyed by what the picture depends on


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_data_url(url: str, param: str) -> bytes:
    """The bytes of a ``data:`` URL, or the API's 400 naming ``param``."""
    m = _DATA_URL.match(url)
    if not m:
        if url.startswith(("http://", "https://")):
            raise APIError(400, f"The offline simulator cannot download '{url[:80]}': pass the "
                           "image as a data URL or upload it with the Files API.",
                           param=param, code="invalid_image_url")
        raise APIError(400, "Invalid image URL: expected a data URL "
                       "('data:image/png;base64,...') or a file_id.", param=param,
                       code="invalid_image_url")
    payload = m.group(4)
    try:
        return base64.b64decode(payload, validate=False) if m.group(3) else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise APIError(400, "Invalid base64 image data in data URL.", param=param,
                       code="invalid_image_url") from None


def open_image(data: bytes, param: str, index: int | None = None) -> Any:
    """The decoded image, or the API's 400 (``index`` names which of several inputs)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        which = f" for image {index}" if index is not None else ""
        raise APIError(400, f"Invalid image file or mode{which}, please check your image "
                       "file.", param=param, code="invalid_image_file") from None
    return img


def background_of(images: Iterable[PILImage.Image]) -> str:
    """``"transparent"`` when any of ``images`` has a pixel that is not fully opaque."""
    see_through = any(img.mode == "RGBA" and _lowest(img.getchannel("A")) < 255 for img in images)
    return "transparent" if see_through else "opaque"


def _lowest(band: PILImage.Image) -> float:
    low, _ = cast("tuple[float, float]", band.getextrema())
    return low


def _jumbf_manifest() -> bytes:
    def box(btype: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + btype + payload

    c2pa_uuid = bytes.fromhex("6332706100110010800000aa00389b71")
    desc = box(b"jumd", c2pa_uuid + b"\x03" + b"c2pa\x00")
    return box(b"jumb", desc + box(b"json", C2PA_MANIFEST))


CABX = _jumbf_manifest()


def encode(img: PILImage.Image, fmt: str = "png", compression: int | None = None,
           *, provenance: bool = True, frames: int = DEFAULT_FRAMES, frame_ms: int = DEFAULT_FRAME_MS) -> bytes:
    """Encode ``img`` as png/jpeg/webp, a GIF of ``frames`` frames ``frame_ms`` apart, or an
    SVG; PNGs get a placeholder C2PA ``caBX`` chunk."""
    fmt = fmt.lower()
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
        data = buf.getvalue()
        return insert_after_ihdr(data, [make_chunk(b"caBX", CABX)]) if provenance else data
    quality = 90 if compression is None else max(1, min(int(compression), 100))
    if fmt in ("jpeg", "jpg"):
        _flatten(img).save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality, method=0)
    elif fmt == "gif":
        return animated_gif(img, frames, frame_ms)
    elif fmt == "svg":
        return svg_document(img)
    else:
        raise ValueError(f"unsupported output format {fmt!r}")
    return buf.getvalue()


def animated_gif(img: PILImage.Image, frames: int, frame_ms: int) -> bytes:
    """A looping GIF whose every frame differs: ``img`` panned across by a step and its
    colours hue-turned by a step (the palette is turned, no pixel is recomputed)."""
    from PIL import Image, ImageChops

    still = img.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    palette = still.getpalette() or []
    pictures = []
    for k in range(frames):
        frame = ImageChops.offset(still, k * img.width // frames, 0)
        frame.putpalette(_hue_turned(palette, k / frames))
        pictures.append(frame)
    buf = io.BytesIO()
    pictures[0].save(buf, "GIF", save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def _hue_turned(palette: list[int], turn: float) -> list[int]:
    turned = []
    for i in range(0, len(palette) - 2, 3):
        h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in palette[i:i + 3]))
        turned += [round(c * 255) for c in colorsys.hsv_to_rgb((h + turn) % 1.0, s, v)]
    return turned


SVG_GRID = 4  # the SVG is a SVG_GRID x SVG_GRID mosaic of the picture's colours, and a disc


def svg_document(img: PILImage.Image) -> bytes:
    """An SVG document of ``img``'s size: a mosaic of its colours and a disc of its centre's."""
    from PIL import Image

    width, height = img.size
    colours = img.convert("RGB").resize((SVG_GRID, SVG_GRID), Image.Resampling.BOX)
    cell_w, cell_h = width / SVG_GRID, height / SVG_GRID
    cells = [f'<rect x="{x * cell_w:g}" y="{y * cell_h:g}" width="{cell_w:g}" height="{cell_h:g}" '
             f'fill="{_hex(colours.getpixel((x, y)))}"/>' for y in range(SVG_GRID) for x in range(SVG_GRID)]
    centre = _hex(img.convert("RGB").getpixel((width // 2, height // 2)))
    disc = f'<circle cx="{width / 2:g}" cy="{height / 2:g}" r="{min(width, height) / 4:g}" fill="{centre}"/>'
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<g shape-rendering="crispEdges">{"".join(cells)}</g>{disc}</svg>\n').encode()


def _hex(rgb: Any) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def _flatten(img: PILImage.Image) -> PILImage.Image:
    """An RGB image for JPEG: transparency over white."""
    if img.mode == "RGB":
        return img
    from PIL import Image

    bg = Image.new("RGB", img.size, (255, 255, 255))
    if img.mode == "RGBA":
        bg.paste(img, (0, 0), img)
    else:
        bg.paste(img.convert("RGB"))
    return bg


def encode_output(img: PILImage.Image, opts: ImageOptions, key: Any = None) -> bytes:
    """``img`` as the request asked (format, compression, a GIF's frames), remembered under
    ``key`` (what ``img`` depends on) unless it is None."""
    full = (key, opts.output_format, opts.compression, opts.frame_count, opts.frame_duration_ms)
    data: bytes | None = _ENCODED.get(full) if key is not None else None
    if data is None:
        data = encode(img, opts.output_format, opts.compression, frames=opts.frame_count,
                      frame_ms=opts.frame_duration_ms)
        if key is not None:
            _ENCODED.put(full, data)
    return data


def sniff_mime(data: bytes, filename: str | None = None) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    if data.lstrip()[:5] in (b"<svg ", b"<?xml"):
        return "image/svg+xml"
    if filename:
        import mimetypes

        guess = mimetypes.guess_type(filename)[0]
        if guess:
            return guess
    return "application/octet-stream"

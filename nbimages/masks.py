"""Masks for edits: transparent pixels (alpha 0) mark where the model may paint.

`mask_from_box`, `mask_from_array` (a painted boolean array), `invert`, and `outpaint`,
which extends the canvas and returns the matching image and mask.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from .errors import InvalidInputError
from .image import Image
from .inputs import to_image

__all__ = ["invert", "mask_from_array", "mask_from_box", "outpaint", "paste_outside_mask"]


def _png(pil: Any, **meta: Any) -> Image:
    buffer = BytesIO()
    pil.save(buffer, format="PNG")
    return Image(buffer.getvalue(), **meta)


def _size_of(image_or_size: Any) -> tuple[int, int]:
    if isinstance(image_or_size, tuple) and len(image_or_size) == 2:
        width, height = image_or_size
        if all(isinstance(v, int) and v > 0 for v in (width, height)):
            return width, height
        raise InvalidInputError("size", image_or_size, "(width, height) as positive integers")
    image = to_image(image_or_size, "image")
    return int(image.width or 0), int(image.height or 0)


def mask_from_box(image_or_size: Any, box: tuple[int, int, int, int]) -> Image:
    """A mask that lets the model edit inside ``box`` = (left, top, right, bottom), in pixels."""
    from PIL import Image as PIL
    from PIL import ImageDraw

    width, height = _size_of(image_or_size)
    if len(box) != 4 or not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
        raise InvalidInputError("box", box, f"(left, top, right, bottom) inside the {width}x{height} image")
    mask = PIL.new("RGBA", (width, height), (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=(0, 0, 0, 0))
    return _png(mask, source="mask_from_box")


def mask_from_array(painted: Any) -> Image:
    """A mask from an HxW array where true / nonzero values mark the pixels to edit."""
    import numpy as np
    from PIL import Image as PIL

    arr = np.asarray(painted)
    if arr.ndim == 3:
        arr = arr[..., -1] if arr.shape[2] in (2, 4) else arr.max(axis=2)
    if arr.ndim != 2 or arr.size == 0:
        raise InvalidInputError("painted", f"<array of shape {arr.shape}>", "an HxW array (nonzero = edit here)")
    alpha = np.where(arr.astype(bool), 0, 255).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., 3] = alpha
    return _png(PIL.fromarray(rgba, "RGBA"), source="mask_from_array")


def mask_alpha(mask: Any) -> Any:
    """The mask's alpha channel as a numpy array (0 = edit here, 255 = keep)."""
    import numpy as np

    pil = to_image(mask, "mask").to_pil().convert("RGBA")
    return np.asarray(pil)[..., 3]


def invert(mask: Any) -> Image:
    """Swap what is edited and what is kept."""
    from PIL import Image as PIL
    from PIL import ImageOps

    pil = to_image(mask, "mask").to_pil().convert("RGBA")
    alpha = ImageOps.invert(pil.getchannel("A"))
    out = PIL.new("RGBA", pil.size, (0, 0, 0, 0))
    out.putalpha(alpha)
    return _png(out, source="invert")


def outpaint(
    image: Any, *, left: int = 0, right: int = 0, top: int = 0, bottom: int = 0, multiple: int = 16
) -> tuple[Image, Image]:
    """Extend the canvas and return ``(image, mask)`` ready for ``client.edit``.

    The new border is transparent in the image and editable in the mask; the sizes are
    rounded up to a multiple of ``multiple`` (image models want sides divisible by 16) by
    growing the right and bottom borders.
    """
    from PIL import Image as PIL

    for name, value in (("left", left), ("right", right), ("top", top), ("bottom", bottom)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(name, value, "a number of pixels >= 0")
    if not any((left, right, top, bottom)):
        raise InvalidInputError("left/right/top/bottom", 0,
                                "at least one side to extend by a positive number of pixels")
    source = to_image(image, "image")
    pil = source.to_pil().convert("RGBA")
    width = pil.width + left + right
    height = pil.height + top + bottom
    right += -width % multiple
    bottom += -height % multiple
    width, height = pil.width + left + right, pil.height + top + bottom
    canvas = PIL.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(pil, (left, top))
    mask = PIL.new("RGBA", (width, height), (0, 0, 0, 0))
    mask.paste(PIL.new("RGBA", pil.size, (0, 0, 0, 255)), (left, top))
    return _png(canvas, source="outpaint"), _png(mask, source="outpaint mask")


def paste_outside_mask(edited: Image, original: Any, mask: Any) -> Image:
    """Put the original pixels back wherever the mask says "keep".

    Image models may touch pixels outside the mask; this restores them exactly.
    """
    from PIL import Image as PIL

    base = to_image(original, "original").to_pil().convert("RGBA")
    result = edited.to_pil().convert("RGBA")
    if result.size != base.size:
        result = result.resize(base.size)
    keep = to_image(mask, "mask").to_pil().convert("RGBA").getchannel("A")
    merged = PIL.composite(base, result, keep)
    out = _png(merged)
    return edited.with_meta(data=out.data, params={**edited.params, "pasted_outside_mask": True})

"""The one edit pipeline, behind ``/images/edits`` and the Responses image_generation tool.

Both endpoints decode their inputs (first image, reference images, mask or markup) into an
:class:`EditJob`; :func:`paint_edits` fits the first image to the output (mode, size,
mask) and hands it to the painter. With a mask only the pixels where the mask's alpha is
0 change: every other pixel of the output is the input's. A markup (GPT Image 2.5's
drawing over the first image) works as a mask around its marks: only pixels within
:data:`MARKUP_REACH` of a drawn mark change, and the marks' colours show through there.

Transparency follows the ``background`` parameter as the API reference defines it, for
both endpoints: ``transparent`` gives an output with an alpha channel, ``opaque`` one
without (an input's alpha is dropped: the caller asked for an opaque image), and ``auto``
(the default, "the model decides") keeps the first input's alpha channel if it has one
(RGBA, LA, PA, or a palette with a transparent colour): an edit of a cut-out stays a
cut-out. A reply says ``background: transparent`` when a pixel is not fully opaque.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import decode_data_url
from .painter.base import Picture
from .protocol import APIError
from .usage import image_input_tokens

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .painter import Painter
    from .state import State


@dataclass
class EditJob:
    """One edit: decoded inputs and what to do with them."""

    image: PILImage.Image  # the image to edit, as sent
    prompt: str
    references: list[PILImage.Image] = field(default_factory=list)  # the other input images
    mask: PILImage.Image | None = None  # "L", 255 where the image may change (see mask_region)
    markup: PILImage.Image | None = None  # "RGBA", the marks drawn over the image (see markup_layer)
    size: tuple[int, int] | None = None  # None: the image's own size
    background: str = "auto"
    fidelity: str | None = None
    context: str | None = None  # the revised prompt the image was made from, if known
    notes: object = None  # the painter's notes about the image, if it painted it

    @property
    def out_size(self) -> tuple[int, int]:
        return self.size or self.image.size

    def input_tokens(self) -> int:
        """Every input image, at the size it was sent, at the requested input fidelity."""
        return sum(image_input_tokens(im.size, self.fidelity) for im in [self.image, *self.references])


def load_image_ref(state: State, ref: Any, param: str) -> bytes:
    """The bytes of an image given as a data URL, ``{"image_url": ...}`` or ``{"file_id": ...}``."""
    if isinstance(ref, str):
        return decode_data_url(ref, param)
    if not isinstance(ref, dict):
        raise APIError(400, f"Invalid '{param}': expected an object with 'image_url' or "
                       "'file_id'.", param=param, code="invalid_type")
    if ref.get("file_id"):
        return state.file_bytes(ref["file_id"], param)
    url = ref.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    if not url:
        raise APIError(400, f"Invalid '{param}': expected 'image_url' or 'file_id'.",
                       param=param, code="missing_required_parameter")
    return decode_data_url(url, param)


def mask_region(mask_img: Any, size: tuple[int, int], param: str) -> PILImage.Image:
    """The editable region ("L", 255 where the mask's alpha is 0) for an image of ``size``,
    or the API's 400 for a mask without alpha or of another size."""
    if mask_img.mode == "P" and "transparency" in mask_img.info:
        mask_img = mask_img.convert("RGBA")
    if "A" not in mask_img.getbands():
        raise APIError(400, "Invalid mask image format - mask image missing alpha channel. "
                       "The mask's fully transparent pixels (alpha 0) mark where to edit.",
                       param=param, code="invalid_image_format")
    if mask_img.size != size:
        raise APIError(400, f"Invalid mask image: the mask must have the same dimensions as "
                       f"the image (mask {mask_img.width}x{mask_img.height}, image "
                       f"{size[0]}x{size[1]}).", param=param, code="invalid_image_size")
    return mask_img.getchannel("A").point(lambda a: 255 if a == 0 else 0)


def markup_layer(markup_img: Any, size: tuple[int, int], mask_sent: bool, param: str = "markup") -> PILImage.Image:
    """The marks as "RGBA", or the API's 400 for a markup that is not a PNG with transparent
    pixels of the first image's size, or one sent with a mask."""
    if mask_sent:
        raise APIError(400, "Invalid 'markup': a markup cannot be combined with a mask; send one or the "
                       "other.", param=param, code="invalid_value")
    if markup_img.format != "PNG":
        raise APIError(400, f"Invalid 'markup': expected a PNG, got {markup_img.format or 'an unknown format'}.",
                       param=param, code="invalid_image_format")
    rgba = markup_img.convert("RGBA")
    lowest, _ = rgba.getchannel("A").getextrema()
    if lowest == 255:
        raise APIError(400, "Invalid 'markup': the markup must contain transparent pixels; draw the marks "
                       "on a transparent layer.", param=param, code="invalid_image_format")
    if rgba.size != size:
        raise APIError(400, f"Invalid 'markup': the markup must have the same dimensions as the first image "
                       f"(markup {rgba.width}x{rgba.height}, image {size[0]}x{size[1]}).",
                       param=param, code="invalid_image_size")
    return rgba


MARKUP_REACH = 1 / 24  # how far from a mark an edit reaches, as a share of the image's shorter side
MARK_SHOW = 0.5  # how strongly a mark's colour shows in the edited picture


def markup_region(markup: PILImage.Image) -> PILImage.Image:
    """Where a markup lets the image change ("L", 255): its marks, widened by MARKUP_REACH."""
    from PIL import ImageChops, ImageFilter

    marks = markup.getchannel("A").point(lambda a: 255 if a else 0)
    reach = max(2.0, min(markup.size) * MARKUP_REACH)
    # A blur spreads every mark by about its radius; any trace left of it is within reach.
    spread = marks.filter(ImageFilter.GaussianBlur(reach / 2)).point(lambda a: 255 if a > 2 else 0)
    return ImageChops.lighter(marks, spread)


def output_mode(image: PILImage.Image, background: str) -> str:
    """"RGBA" or "RGB": the transparency rule of this module's docstring."""
    if background in ("transparent", "opaque"):
        return "RGBA" if background == "transparent" else "RGB"
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    return "RGBA" if has_alpha else "RGB"


def paint_edits(painter: Painter, job: EditJob, seeds: Sequence[int]) -> list[Picture]:
    """One edited picture per seed, in the output's mode and size; with a mask, every
    pixel outside it is the input's, whatever the painter did. A markup's marks are blended
    into each picture."""
    base, mask = _fit(job)
    pictures = [painter.edit(base, job.prompt, seed, mask=mask, references=job.references,
                             context=job.context, notes=job.notes) for seed in seeds]
    kept = [_kept(p, base, mask) for p in pictures]
    marks = _fit_marks(job)
    return kept if marks is None else [_marked(p, marks) for p in kept]


def _fit(job: EditJob) -> tuple[PILImage.Image, PILImage.Image | None]:
    """The image to edit in the output's mode and size, and the mask (or the markup's
    region) at that size."""
    base = job.image.convert(output_mode(job.image, job.background))
    region = markup_region(job.markup) if job.markup is not None else job.mask
    if base.size == job.out_size:
        return base, region
    from PIL import Image

    mask = region.resize(job.out_size, Image.Resampling.NEAREST) if region is not None else None
    return base.resize(job.out_size, Image.Resampling.LANCZOS), mask


def _fit_marks(job: EditJob) -> PILImage.Image | None:
    """The markup at the output's size, or None without one."""
    if job.markup is None or job.markup.size == job.out_size:
        return job.markup
    from PIL import Image

    return job.markup.resize(job.out_size, Image.Resampling.LANCZOS)


def _marked(picture: Picture, marks: PILImage.Image) -> Picture:
    """The picture with the marks' colours blended in where they were drawn."""
    from PIL import Image

    strength = marks.getchannel("A").point(lambda a: round(a * MARK_SHOW))
    colours = marks.convert(picture.image.mode)
    return Picture(Image.composite(colours, picture.image, strength), picture.notes)


def _kept(picture: Picture, base: PILImage.Image, mask: PILImage.Image | None) -> Picture:
    """The picture in ``base``'s mode (transparency as decided), ``base`` outside ``mask``."""
    image = picture.image if picture.image.mode == base.mode else picture.image.convert(base.mode)
    if mask is not None:
        from PIL import Image

        image = Image.composite(image, base, mask)
    return picture if image is picture.image else Picture(image, picture.notes)

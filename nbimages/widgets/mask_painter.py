"""`MaskPainter`: paint where an edit may change the image; get an alpha mask in Python.

The view paints on a canvas of the image's own size (CSS-scaled), so a stroke lands on
the same image pixels at any zoom. After each stroke it sends the painted layer as a PNG
(binary buffer); the kernel keeps it as a one-channel PIL image (255 = painted; no numpy
needed) and builds ``mask`` from it: alpha 0 where painted (edit here), opaque elsewhere,
the format ``client.edit`` and ``%%imagine --edit img --mask painter`` take.

In markup mode (``mode="markup"``, or the toolbar's Markup button) the view draws coloured
freehand strokes, arrows and boxes instead; it sends that layer as an RGBA PNG, kept as it
is and returned by ``markup``: the marks over a transparent layer of the image's size, the
``markup`` GPT Image 2.5's edits take (``%%imagine --edit img --markup painter``). The two
layers are kept apart: switching modes loses neither.

After ``edit()`` the view shows the result beside its input, with "Continue from the result"
(``continue_from_result()`` in Python; ``use(image)`` paints on any image). ``edit()``
returns an `EditResults`: a list of the images that a notebook shows as thumbnails.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import InvalidInputError
from ..image import Image as NbImage
from ..image import decode_problem, sniff
from ..inputs import to_image
from ._base import NbImagesWidget, static_file
from ._wire import encode_thumbnail, preview_bytes, send_image

if TYPE_CHECKING:
    from ..client import Client
    from ..image import Image
    from ..store import Store

__all__ = ["EditResults", "MaskPainter"]

# The backdrop only has to look right under the mask; the mask itself is full size.
BACKDROP_MAX_SIDE = 1536
MODES = ("mask", "markup")
RESULT_MAX_SIDE = 768
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def shown_fraction(painted: int, total: int) -> float:
    """``painted / total`` to 4 places, except that a few pixels never round to 0 (nothing
    painted) and a few unpainted ones never round to 1 (everything painted)."""
    exact = painted / total if total else 0.0
    rounded = round(exact, 4)
    if (rounded == 0 and painted) or (rounded == 1 and painted < total):
        return exact
    return rounded


def share_label(painted: int, total: int) -> str:
    """A percentage with one decimal, that says "<0.1%" rather than "0.0%" for a few pixels."""
    if painted and painted < total:
        exact = painted / total
        if exact < 0.0005:
            return "<0.1%"
        if exact > 0.9995:
            return ">99.9%"
    return f"{painted / total if total else 0.0:.1%}"


class EditResults(list):  # type: ignore[type-arg]
    """The images an edit returned: a plain list, shown in a notebook as ``%%imagine`` shows
    its images (previews, caption, where each was saved), not as ``[<nbimages.Image ...>]``."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from ..display import image_bundle

        return image_bundle(list(self))


class MaskPainter(NbImagesWidget):
    """Paint a mask over ``image``: brush, eraser, undo, invert, clear, overlay opacity.

    ``mask`` is the PNG `Image` to pass to ``client.edit`` (alpha 0 where painted);
    ``painted`` the same as an HxW boolean numpy array; ``edit(prompt)`` runs the edit and by
    default puts the original pixels back outside the mask.

    With ``mode="markup"`` draw marks instead (pen, arrow, box, in ``color`` at ``line_width``):
    ``markup`` is the drawn layer as a PNG `Image`, and ``edit(prompt)`` sends it as the edit's
    ``markup``.

    ``results`` holds the last edit's images, shown in the view beside the input;
    ``continue_from_result()`` (the view's button) paints on the first of them next, and
    ``use(image)`` on any image.
    """

    _esm = static_file("mask_painter.js")

    width = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    brush_size = traitlets.Int(48, min=1, max=4096).tag(sync=True)  # diameter, in image pixels
    overlay_opacity = traitlets.Float(0.55, min=0.0, max=1.0).tag(sync=True)
    painted_pixels = traitlets.Int(0).tag(sync=True)  # exact: "nothing painted" is decided on this
    painted_fraction = traitlets.Float(0.0).tag(sync=True)  # rounded for display, never to 0 if anything is painted
    mask_version = traitlets.Int(0).tag(sync=True)  # bumps on every mask the kernel receives or sets
    caption = traitlets.Unicode("").tag(sync=True)  # what the last edit did
    mode = traitlets.Enum(MODES, "mask").tag(sync=True)  # what the view draws and edit() sends
    color = traitlets.Unicode("#ff2d55").tag(sync=True)  # the markup pen's colour, #rrggbb
    line_width = traitlets.Int(8, min=1, max=512).tag(sync=True)  # of markup strokes, in image pixels
    markup_pixels = traitlets.Int(0).tag(sync=True)  # pixels with some ink: "nothing drawn" is decided on this
    markup_version = traitlets.Int(0).tag(sync=True)  # bumps on every markup the kernel receives or sets

    def __init__(self, image: Any, **kwargs: Any) -> None:
        from PIL import Image as PIL

        self.image: Image = to_image(image, "image")
        if not (self.image.width and self.image.height):
            raise InvalidInputError("image", self.image, "an image whose size can be read (PNG, JPEG, WebP, GIF)")
        self._painted = PIL.new("L", (self.image.width, self.image.height), 0)
        self._mask: Image | None = None
        self._drawn = PIL.new("RGBA", (self.image.width, self.image.height), (0, 0, 0, 0))
        self._markup: Image | None = None
        self.results = EditResults()
        self._result_shown = False
        super().__init__(**kwargs)
        self.width, self.height = self.image.width, self.image.height
        self.thumbnail = encode_thumbnail(self.image)

    # -- Python API -------------------------------------------------------------------
    @property
    def painted_share(self) -> str:
        """The painted part as a percentage to show: "<0.1%" for a few pixels, never "0.0%"."""
        return share_label(self.painted_pixels, self.width * self.height)

    @property
    def painted(self) -> Any:
        """The painted pixels as an HxW bool numpy array (True = the edit may paint here)."""
        import numpy as np

        return np.asarray(self._painted) > 0

    @property
    def mask(self) -> Image:
        """The mask as a PNG `Image` of the image's size: alpha 0 where painted, 255 elsewhere."""
        if self._mask is None:
            from PIL import Image as PIL
            from PIL import ImageOps

            rgba = PIL.new("RGBA", self._painted.size, (0, 0, 0, 0))
            rgba.putalpha(ImageOps.invert(self._painted))
            self._mask = NbImage(_png(rgba), source="MaskPainter")
        return self._mask

    @property
    def markup(self) -> Image:
        """The marks drawn in markup mode, as a PNG `Image` of the image's size: the marks'
        colours over a transparent layer (all transparent when nothing is drawn)."""
        if self._markup is None:
            self._markup = NbImage(_png(self._drawn), source="MaskPainter")
        return self._markup

    @property
    def markup_share(self) -> str:
        """The part of the image drawn on, as a percentage to show."""
        return share_label(self.markup_pixels, self.width * self.height)

    def set_painted(self, painted: Any) -> None:
        """Replace the painting: an HxW array (nonzero = edit here) or a mask image (transparent = edit)."""
        from PIL import Image as PIL

        if hasattr(painted, "shape") or isinstance(painted, (list, tuple)):
            import numpy as np

            array = np.asarray(painted)
            if array.shape != (self.height, self.width):
                raise InvalidInputError("painted", f"<array of shape {array.shape}>",
                                        f"an array of shape {(self.height, self.width)} (the image's height x width)")
            layer = PIL.fromarray(np.where(array.astype(bool), 255, 0).astype(np.uint8), "L")
        else:
            layer = self._same_size(painted, "painted", "mask").getchannel("A").point(lambda a: 255 if a < 128 else 0)
        self._set(layer)
        self._send_mask()

    def set_markup(self, markup: Any) -> None:
        """Replace the drawing with ``markup``: an image of the image's size whose transparent
        pixels are where nothing is drawn (a path, bytes, a PIL image, an array, an `Image`)."""
        self._set_markup(self._same_size(markup, "markup"))
        self._send_markup()

    def clear(self) -> None:
        """Erase everything painted (in markup mode: everything drawn)."""
        from PIL import Image as PIL

        if self.mode == "markup":
            self._set_markup(PIL.new("RGBA", self._drawn.size, (0, 0, 0, 0)))
            self._send_markup()
            return
        self._set(PIL.new("L", self._painted.size, 0))
        self._send_mask()

    def invert(self) -> None:
        """Paint what was not painted, and the other way round."""
        from PIL import ImageOps

        self._set(ImageOps.invert(self._painted))
        self._send_mask()

    def edit(self, prompt: str, *, client: Client | None = None, paste_back: bool = True,
             store: Store | bool | None = None, **options: Any) -> EditResults:
        """Edit the painted region with ``client.edit`` (the simulator or OpenAI).

        With ``paste_back`` (the default) the original pixels are put back outside the mask,
        since image models may change them; such results carry ``params["pasted_outside_mask"]``
        and the widget's caption says so. Results are written to the store (``store=False``
        to skip) and returned, like ``client.edit``'s.

        In markup mode the drawn marks go as the edit's ``markup`` instead (there is no mask,
        so nothing is pasted back).
        """
        if self.mode == "markup":
            results = self._edit_with(prompt, client, markup=self._drawn_markup(), **options)
            caption = f"Edited following the markup ({self.markup_share} of the image drawn on)."
        else:
            results, caption = self._edit_masked(prompt, client, paste_back, options)
        if store is not False:
            from ..store import default_store

            target = default_store() if store is None or store is True else store
            results = [target.save(result) for result in results]
        self.results = EditResults(results)
        self.caption = caption
        self.error = ""
        self._show_result()
        return self.results

    def continue_from_result(self, index: int = 0) -> None:
        """Paint the next edit on the last edit's result (``results[index]``)."""
        if not self.results:
            raise InvalidInputError("results", "no edit yet", "an edit first: painter.edit(prompt)")
        self.use(self.results[index])

    def use(self, image: Any) -> None:
        """Paint on ``image`` from now on (a path, bytes, PIL, array or `Image`): the painting and
        the marks start empty, and ``edit()`` edits this image."""
        from PIL import Image as PIL

        image = to_image(image, "image")
        if not (image.width and image.height):
            raise InvalidInputError("image", image, "an image whose size can be read (PNG, JPEG, WebP, GIF)")
        self.image = image
        with self.hold_sync():
            self.width, self.height = image.width, image.height
            self.thumbnail = encode_thumbnail(image)
            self._set(PIL.new("L", (image.width, image.height), 0))
            self._set_markup(PIL.new("RGBA", (image.width, image.height), (0, 0, 0, 0)))
            self.caption = "Painting on the edited image: paint where the next edit goes."
        self._hide_result()
        self._send_backdrop()
        self._send_mask()
        self._send_markup()

    # -- actions from the view ---------------------------------------------------------
    def _action_hello(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self._send_backdrop()
        if self.painted_pixels:
            self._send_mask()
        if self.markup_pixels:
            self._send_markup()
        if self._result_shown:
            self._show_result()

    def _action_continue(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.continue_from_result()

    def _action_dismiss(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self._hide_result()

    def _action_mask(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The view's painted layer (a PNG, alpha > 127 = painted) after each change."""
        alpha = self._layer_from_view(buffers, "mask").getchannel("A")
        self._set(alpha.point(lambda a: 255 if a > 127 else 0))

    def _action_markup(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The view's drawn layer (an RGBA PNG, transparent where nothing is drawn) after each change."""
        self._set_markup(self._layer_from_view(buffers, "markup"))

    # -- internals ---------------------------------------------------------------------
    def _show_result(self) -> None:
        """The first result, for the view to show beside the input."""
        if not self.results:
            return
        data, mime = preview_bytes(self.results[0], max_side=RESULT_MAX_SIDE)
        send_image(self, "result", data, mime, total=len(self.results))
        self._result_shown = True

    def _hide_result(self) -> None:
        self._result_shown = False
        self.send({"type": "result-clear"})

    def _edit_masked(self, prompt: str, client: Client | None, paste_back: bool,
                     options: dict[str, Any]) -> tuple[list[Image], str]:
        if self.painted_pixels == 0:
            raise InvalidInputError("mask", "nothing painted", "a painted region: paint where the edit goes")
        mask = self.mask
        results = self._edit_with(prompt, client, mask=mask, **options)
        if paste_back:
            from ..masks import paste_outside_mask

            results = [paste_outside_mask(result, self.image, mask) for result in results]
        area = f"{self.painted_share} of the image"
        caption = (f"Edited {area}; original pixels pasted back outside the mask." if paste_back
                   else f"Edited {area}; pixels outside the mask are as the model returned them.")
        return results, caption

    def _drawn_markup(self) -> Image:
        if self.markup_pixels == 0:
            raise InvalidInputError("markup", "nothing drawn",
                                    "marks drawn in markup mode: draw where and what the edit should change")
        return self.markup

    def _edit_with(self, prompt: str, client: Client | None, **options: Any) -> list[Image]:
        """``client.edit`` of the image, or that of a client of our own (closed afterwards)."""
        if client is not None:
            results: list[Image] = client.edit(prompt, self.image, **options)
            return results
        from ..client import Client

        with Client() as own:
            results = own.edit(prompt, self.image, **options)
        return results

    def _same_size(self, source: Any, param: str, noun: str = "markup") -> Any:
        """``source`` as an RGBA PIL image, or `InvalidInputError` when it is not the image's size."""
        pil = to_image(source, param).to_pil()
        if pil.size != (self.width, self.height):
            raise InvalidInputError(param, f"{pil.width}x{pil.height} {noun}", f"a {self.width}x{self.height} {noun}")
        return pil.convert("RGBA")

    def _layer_from_view(self, buffers: list[bytes], param: str) -> Any:
        """The one PNG buffer the view sent, as an RGBA PIL image of the image's size."""
        from PIL import Image as PIL

        if len(buffers) != 1:
            raise InvalidInputError(param, f"{len(buffers)} buffers", "one PNG buffer")
        data = buffers[0]
        fmt, width, height = sniff(data)
        if fmt is not None and (width, height) != (self.width, self.height):  # on the header, before decoding
            raise InvalidInputError(param, f"{width}x{height}", f"{self.width}x{self.height}")
        problem = decode_problem(data)
        if problem:
            raise InvalidInputError(param, f"<{len(data)} bytes>", f"a PNG of the painted layer ({problem})")
        with PIL.open(BytesIO(data)) as pil:
            return pil.convert("RGBA")

    def _set(self, layer: Any) -> None:
        self._painted = layer
        self._mask = None
        painted = layer.histogram()[255]
        self.painted_pixels = painted
        self.painted_fraction = shown_fraction(painted, layer.width * layer.height)
        self.mask_version += 1
        self.error = ""

    def _set_markup(self, layer: Any) -> None:
        self._drawn = layer
        self._markup = None
        self.markup_pixels = layer.getchannel("A").point(lambda a: 255 if a else 0).histogram()[255]
        self.markup_version += 1
        self.error = ""

    def _send_backdrop(self) -> None:
        data, mime = preview_bytes(self.image, max_side=BACKDROP_MAX_SIDE)
        send_image(self, "backdrop", data, mime, width=self.width, height=self.height)

    def _send_mask(self) -> None:
        """Tell the views what is painted (a grey PNG: 255 = painted)."""
        send_image(self, "mask", _png(self._painted), "image/png", width=self.width, height=self.height)

    def _send_markup(self) -> None:
        """Tell the views what is drawn (the RGBA layer as it is)."""
        send_image(self, "markup", _png(self._drawn), "image/png", width=self.width, height=self.height)

    @traitlets.validate("color")
    def _check_color(self, proposal: Any) -> str:
        value = str(proposal["value"])
        if not _HEX_COLOUR.fullmatch(value):
            raise InvalidInputError("color", value, "a colour as #rrggbb, such as #ff2d55")
        return value.lower()

    def _static_text(self) -> str:
        if self.mode == "markup":
            return (f"<nbimages MaskPainter {self.width}x{self.height} in markup mode, "
                    f"{self.markup_share} drawn on; .markup holds the markup>")
        return (f"<nbimages MaskPainter {self.width}x{self.height}, "
                f"{self.painted_share} painted; .mask holds the mask>")


def _png(pil: Any) -> bytes:
    buffer = BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()

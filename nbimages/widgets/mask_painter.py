"""`MaskPainter`: paint where an edit may change the image; get an alpha mask in Python.

The view paints on a canvas of the image's own size (CSS-scaled), so a stroke lands on
the same image pixels at any zoom. After each stroke it sends the painted layer as a PNG
(binary buffer); the kernel keeps it as a boolean array, ``painted``, and builds ``mask``
from it: alpha 0 where painted (edit here), opaque elsewhere, the format ``client.edit``
and ``%%imagine --mask painter`` take.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import InvalidInputError
from ..inputs import to_image
from ._base import NbImagesWidget, static_file
from ._wire import encode_thumbnail, preview_bytes, send_image

if TYPE_CHECKING:
    from ..client import Client
    from ..image import Image
    from ..store import Store

__all__ = ["MaskPainter"]

# The backdrop only has to look right under the mask; the mask itself is full size.
BACKDROP_MAX_SIDE = 1536


class MaskPainter(NbImagesWidget):
    """Paint a mask over ``image``: brush, eraser, undo, invert, clear, overlay opacity.

    ``painted`` is an HxW boolean array (True = edit here); ``mask`` the matching PNG
    `Image`; ``edit(prompt)`` runs the edit and by default puts the original pixels back
    outside the mask.
    """

    _esm = static_file("mask_painter.js")

    width = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    brush_size = traitlets.Int(48, min=1, max=1024).tag(sync=True)  # diameter, in image pixels
    overlay_opacity = traitlets.Float(0.55, min=0.0, max=1.0).tag(sync=True)
    painted_fraction = traitlets.Float(0.0).tag(sync=True)
    mask_version = traitlets.Int(0).tag(sync=True)  # bumps on every mask the kernel receives or sets

    def __init__(self, image: Any, **kwargs: Any) -> None:
        import numpy as np

        self.image: Image = to_image(image, "image")
        if not (self.image.width and self.image.height):
            raise InvalidInputError("image", self.image, "an image whose size can be read (PNG, JPEG, WebP, GIF)")
        self._painted = np.zeros((self.image.height, self.image.width), dtype=bool)
        self._mask: Image | None = None
        super().__init__(**kwargs)
        self.width, self.height = self.image.width, self.image.height
        self.thumbnail = encode_thumbnail(self.image)

    # -- Python API -------------------------------------------------------------------
    @property
    def painted(self) -> Any:
        """A copy of the painted pixels: HxW bool array, True where the edit may paint."""
        return self._painted.copy()

    @property
    def mask(self) -> Image:
        """The mask as a PNG `Image` of the image's size: alpha 0 where painted, 255 elsewhere."""
        if self._mask is None:
            from ..masks import mask_from_array

            self._mask = mask_from_array(self._painted).with_meta(source="MaskPainter")
        return self._mask

    def set_painted(self, painted: Any) -> None:
        """Replace the painting with an HxW array (nonzero = edit here), or with a mask image."""
        import numpy as np

        if hasattr(painted, "shape") or isinstance(painted, (list, tuple)):
            array = np.asarray(painted).astype(bool)
        else:
            from ..masks import mask_alpha

            array = mask_alpha(painted) < 128
        if array.shape != self._painted.shape:
            raise InvalidInputError("painted", f"<array of shape {array.shape}>",
                                    f"an array of shape {self._painted.shape} (the image's height x width)")
        self._set(array)
        self._send_mask()

    def clear(self) -> None:
        """Erase everything painted."""
        import numpy as np

        self.set_painted(np.zeros_like(self._painted))

    def invert(self) -> None:
        """Paint what was not painted, and the other way round."""
        self.set_painted(~self._painted)

    def edit(self, prompt: str, *, client: Client | None = None, paste_back: bool = True,
             store: Store | bool | None = None, **options: Any) -> list[Image]:
        """Edit the painted region with ``client.edit`` (the simulator or OpenAI).

        With ``paste_back`` (the default) the original pixels are put back outside the mask,
        since image models may change them; such results say so in
        ``params["pasted_outside_mask"]``. Results are written to the store (``store=False``
        to skip) and returned, like ``client.edit``'s.
        """
        if not self._painted.any():
            raise InvalidInputError("mask", "nothing painted", "a painted region: paint where the edit goes")
        mask = self.mask
        if client is None:
            from ..client import Client

            with Client() as own:
                results = own.edit(prompt, self.image, mask=mask, **options)
        else:
            results = client.edit(prompt, self.image, mask=mask, **options)
        if paste_back:
            from ..masks import paste_outside_mask

            results = [paste_outside_mask(result, self.image, mask) for result in results]
        if store is not False:
            from ..store import default_store

            target = default_store() if store is None or store is True else store
            results = [target.save(result) for result in results]
        return results

    # -- actions from the view ---------------------------------------------------------
    def _action_hello(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        data, mime = preview_bytes(self.image, max_side=BACKDROP_MAX_SIDE)
        send_image(self, "backdrop", data, mime, width=self.width, height=self.height)
        if self._painted.any():
            self._send_mask()

    def _action_mask(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The view's painted layer (PNG, alpha > 127 = painted) after a stroke."""
        import numpy as np
        from PIL import Image as PIL

        if len(buffers) != 1:
            raise InvalidInputError("mask", f"{len(buffers)} buffers", "one PNG buffer")
        with PIL.open(BytesIO(buffers[0])) as pil:
            if pil.size != (self.width, self.height):
                raise InvalidInputError("mask", f"{pil.size[0]}x{pil.size[1]}", f"{self.width}x{self.height}")
            alpha = np.asarray(pil.convert("RGBA"))[..., 3]
        self._set(alpha > 127)

    # -- internals ---------------------------------------------------------------------
    def _set(self, array: Any) -> None:
        self._painted = array
        self._mask = None
        self.painted_fraction = round(float(array.mean()), 4) if array.size else 0.0
        self.mask_version += 1
        self.error = ""

    def _send_mask(self) -> None:
        """Tell the views what is painted (a PNG whose opaque pixels are the painted ones)."""
        import numpy as np
        from PIL import Image as PIL

        alpha = np.where(self._painted, 255, 0).astype(np.uint8)
        buffer = BytesIO()
        PIL.fromarray(alpha, "L").save(buffer, format="PNG")
        send_image(self, "mask", buffer.getvalue(), "image/png", width=self.width, height=self.height)

    def _static_text(self) -> str:
        return (f"<nbimages MaskPainter {self.width}x{self.height}, "
                f"{self.painted_fraction:.1%} painted; .mask holds the mask>")

"""`ImageActions`: the line under a ``%%imagine`` output, in a notebook with widgets.

While the image is being made it shows a clock that ticks in the browser (no message per
second) and the phase: "waiting for the first image", "partial 1 of 2", "finishing the final
image". Once the image is there it becomes the action bar every image view has: Download the
original (through the kernel), Copy prompt, Open in the painter and Refine in Studio, which
open below. The output above it stays static HTML, readable where widgets are not
(nbconvert, GitHub); this widget adds nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import InvalidInputError
from ._base import NbImagesWidget, static_file

if TYPE_CHECKING:
    from ..image import Image

__all__ = ["ImageActions"]


class ImageActions(NbImagesWidget):
    """The live status, then the actions, of one generation shown by `display.LiveImage`."""

    _esm = static_file("image_actions.js")

    running = traitlets.Bool(False).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)  # seconds when `phase` was set; the view counts on
    phase = traitlets.Unicode("").tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)  # images the actions are for (0 while running)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._images: list[Image] = []

    # -- what LiveImage tells it ---------------------------------------------------------
    def status(self, phase: str, elapsed: float) -> None:
        with self.hold_sync():
            self.phase, self.elapsed, self.running = phase, elapsed, True

    def finished(self, images: Sequence[Image], prompt: str) -> None:
        """The image(s) are shown above: the clock goes, the actions come."""
        self._images = list(images)
        with self.hold_sync():
            self.prompt, self.count, self.running, self.phase = prompt, len(self._images), False, ""

    def stopped(self, kept: Image | None = None) -> None:
        """Failed, interrupted or cancelled (the output above says which): the clock stops;
        a partial image that was kept still has its actions."""
        self.finished([kept] if kept is not None else [], self.prompt)

    # -- the action bar --------------------------------------------------------------------
    def _target(self, content: dict[str, Any]) -> Image:
        index = content.get("index", 0)
        if not isinstance(index, int) or not 0 <= index < len(self._images):
            raise InvalidInputError("index", index, f"an image of this output, 0 to {len(self._images) - 1}"
                                    if self._images else "an image of this output (there is none)")
        return self._images[index]

    def _static_text(self) -> str:
        return ""  # the output above says it all where widgets are not shown

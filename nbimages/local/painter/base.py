"""What the simulator asks of a painter, and what a painter hands back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image as PILImage

TURNS = "; then: "  # joins the prompts of the turns that made an edited image, oldest first


@dataclass(frozen=True)
class Picture:
    """A painted image (RGB, or RGBA) and the painter's own notes about it.

    The simulator keeps ``notes`` with the image, never looks inside, and hands them back
    when that image is edited in a later turn.
    """

    image: PILImage.Image
    notes: object = None


class Painter(Protocol):
    """Makes the simulator's pixels; the protocol around them is the simulator's.

    A painter must be deterministic: the same arguments give the same pixels (the
    simulator caches encoded results on that promise). Images come in decoded, in the
    mode and size the output must have; what comes back keeps that size.
    """

    def render(self, prompt: str, size: tuple[int, int], seed: int, *,
               transparent: bool) -> Picture:
        """A new picture for ``prompt``: RGBA with see-through parts when ``transparent``."""
        ...

    def edit(self, image: PILImage.Image, prompt: str, seed: int, *,
             mask: PILImage.Image | None, references: Sequence[PILImage.Image],
             context: str | None, notes: object) -> Picture:
        """``image`` changed for ``prompt``.

        ``mask`` ("L", 255 where the image may change) confines the change; ``references``
        are the other input images; ``context`` is the revised prompt the image was made
        from (its turns joined by :data:`TURNS`) and ``notes`` what this painter said about it.
        """
        ...

    def variation(self, image: PILImage.Image, size: tuple[int, int], seed: int) -> PILImage.Image:
        """Another take on ``image`` (RGB) at ``size``."""
        ...

    def partial(self, final: PILImage.Image, index: int, total: int) -> PILImage.Image:
        """Partial image ``index`` of ``total`` streamed before ``final``."""
        ...

    def describe(self, images: Sequence[tuple[PILImage.Image, str]], question: str) -> str:
        """A Markdown answer about ``images`` ((image, detail) pairs) for ``question``."""
        ...

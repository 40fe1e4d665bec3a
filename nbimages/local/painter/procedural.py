"""The default painter: landscapes drawn from the prompt's words, captions, pixel analysis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import Picture

if TYPE_CHECKING:
    from PIL import Image as PILImage


@dataclass(frozen=True)
class Notes:
    """What :class:`ProceduralPainter` remembers of a picture: its corner label's text."""

    label: str


class ProceduralPainter:
    """Deterministic pictures related to the prompt (see :mod:`.render`), labelled with it."""

    def render(self, prompt: str, size: tuple[int, int], seed: int, *,
               transparent: bool) -> Picture:
        from .render import render

        return Picture(render(prompt, size, seed, transparent=transparent), Notes(prompt))

    def edit(self, image: PILImage.Image, prompt: str, seed: int, *,
             mask: PILImage.Image | None, references: Sequence[PILImage.Image],
             context: str | None, notes: object) -> Picture:
        from .render import render_edit

        old = notes.label if isinstance(notes, Notes) and notes.label else None
        edited = render_edit(image, prompt, seed, mask=mask, extra=list(references),
                             context=context, old_label=old)
        # an unmasked edit writes its prompt in the corner; a masked one leaves the corner be
        return Picture(edited, Notes(prompt) if mask is None else notes)

    def variation(self, image: PILImage.Image, size: tuple[int, int], seed: int) -> PILImage.Image:
        from .render import render_variation

        return render_variation(image, size, seed)

    def partial(self, final: PILImage.Image, index: int, total: int) -> PILImage.Image:
        from .render import partial

        return partial(final, index, total)

    def describe(self, images: Sequence[tuple[PILImage.Image, str]], question: str) -> str:
        from .vision import describe

        return describe(images, question=question)

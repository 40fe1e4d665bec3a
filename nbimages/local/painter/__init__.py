"""The simulator's pictures, apart from its protocol.

- :class:`Painter`: what the simulator asks for (render, edit, variation, partial,
  describe); :class:`Picture`: an image and the painter's notes about it.
- :class:`ProceduralPainter`: the default, landscapes drawn from the prompt's words
  (:mod:`.render`, :mod:`.landscape`, :mod:`.shapes`, :mod:`.label`, :mod:`.scene`,
  :mod:`.colors`) and answers computed from pixels (:mod:`.vision`).

Importing this package loads no Pillow: the drawing modules import it when they draw.
"""

from __future__ import annotations

from .base import Painter, Picture
from .procedural import Notes, ProceduralPainter

__all__ = ["Notes", "Painter", "Picture", "ProceduralPainter"]

"""Widgets: `Studio` (generate and refine with a live preview), `MaskPainter` (paint an edit
mask) and `Gallery` (browse stored images).

Imported lazily: ``import nbimages`` does not load anywidget or ipywidgets.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = ["Gallery", "MaskPainter", "Studio"]

_WHERE = {"Gallery": "gallery", "MaskPainter": "mask_painter", "Studio": "studio"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .gallery import Gallery
    from .mask_painter import MaskPainter
    from .studio import Studio

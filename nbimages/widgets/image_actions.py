"""`ImageActions`: the line under a ``%%imagine`` output, in a notebook with widgets.

While the image is being made it shows a clock that ticks in the browser (no message per
second) and the phase: "waiting for the first image", "partial 1 of 2", "finishing the final
image". Once the image is there it becomes the action bar every image view has: Download the
original (through the kernel), Copy prompt, Open in the painter and Refine in Studio, which
open below. The output above it stays static HTML, readable where widgets are not
(nbconvert, GitHub); this widget adds nothing there.

There is one per output, and `jupyter execute` and nbconvert save every widget's state in the
notebook, module and stylesheet included (some 40 KB). So this widget's ``_esm`` is a small
loader (js/src/image_actions_loader.js), and the module is the state of one `ModuleHolder`
the lines of a kernel share (the kernel is busy with the cell while its line first shows:
the view cannot ask it then).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets
import traitlets

from ..errors import InvalidInputError
from ._base import MissingFrontEnd, NbImagesWidget, static_file

if TYPE_CHECKING:
    from ..image import Image

__all__ = ["ImageActions"]


class ImageActions(NbImagesWidget):
    """The live status, then the actions, of one generation shown by `display.LiveImage`."""

    _esm = static_file("image_actions_loader.js")
    _css = ""  # sent with the module

    _module = traitlets.Instance(ipywidgets.Widget).tag(sync=True, **ipywidgets.widget_serialization)
    running = traitlets.Bool(False).tag(sync=True)
    elapsed = traitlets.Float(0.0).tag(sync=True)  # seconds when `phase` was set; the view counts on
    phase = traitlets.Unicode("").tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    count = traitlets.Int(0).tag(sync=True)  # images the actions are for (0 while running)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._images: list[Image] = []

    @traitlets.default("_module")
    def _shared_module(self) -> ModuleHolder:  # in the state the view is first made with
        return _holder(type(self).__name__)

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


class ModuleHolder(ipywidgets.Widget):  # type: ignore[misc]
    """Never shown: its state is the lines' module and stylesheet, one copy per kernel."""

    code = traitlets.Unicode("").tag(sync=True)
    css = traitlets.Unicode("").tag(sync=True)

    def __repr__(self) -> str:  # not the module's 40 KB
        return f"<ModuleHolder {self.model_id}>"


_MODULE_FILES = (static_file("image_actions.js"), static_file("widgets.css"))
_holders: dict[tuple[int, ...], ModuleHolder] = {}  # by the files' modification times: a rebuild makes another
_holders_lock = threading.Lock()


def _holder(widget: str) -> ModuleHolder:
    """The holder of the current module; FileNotFoundError with the remedy when it is not built."""
    code, css = _MODULE_FILES
    if isinstance(code, MissingFrontEnd):
        raise code.error(widget)
    if isinstance(css, MissingFrontEnd):
        raise css.error(widget)
    key = (code.stat().st_mtime_ns, css.stat().st_mtime_ns)
    with _holders_lock:
        holder = _holders.get(key)
        if holder is None or holder.comm is None:  # none yet, or closed
            holder = _holders[key] = ModuleHolder(code=code.read_text(encoding="utf-8"),
                                                  css=css.read_text(encoding="utf-8"))
    return holder

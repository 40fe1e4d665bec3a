"""MaskPainter's markup mode in a real JupyterLab: the toolbar's toggle, a box and an arrow
drawn with the mouse in palette colours land on the right image pixels of ``painter.markup``;
undo takes the last mark back; the mask is left alone."""

from __future__ import annotations

from typing import Any

import pytest

from _widgets import canvas_point, hook, stroke

pytestmark = pytest.mark.browser

W, H = 1536, 1024
LINE = 12
BLUE, RED = "#0a84ff", "#ff2d55"

PAINTER = f"""
import numpy as np
from nbimages import Client
from nbimages.widgets import MaskPainter
with Client() as c:
    photo = c.generate("a sunflower field under a blue sky", size="{W}x{H}")[0]
painter = MaskPainter(photo, line_width={LINE})

def ink_at(points):
    rgba = np.asarray(painter.markup.to_pil().convert("RGBA"))
    return [[int(v) for v in rgba[y, x]] for x, y in points]

painter
"""

BOX = ((200, 200), (600, 500))
ARROW = ((1300, 850), (900, 450))  # towards the top left, ending near the box


def swatch(color: str) -> str:
    return f'{hook("swatch")}[data-color="{color}"]'


def test_markup_mode_draws_a_box_and_an_arrow(notebook: Any, shot: Any) -> None:
    with notebook([PAINTER]) as nb:
        page = nb.page
        page.wait_for_selector(hook("mask-painter") + '[data-ready="true"]')
        page.click(hook("mode-markup"))
        assert nb.wait_value("painter.mode == 'markup'") is True
        canvas = page.locator(hook("markup-canvas"))
        canvas.scroll_into_view_if_needed()
        assert page.locator(hook("canvas")).is_hidden() and page.locator(hook("invert")).is_hidden()

        def at(x: float, y: float) -> tuple[float, float]:
            box = canvas.bounding_box()  # screenshots and clicks may scroll the notebook
            assert box is not None
            return canvas_point(box, (W, H), x, y)

        page.click(hook("box"))
        page.click(swatch(BLUE))
        assert nb.wait_value(f"painter.color == '{BLUE}'") is True
        stroke(page, [at(*BOX[0]), at(*BOX[1])])
        assert nb.wait_value("painter.markup_version >= 1", timeout=15) is True

        (left, top), (right, bottom) = BOX
        edges = [(left, 350), (right, 350), (400, top), (400, bottom)]
        inside_and_far = [(400, 350), (left - 3 * LINE, 350), (50, 50), (1500, 1000)]
        assert all(alpha == 255 for *_, alpha in nb.value(f"ink_at({edges})"))
        assert all(alpha == 0 for *_, alpha in nb.value(f"ink_at({inside_and_far})"))
        assert nb.value(f"ink_at([{edges[0]}])")[0][:3] == [10, 132, 255]  # the blue swatch's colour

        page.click(hook("arrow"))
        page.click(swatch(RED))
        assert nb.wait_value(f"painter.color == '{RED}'") is True
        (x0, y0), (x1, y1) = ARROW
        stroke(page, [at(x0, y0), at(x1, y1)])
        assert nb.wait_value("painter.markup_version >= 2", timeout=15) is True
        shaft = [(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t)) for t in (0.1, 0.5, 0.85)]
        head_side = (937, 470)  # 40 px back from the tip and 12 px aside: in the head, beside the shaft
        inked = nb.value(f"ink_at({[*shaft, head_side]})")
        assert all(alpha == 255 for *_, alpha in inked), inked
        assert inked[1][:3] == [255, 45, 85]
        assert nb.value("painter.painted_pixels") == 0  # the mask is another layer
        shot(page.locator(hook("mask-painter")))

        page.click(hook("undo"))
        assert nb.wait_value("painter.markup_version >= 3", timeout=15) is True
        assert all(alpha == 0 for *_, alpha in nb.value(f"ink_at({shaft})"))
        assert all(alpha == 255 for *_, alpha in nb.value(f"ink_at({edges})"))  # the box stays

        page.click(hook("mode-mask"))
        assert nb.wait_value("painter.mode == 'mask'") is True
        assert page.locator(hook("canvas")).is_visible() and page.locator(hook("markup-canvas")).is_hidden()

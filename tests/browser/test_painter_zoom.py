"""MaskPainter's wheel, zoom, pan and redo in a real JupyterLab, at 1400 and 800 px: the plain
wheel scrolls the notebook, Alt+wheel and [ ] size the brush, the logarithmic size slider
reaches small sizes, Ctrl+wheel zooms about the pointer, Space+drag and middle-drag pan,
strokes land on the right image pixels while zoomed and panned, and Redo brings back strokes
and markup shapes."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from test_dark_theme import set_theme

from _widgets import PAINTER_SIZE, canvas_point, hook, painter_cell, stroke

pytestmark = pytest.mark.browser

W, H = PAINTER_SIZE
BRUSH = 40

PAINTER = painter_cell(BRUSH)
FILLER = "print('\\n'.join(f'line {i}' for i in range(60)))"

SCROLLER = """() => { const el = document.querySelector('.jp-WindowedPanel-outer') || document.querySelector('.jp-Notebook');
  return el.scrollTop; }"""


@pytest.mark.parametrize("width", [1400, 800])
def test_painter_wheel_zoom_pan_redo(notebook: Any, shot: Any, width: int) -> None:
    with notebook([FILLER, PAINTER, FILLER]) as nb:
        page = nb.page
        page.set_viewport_size({"width": width, "height": 900})
        root = page.locator(hook("mask-painter"))
        page.wait_for_selector(hook("mask-painter") + '[data-ready="true"]')
        wrap = page.locator(hook("canvas-wrap"))
        canvas = page.locator(hook("canvas"))
        wrap.scroll_into_view_if_needed()

        def at(x: float, y: float) -> tuple[float, float]:
            box = canvas.bounding_box()  # scaled and moved by zoom and pan
            assert box is not None
            return canvas_point(box, (W, H), x, y)

        def middle() -> tuple[float, float]:
            box = wrap.bounding_box()
            assert box is not None
            return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

        # The plain wheel over the image scrolls the notebook and leaves the brush alone.
        page.mouse.move(*middle())
        top = page.evaluate(SCROLLER)
        page.mouse.wheel(0, 200)
        page.wait_for_function(f"() => ({SCROLLER})() > {top}")
        assert nb.value("painter.brush_size") == BRUSH
        wrap.scroll_into_view_if_needed()

        # Alt+wheel and ] grow the brush; the slider reaches a few pixels.
        page.mouse.move(*middle())
        page.keyboard.down("Alt")
        page.mouse.wheel(0, -100)
        page.keyboard.up("Alt")
        grown = nb.wait_value(f"painter.brush_size > {BRUSH} and painter.brush_size")
        root.focus()
        page.keyboard.press("[")
        nb.wait_value(f"painter.brush_size < {grown}")
        page.locator(hook("brush-size")).fill("150")
        assert nb.wait_value("painter.brush_size <= 4 and painter.brush_size") >= 1
        page.locator(hook("brush-size")).fill("600")
        nb.wait_value(f"painter.brush_size == {BRUSH} or painter.brush_size > 20")
        nb.execute(f"painter.brush_size = {BRUSH}")

        # Ctrl+wheel zooms about the pointer: the image point under it stays under it.
        target = (1000, 400)
        page.mouse.move(*at(*target))
        before = at(*target)
        page.keyboard.down("Control")
        page.mouse.wheel(0, -400)
        page.keyboard.up("Control")
        page.wait_for_function("() => Number(document.querySelector('[data-nbimages=\"mask-painter\"]').dataset.zoom) > 1.5")
        after = at(*target)
        assert abs(after[0] - before[0]) < 3 and abs(after[1] - before[1]) < 3, (before, after)
        zoom = float(root.get_attribute("data-zoom") or 0)
        assert zoom > 1.5

        # A stroke while zoomed lands on the image pixels under the pointer.
        stroke(page, [at(950, 400), at(1050, 400)])
        nb.wait_value("painter.mask_version >= 1", timeout=15)
        assert nb.value("alpha_at([(950, 400), (1000, 400), (1050, 400), (1000, 460), (700, 400)])") == [0, 0, 0, 255, 255]
        shot(page.locator(hook("mask-painter")), f"_{width}_zoomed")

        # Space+drag pans (no paint); so does a middle-button drag.
        box_before = canvas.bounding_box()
        start = middle()
        page.keyboard.down(" ")
        stroke(page, [start, (start[0] + 120, start[1] + 60)])
        page.keyboard.up(" ")
        box_after = canvas.bounding_box()
        assert box_before is not None and box_after is not None
        assert abs(box_after["x"] - box_before["x"] - 120) < 3 and abs(box_after["y"] - box_before["y"] - 60) < 3
        page.mouse.move(*start)
        page.mouse.down(button="middle")
        page.mouse.move(start[0] - 80, start[1] - 40, steps=5)
        page.mouse.up(button="middle")
        box_middle = canvas.bounding_box()
        assert box_middle is not None and abs(box_middle["x"] - box_after["x"] + 80) < 3
        page.wait_for_timeout(300)
        assert nb.value("painter.mask_version") == 1, "panning painted"
        # Still exact after panning.
        stroke(page, [at(900, 600), at(1000, 600)])
        nb.wait_value("painter.mask_version >= 2", timeout=15)
        assert nb.value("alpha_at([(900, 600), (1000, 600), (950, 700)])") == [0, 0, 255]

        # Undo, then Redo (button and Ctrl+Y).
        page.click(hook("undo"))
        nb.wait_value("painter.mask_version >= 3 and alpha_at([(950, 600)]) == [255]", timeout=15)
        page.click(hook("redo"))
        nb.wait_value("painter.mask_version >= 4 and alpha_at([(950, 600)]) == [0]", timeout=15)
        page.click(hook("undo"))
        nb.wait_value("painter.mask_version >= 5", timeout=15)
        page.keyboard.press("Control+y")
        nb.wait_value("painter.mask_version >= 6 and alpha_at([(950, 600)]) == [0]", timeout=15)
        expect(page.locator(hook("redo"))).to_be_disabled()

        # The zoom buttons: in, out, back to the whole image.
        page.click(hook("zoom-fit"))
        expect(root).to_have_attribute("data-zoom", "1.000")
        page.click(hook("zoom-in"))
        expect(root).to_have_attribute("data-zoom", "1.500")
        page.click(hook("zoom-out"))
        expect(root).to_have_attribute("data-zoom", "1.000")
        fitted, shown = canvas.bounding_box(), wrap.bounding_box()
        assert fitted is not None and shown is not None and abs(fitted["width"] - shown["width"]) < 3

        # Markup shapes undo and redo the same way.
        page.click(hook("mode-markup"))
        page.click(hook("box"))
        marks = page.locator(hook("markup-canvas"))

        def mark_at(x: float, y: float) -> tuple[float, float]:
            box = marks.bounding_box()
            assert box is not None
            return canvas_point(box, (W, H), x, y)

        stroke(page, [mark_at(200, 200), mark_at(600, 500)])
        nb.wait_value("painter.markup_pixels > 0", timeout=15)
        page.click(hook("undo"))
        nb.wait_value("painter.markup_pixels == 0", timeout=15)
        page.click(hook("redo"))
        nb.wait_value("painter.markup_pixels > 0", timeout=15)
        if width == 800:
            try:
                set_theme(page, "JupyterLab Dark", light=False)
                page.wait_for_timeout(300)
                shot(page.locator(hook("mask-painter")), f"_{width}_dark")
            finally:
                set_theme(page, "JupyterLab Light", light=True)
        else:
            shot(page.locator(hook("mask-painter")), f"_{width}_markup")

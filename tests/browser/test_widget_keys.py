"""Keys pressed in a widget stay in the widget, in JupyterLab and in Notebook 7: painting
focuses the MaskPainter, whose B, E, Ctrl+Z and [ ] act on it and never insert or delete
notebook cells; Enter in the Studio's boxes makes a new line; Escape in the Gallery's
enlarged view closes it and leaves the notebook's mode alone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from _widgets import canvas_point, hook, slow_studio_cell, stroke

pytestmark = pytest.mark.browser

W, H = 1024, 768

PAINTER = f"""
from nbimages import Client
from nbimages.widgets import MaskPainter
with Client() as c:
    photo = c.generate("a sunflower field under a blue sky", size="1024x1024")[0]
painter = MaskPainter(photo.to_pil().resize(({W}, {H})), brush_size=40)
painter
"""

CELL_COUNT = "(path) => window.__nbiPanel(path).content.widgets.length"


def cells(nb: Any) -> int:
    return int(nb.page.evaluate(CELL_COUNT, nb.path))


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_painter_keeps_its_keys(notebook: Any, shot: Any, ui: str) -> None:
    with notebook([PAINTER, "1 + 1"], ui=ui) as nb:
        page = nb.page
        root = page.locator(hook("mask-painter"))
        page.wait_for_selector(hook("mask-painter") + '[data-ready="true"]')
        assert root.get_attribute("data-lm-suppress-shortcuts") == "true"
        assert "lm-suppress-shortcuts" in (root.get_attribute("class") or "")
        canvas = page.locator(hook("canvas"))
        canvas.scroll_into_view_if_needed()

        def at(x: float, y: float) -> tuple[float, float]:
            box = canvas.bounding_box()
            assert box is not None
            return canvas_point(box, (W, H), x, y)

        page.locator(".jp-Notebook").first.press("Escape")  # the notebook in command mode, as a user leaves it
        stroke(page, [at(200, 300), at(600, 300)])
        nb.wait_value("painter.mask_version >= 1", timeout=15)
        assert page.evaluate("() => document.activeElement?.dataset?.nbimages") == "mask-painter"

        page.keyboard.press("e")
        expect(root).to_have_attribute("data-tool", "eraser")
        page.keyboard.press("b")
        expect(root).to_have_attribute("data-tool", "brush")
        page.keyboard.press("a")  # a notebook shortcut (insert above) the painter does not use in mask mode
        page.keyboard.press("Control+z")
        nb.wait_value("painter.mask_version >= 2 and painter.painted_pixels == 0", timeout=15)
        page.keyboard.press("Control+Shift+z")
        nb.wait_value("painter.mask_version >= 3 and painter.painted_pixels > 0", timeout=15)
        page.keyboard.press("]")
        nb.wait_value("painter.brush_size > 40")
        page.keyboard.press("d")
        page.keyboard.press("d")  # D, D deletes a cell in command mode
        page.wait_for_timeout(300)
        assert cells(nb) == 2, "a key pressed in the painter reached the notebook"
        shot(page, f"_{ui}")


# A slow simulator of its own, so that Escape surely lands while the run streams.
STUDIO = slow_studio_cell(partial_interval=0.8)


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_studio_enter_ctrl_enter_escape(notebook: Any, shot: Any, ui: str) -> None:
    with notebook([STUDIO, "1 + 1"], ui=ui) as nb:
        page = nb.page
        prompt, generate = page.locator(hook("prompt")), page.locator(hook("generate"))
        expect(page.locator(hook("generate-hint"))).to_be_visible()
        expect(page.locator(hook("generate-hint"))).to_contain_text("Ctrl+Enter to generate · Esc to cancel")
        expect(generate).to_be_disabled()  # nothing to generate yet
        expect(page.locator(hook("refine"))).to_be_disabled()

        prompt.click()
        page.keyboard.type("a lighthouse on a cliff")
        expect(generate).to_be_enabled()
        page.keyboard.press("Enter")
        page.keyboard.type("at dusk")
        assert prompt.input_value() == "a lighthouse on a cliff\nat dusk"
        assert nb.value("studio.busy") is False, "Enter started a generation"
        shot(page, f"_{ui}_typed")

        page.keyboard.press("Control+Enter")
        nb.wait_value("studio.busy")
        page.keyboard.press("Escape")
        expect(page.locator(hook("status"))).to_contain_text("Cancelled")
        assert nb.value("studio.busy") is False
        assert cells(nb) == 2, "a key pressed in the Studio reached the notebook"

        page.keyboard.press("Control+Enter")
        nb.wait_value("studio.image is not None and not studio.busy", timeout=30)
        followup, refine = page.locator(hook("followup")), page.locator(hook("refine"))
        expect(refine).to_be_disabled()  # an image, but no instruction yet
        followup.click()
        page.keyboard.type("add a boat")
        page.keyboard.press("Enter")
        page.keyboard.type("and a moon")
        assert followup.input_value() == "add a boat\nand a moon"
        expect(refine).to_be_enabled()
        page.keyboard.press("Control+Enter")
        nb.wait_value("len(studio.conversation.turns) == 2 and not studio.busy", timeout=30)
        page.keyboard.press("Backspace")  # still the Studio's: no cell deleted
        assert cells(nb) == 2
        shot(page, f"_{ui}_refined")

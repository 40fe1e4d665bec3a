"""``painter.edit()`` in a real JupyterLab, at 1400 and 800 px: its cell shows the results as
thumbnails (not ``[<nbimages.Image ...>]``), the painter shows the result beside its input,
and "Continue from the result" makes the painter paint on the edited image."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from _widgets import hook

pytestmark = pytest.mark.browser

PAINTER = """
import nbimages
from nbimages import Client
from nbimages.widgets import MaskPainter
with Client() as c:
    photo = c.generate("a sunflower field under a blue sky", size="1024x1024")[0]
painter = MaskPainter(photo)
painter.set_painted(nbimages.mask_from_box(photo, (600, 100, 900, 400)))
painter
"""
EDIT = "painter.edit('add a red balloon in the sky', quality='low')"


@pytest.mark.parametrize("width", [1400, 800])
def test_edit_result_beside_the_input_then_continue(notebook: Any, shot: Any, width: int) -> None:
    with notebook([PAINTER, EDIT]) as nb:
        page = nb.page
        page.set_viewport_size({"width": width, "height": 1000})
        result = page.locator(hook("result"))
        expect(result).to_be_visible(timeout=20_000)
        expect(page.locator(hook("result-after"))).to_have_js_property("complete", True)
        assert page.locator(hook("result-after")).evaluate("(img) => img.naturalWidth") > 0
        # The edit cell's output: a thumbnail and where it was saved, not a list's repr.
        output = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
        expect(output.locator("img")).to_have_count(1)
        assert "nbimages.Image" not in output.inner_text() and "saved as" in output.inner_text()
        before, after = page.locator(hook("result-before")).bounding_box(), page.locator(hook("result-after")).bounding_box()
        assert before is not None and after is not None
        assert abs(before["y"] - after["y"]) < 2 and after["x"] > before["x"] + before["width"] - 1, "not side by side"
        result.scroll_into_view_if_needed()
        shot(page, f"_{width}_compare")

        root = page.locator(hook("mask-painter"))
        backdrops = int(root.get_attribute("data-backdrop-version") or 0)
        page.click(hook("continue"))
        expect(result).to_be_hidden()
        page.wait_for_function(f"() => Number(document.querySelector('[data-nbimages=\"mask-painter\"]').dataset.backdropVersion) > {backdrops}")
        assert nb.wait_value("painter.image is painter.results[0] and painter.painted_pixels == 0") is True
        expect(page.locator(hook("painted"))).to_have_text("0.0% painted")
        shot(page.locator(hook("mask-painter")), f"_{width}_continued")

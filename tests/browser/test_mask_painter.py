"""MaskPainter in a real JupyterLab: mouse strokes on a CSS-scaled canvas land on the right
image pixels of ``painter.mask``; eraser, undo, invert, clear and the overlay slider."""

from __future__ import annotations

from typing import Any

import pytest

from _widgets import PAINTER_SIZE, canvas_point, hook, painter_cell, stroke

pytestmark = pytest.mark.browser

W, H = PAINTER_SIZE
BRUSH = 60

PAINTER = painter_cell(BRUSH)


def test_mask_painter_strokes_undo_invert(notebook: Any, shot: Any) -> None:
    with notebook([PAINTER]) as nb:
        page = nb.page
        canvas = page.locator(hook("canvas"))
        page.wait_for_selector(hook("mask-painter") + '[data-ready="true"]')
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None
        scale = box["width"] / W
        assert abs(scale - 1) > 0.1, f"the canvas is shown at its own size ({box}); the test needs a scale"
        assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box
        version = 0

        def at(x: float, y: float) -> tuple[float, float]:
            now = canvas.bounding_box()  # screenshots and clicks may scroll the notebook
            assert now is not None
            return canvas_point(now, (W, H), x, y)

        def painted(expected_versions: int) -> None:
            nb.wait_value(f"painter.mask_version >= {expected_versions}", timeout=15)

        # A horizontal stroke through the middle, drawn in page pixels at the shown scale.
        stroke(page, [at(400, 512), at(800, 512), at(1100, 512)])
        version += 1
        painted(version)
        under = [(400, 512), (800, 512), (1100, 512), (800, 512 - BRUSH // 2 + 6), (800, 512 + BRUSH // 2 - 6)]
        far = [(800, 512 - BRUSH), (800, 512 + BRUSH), (400 - BRUSH, 512), (1100 + BRUSH, 512), (50, 50), (1500, 1000)]
        assert nb.value(f"alpha_at({under})") == [0] * len(under)
        assert nb.value(f"alpha_at({far})") == [255] * len(far)
        mask = nb.value("dict(size=[painter.mask.width, painter.mask.height], fraction=painter.painted_fraction)")
        assert mask["size"] == [W, H]
        expected = (700 * BRUSH + 3.1416 * (BRUSH / 2) ** 2) / (W * H)  # a capsule
        assert abs(mask["fraction"] - expected) < 0.25 * expected, (mask, expected)
        shot(page.locator(hook("mask-painter")))

        page.click(hook("undo"))
        version += 1
        painted(version)
        assert nb.value("bool(painter.painted.any())") is False

        # Paint a vertical stroke, erase across its middle, then invert.
        stroke(page, [at(768, 200), at(768, 824)])
        page.click(hook("eraser"))
        stroke(page, [at(600, 512), at(936, 512)])
        version += 2
        painted(version)
        assert nb.value("alpha_at([(768, 300), (768, 700), (768, 512), (300, 512)])") == [0, 0, 255, 255]
        page.click(hook("invert"))
        version += 1
        painted(version)
        assert nb.value("alpha_at([(768, 300), (768, 700), (768, 512), (300, 512)])") == [255, 255, 0, 0]
        shot(page.locator(hook("mask-painter")), "_inverted")

        page.click(hook("clear"))
        version += 1
        painted(version)
        assert nb.value("bool(painter.painted.any())") is False

        page.locator(hook("opacity")).fill("30")
        assert nb.wait_value("abs(painter.overlay_opacity - 0.3) < 1e-9") is True

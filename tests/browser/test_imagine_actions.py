"""The line under a ``%%imagine`` output, in a real JupyterLab and Notebook 7: its clock ticks
while a partial image is on screen and says the final image is coming; then it is the action
bar: Download saves the stored file (sent by the kernel), Copy prompt copies the prompt, Open
in the painter and Refine in Studio open those widgets right below, bound to a name in the
kernel, and Close takes them away."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_action_bar import download
from test_dark_theme import set_theme

from _widgets import hook

pytestmark = pytest.mark.browser

PROMPT = "a lighthouse on a cliff at dusk"
SETUP = """
import os
os.environ["NBIMAGES_SIM_PARTIAL_INTERVAL"] = "1.2"  # a partial, then 1.2 s before the final image
%load_ext nbimages
"""
CELL = f"""%%imagine --fresh --partial-images 1 --size 1024x1024
{PROMPT}"""

# Every 100 ms: the clock's text, the phase, and whether the output above shows a picture.
WATCH_CLOCK = """() => {
  window.__nbiClock = [];
  window.__nbiClockTimer = setInterval(() => {
    const clock = document.querySelector('[data-nbimages="clock"]');
    if (!clock) return;
    const cell = clock.closest('.jp-Cell, .jp-CodeCell') || document;
    window.__nbiClock.push({ clock: clock.textContent, visible: clock.offsetParent !== null,
      phase: document.querySelector('[data-nbimages="phase"]').textContent,
      picture: !!cell.querySelector('.jp-OutputArea-output img') });
  }, 100);
}"""


def run_cell_without_waiting(nb: Any) -> None:
    nb._js("""
        const panel = window.__nbiPanel(path);
        window.jupyterapp.shell.activateById(panel.id);
        window.jupyterapp.commands.execute('notebook:run-all-cells');
    """)


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_the_line_under_imagine_ticks_then_acts(notebook: Any, shot: Any, tmp_path: Path, ui: str) -> None:
    with notebook([SETUP, CELL], ui=ui, run=False) as nb:
        page = nb.page
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        page.evaluate(WATCH_CLOCK)
        run_cell_without_waiting(nb)
        line = page.locator(hook("image-actions"))
        expect(line.locator(hook("phase"))).to_have_text("partial 1 of 1 · finishing the final image…", timeout=30_000)
        shot(page.locator(".jp-Cell").nth(1) if ui == "lab" else line, f"_{ui}_running")
        expect(line.locator(hook("download"))).to_be_visible(timeout=30_000)
        samples = page.evaluate("() => { clearInterval(window.__nbiClockTimer); return window.__nbiClock; }")

        # While the partial was on screen the clock kept moving, and the line said what comes next.
        waiting = [s for s in samples if s["visible"] and s["picture"]]
        assert len({s["clock"] for s in waiting}) >= 5, samples
        assert any(s["phase"] == "partial 1 of 1 · finishing the final image…" for s in waiting), samples
        expect(line.locator(hook("clock"))).to_be_hidden()
        shot(page.locator(".jp-Cell").nth(1) if ui == "lab" else line, f"_{ui}_done")

        stored = nb.value("str(nbimages.current_conversation().image.path)", setup="import nbimages")
        name, data = download(page, line.locator(hook("download")), tmp_path)
        assert name == Path(stored).name and data == Path(stored).read_bytes()
        line.locator(hook("copy-prompt")).click()
        expect(line.locator(hook("action-feedback"))).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == PROMPT

        line.locator(hook("open-in-painter")).click()
        painter = line.locator(hook("mask-painter"))
        expect(painter.locator(f'{hook("mask-painter")}[data-ready="true"]').or_(
            line.locator(f'{hook("mask-painter")}[data-ready="true"]'))).to_be_visible(timeout=20_000)
        expect(line.locator(hook("opened-note"))).to_contain_text('painter.edit("what to change")')
        assert nb.value("painter.image.path == nbimages.current_conversation().image.path") is True
        box = painter.bounding_box()
        assert box is not None and box["width"] > 300
        shot(line, f"_{ui}_painter")

        line.locator(hook("refine-in-studio")).click()
        studio = line.locator(hook("studio"))
        expect(studio).to_be_visible(timeout=20_000)
        expect(painter).to_have_count(0)  # one opened widget at a time: the Studio took its place
        assert nb.wait_value("studio.image is nbimages.current_conversation().image") is True
        expect(studio.locator(f'{hook("preview")}:not([data-seq="0"])').or_(
            studio.locator(f'{hook("preview-frame")}[data-state="thumbnail"]'))).to_be_visible(timeout=20_000)
        shot(line, f"_{ui}_studio")

        line.locator(hook("close-opened")).first.click()  # the line's own (the Studio has one too)
        expect(line.locator(hook("opened")).first).to_be_hidden()
        assert nb.value("type(studio).__name__") == "Studio"  # still there for Python


def test_the_line_under_imagine_in_the_dark_at_800_px(notebook: Any, shot: Any) -> None:
    with notebook([SETUP.replace("1.2", "0.0"), CELL]) as nb:
        page = nb.page
        page.set_viewport_size({"width": 800, "height": 900})
        line = page.locator(hook("image-actions"))
        expect(line.locator(hook("download"))).to_be_visible(timeout=30_000)
        try:
            set_theme(page, "JupyterLab Dark", light=False)
            page.wait_for_timeout(300)  # theme CSS applied
            for button in ("download", "copy-prompt", "open-in-painter", "refine-in-studio"):
                clipped = line.locator(hook(button)).evaluate("(b) => b.scrollWidth > b.clientWidth + 1")
                assert not clipped, button
            shot(page.locator(".jp-Cell").nth(1), "_800_dark")
        finally:
            set_theme(page, "JupyterLab Light", light=True)  # the setting is shared by later tests

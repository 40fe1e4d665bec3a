"""The widgets follow JupyterLab's dark theme: their text stays readable (WCAG AA contrast)."""

from __future__ import annotations

from typing import Any

import pytest

from _widgets import generate_in_kernel, hook

pytestmark = pytest.mark.browser

STUDIO = "from nbimages.widgets import Studio\nstudio = Studio()\nstudio"

# Contrast ratio between an element's text colour (its alpha applied) and the first opaque background behind it.
CONTRAST = """(el) => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.9)) bg = c;
  }
  bg = bg || [255, 255, 255];
  const [r, g, b, alpha = 1] = rgb(getComputedStyle(el).color);  // translucent text: blended with what is behind it
  const fg = [r, g, b].map((c, i) => alpha * c + (1 - alpha) * bg[i]);
  const [x, y] = [lum(fg), lum(bg)];
  return { ratio: (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05), color: getComputedStyle(el).color, bg: String(bg) };
}"""

THEMED = ["prompt", "generate", "status", "followup", "refine", "caption"]


def set_theme(page: Any, name: str, light: bool) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", name)
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === String(light)", arg=light)


def test_studio_readable_in_dark_theme(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        generate_in_kernel(nb, "studio.generate('a cozy red cabin by a lake under snowy mountains')")
        try:
            set_theme(page, "JupyterLab Dark", light=False)
            page.wait_for_timeout(300)  # theme CSS applied
            root_bg = page.locator(hook("studio")).evaluate(CONTRAST)["bg"]
            assert sum(map(float, root_bg.split(",")[:3])) < 3 * 128, f"the Studio stays light: {root_bg}"
            low = {}
            for name in THEMED:
                measured = page.locator(hook(name)).first.evaluate(CONTRAST)
                if measured["ratio"] < 4.5:
                    low[name] = measured
            shot(page.locator(hook("studio")))
            assert not low, f"text below 4.5:1 contrast in the dark theme: {low}"
        finally:
            set_theme(page, "JupyterLab Light", light=True)  # the setting is shared by later tests


GALLERY = """
import tempfile
from nbimages import Client
from nbimages.store import Store
from nbimages.widgets import Gallery
store = Store(tempfile.mkdtemp())
with Client() as c:
    for prompt in ["a red apple on a wooden table", "a blue whale in the deep ocean"]:
        store.save(c.generate(prompt, size="1024x1024", quality="low")[0])
gallery = Gallery(store=store)
gallery
"""

GALLERY_THEMED = ["search", "count", "gallery-item-prompt", "gallery-item-meta", "enlarged-prompt", "enlarged-meta"]


def test_gallery_readable_in_dark_theme(notebook: Any, shot: Any) -> None:
    with notebook([GALLERY]) as nb:
        page = nb.page
        page.locator(hook("gallery-item")).first.click()
        page.locator(hook("enlarged-img") + '[data-full="true"]').wait_for()
        try:
            set_theme(page, "JupyterLab Dark", light=False)
            page.wait_for_timeout(300)
            low = {}
            for name in GALLERY_THEMED:
                measured = page.locator(hook(name)).first.evaluate(CONTRAST)
                print(f"{name}: {measured['ratio']:.2f}")
                if measured["ratio"] < 4.5:
                    low[name] = measured
            shot(page.locator(hook("gallery")))
            page.keyboard.press("Escape")
            shot(page.locator(hook("gallery")), "_grid")
            assert not low, f"text below 4.5:1 contrast in the dark theme: {low}"
        finally:
            set_theme(page, "JupyterLab Light", light=True)

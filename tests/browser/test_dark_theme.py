"""The widgets follow JupyterLab's dark theme: their text stays readable (WCAG AA contrast)."""

from __future__ import annotations

from typing import Any

import pytest
from _widgets import hook, wait_final, watch_preview

pytestmark = pytest.mark.browser

STUDIO = "from nbimages.widgets import Studio\nstudio = Studio()\nstudio"

# Contrast ratio between an element's text colour and the first opaque background behind it.
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
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)];
  return { ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), color: getComputedStyle(el).color, bg: String(bg) };
}"""

THEMED = ["prompt", "generate", "status", "followup", "refine", "caption"]


def set_theme(page: Any, name: str, light: bool) -> None:
    page.evaluate("(theme) => window.jupyterapp.commands.execute('apputils:change-theme', { theme })", name)
    page.wait_for_function("(light) => document.body.dataset.jpThemeLight === String(light)", arg=light)


def test_studio_readable_in_dark_theme(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        watch_preview(page)
        nb.execute("studio.generate('a cozy red cabin by a lake under snowy mountains')")
        wait_final(page)
        nb.wait_value("not studio.busy")
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

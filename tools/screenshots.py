"""Make the README's screenshots in a real JupyterLab and Chromium, offline.

    python tools/screenshots.py [--out docs/images]

docs/images/studio.png        the Studio after a generation and one refinement
docs/images/imagine-cell.png  a `%load_ext nbimages` + `%%imagine` cell, its output and the action bar

Uses the browser tests' harness (tests/browser/_lab.py): its own JupyterLab on 127.0.0.1,
an empty store, the built-in simulator. Needs /usr/bin/chromium (`make browser-deps`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from _lab import chromium, open_notebook, start_lab  # noqa: E402
from _widgets import hook, wait_final, watch_preview  # noqa: E402

# Prompts the offline simulator draws well (it reads objects, colours and moods from them).
STUDIO_PROMPT = "a cozy red cabin by a lake under snowy mountains"
STUDIO_FOLLOWUP = "add a small boat on the lake and a crescent moon"
IMAGINE_CELL = "%%imagine --size 1536x1024\na field of sunflowers with a red barn under white clouds"


# JupyterLab's own chrome around the active cell (its toolbar, the blue bar) is not the subject.
HIDE_CELL_CHROME = """
.jp-cell-toolbar { display: none !important; }
.jp-Notebook .jp-Cell .jp-Collapser { background: transparent !important; }
.jp-Notebook .jp-Cell .jp-InputPrompt, .jp-Notebook .jp-Cell .jp-OutputPrompt { opacity: 1 !important; }
"""


def quiet(page: Any) -> None:
    """No focus ring, hover state, caret or cell toolbar in the picture."""
    page.add_style_tag(content=HIDE_CELL_CHROME)
    page.mouse.move(0, 0)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.wait_for_timeout(300)


def studio(context: Any, server: Any, out: Path) -> Path:
    cells = ["from nbimages.widgets import Studio\nstudio = Studio()\nstudio.partial_images = 2\nstudio"]
    with open_notebook(context, server, "studio.ipynb", cells) as nb:
        page = nb.page
        watch_preview(page)
        page.fill(hook("prompt"), STUDIO_PROMPT)
        page.click(hook("generate"))
        wait_final(page)
        nb.wait_value("not studio.busy")
        page.fill(hook("followup"), STUDIO_FOLLOWUP)
        page.click(hook("refine"))
        wait_final(page, count=2)
        nb.wait_value("not studio.busy")
        page.wait_for_function(f"() => document.querySelectorAll('{hook('history-item')} img').length === 2")
        page.fill(hook("prompt"), STUDIO_PROMPT)  # what produced the first picture, for the reader
        quiet(page)
        path = out / "studio.png"
        page.locator(hook("studio")).screenshot(path=str(path))
        return path


def imagine_cell(context: Any, server: Any, out: Path) -> Path:
    cells = ["%load_ext nbimages", IMAGINE_CELL]
    with open_notebook(context, server, "imagine.ipynb", cells) as nb:
        page = nb.page
        both = page.locator(".jp-Notebook .jp-Cell")
        cell = both.nth(1)
        cell.locator(".jp-OutputArea-output img").first.wait_for()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-Cell')][1].querySelector('.jp-OutputArea-output img').naturalWidth > 0")
        cell.locator(hook("download")).wait_for()  # the action bar under the output
        quiet(page)
        first, second = both.nth(0).bounding_box(), cell.bounding_box()
        assert first is not None and second is not None
        path = out / "imagine-cell.png"
        page.screenshot(path=str(path), clip={
            "x": first["x"], "y": first["y"], "width": max(first["width"], second["width"]),
            "height": second["y"] + second["height"] - first["y"]})
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--scale", type=float, default=1.5, help="device pixel ratio of the pictures")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbimages-shots-") as tmp:
        # The store inside the notebook folder: outputs name it by a short relative link.
        server = start_lab(Path(tmp), extra_env={"NBIMAGES_HOME": str(Path(tmp) / "root")})
        try:
            with chromium(viewport={"width": 1100, "height": 1100}, device_scale_factor=args.scale) as (_, context):
                for make in (studio, imagine_cell):
                    print(make(context, server, args.out))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

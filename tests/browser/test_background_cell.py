"""A ``%%imagine --no-wait`` cell in a real JupyterLab and Notebook 7: its placeholder is replaced in place by
the partial images and then the final image while the next cell runs, and nothing of it lands
in that other cell."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

SETUP = """
import os
os.environ["NBIMAGES_SIM_PARTIAL_INTERVAL"] = "1.0"  # partials a second apart, as the API sends them
%load_ext nbimages
"""
JOB = """
%%imagine --no-wait --fresh --partial-images 2 -o boat
a red fishing boat in a small harbour at dawn
"""
OTHER = """
import time
for step in range(4):
    time.sleep(1)
    print("still working", step)
"""

# Every change of the job cell's output (its HTML outputs but the simulator's notice, a note of
# its own), with whether the other cell was running then.
WATCH = """([path]) => {
  const panel = window.__nbiPanel(path);
  const [, job, other] = panel.content.widgets;
  const area = job.node.querySelector('.jp-OutputArea');
  const prompt = (cell) => cell.node.querySelector('.jp-InputPrompt').innerText;
  window.__nbiSeen = [];
  const note = () => {
    const img = area.querySelector('img');
    window.__nbiSeen.push({
      outputs: [...area.querySelectorAll('.jp-OutputArea-output[data-mime-type="text/html"]')]
        .filter((o) => !o.innerText.includes('built-in offline simulator')).length,
      text: area.innerText,
      img: img ? img.src.length : 0,
      // Cells run in order: the job cell has its number and the other one still shows [*].
      otherRunning: !prompt(job).includes('*') && prompt(other).includes('*'),
    });
  };
  new MutationObserver(note).observe(area, { childList: true, subtree: true, characterData: true, attributes: true });
}"""

PARTIAL_WHILE_OTHER_RUNS = """([path]) => {
  const seen = window.__nbiSeen || [];
  return seen.some((s) => s.otherRunning && s.text.includes('partial') && s.img > 0);
}"""

FINAL_SHOWN = """([path]) => {
  const panel = window.__nbiPanel(path);
  const area = panel.content.widgets[1].node.querySelector('.jp-OutputArea');
  const img = area.querySelector('img');
  return area.innerText.includes('saved as') && !!img && img.complete && img.naturalWidth > 0;
}"""


def cell_texts(page: Any, path: str) -> list[str]:
    return page.evaluate("""([path]) => window.__nbiPanel(path).content.widgets.map(
        (c) => c.node.querySelector('.jp-OutputArea') ? c.node.querySelector('.jp-OutputArea').innerText : '')""",
                         [path])


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_placeholder_replaced_in_place_while_another_cell_runs(notebook: Any, shot: Any, ui: str) -> None:
    with notebook([SETUP, JOB, OTHER], run=False, ui=ui) as nb:
        page = nb.page
        page.evaluate(WATCH, [nb.path])
        nb._js("""
            const panel = window.__nbiPanel(path);
            window.jupyterapp.shell.activateById(panel.id);
            window.jupyterapp.commands.execute('notebook:run-all-cells');  // not awaited: it ends with the last cell
        """)
        page.wait_for_function(PARTIAL_WHILE_OTHER_RUNS, arg=[nb.path], timeout=30_000, polling=50)
        shot(page, "_partial")
        page.wait_for_function(FINAL_SHOWN, arg=[nb.path], timeout=30_000, polling=100)
        shot(page, "_final")

        seen = page.evaluate("() => window.__nbiSeen")
        # 0 before the placeholder (the simulator's notice may come first), then always 1.
        assert seen and {s["outputs"] for s in seen} <= {0, 1}, "the job cell grew a second output"
        assert seen[-1]["outputs"] == 1
        texts = [s["text"] for s in seen]
        first_partial = next(i for i, t in enumerate(texts) if "partial" in t)
        assert any("starting" in t or "sending the request" in t for t in texts[:first_partial])
        assert any(s["otherRunning"] for s in seen[first_partial:]), "nothing changed while the other cell ran"
        page.wait_for_function("([path]) => window.__nbiPanel(path).content.widgets[2].node.innerText"
                               ".includes('still working 3')", arg=[nb.path], timeout=30_000)
        _, job_text, other_text = cell_texts(page, nb.path)
        assert "saved as" in job_text and "still working" not in job_text
        stderr = page.evaluate("""([path]) => window.__nbiPanel(path).content.widgets[1].node
            .querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length""", [nb.path])
        assert "built-in offline simulator" in job_text and stderr == 0  # the notice: a quiet note, not a red box
        assert "still working 3" in other_text and "partial" not in other_text and "saved as" not in other_text
        assert nb.value("boat.width") == 1024

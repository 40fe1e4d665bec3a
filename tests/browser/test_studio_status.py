"""The Studio never shows stale information, in a real JupyterLab: a new run clears the old
caption and relabels the old image ("Refining…") at once, before its first partial; after a
click on a history item the status line describes that image (its model and size), not the
time of another run."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from _widgets import generate_in_kernel, hook, slow_studio_cell, wait_final

pytestmark = pytest.mark.browser

STUDIO = slow_studio_cell(partial_interval=1.0)

# When the badge and the caption changed, and when the first partial of the next run showed.
WATCH_STALE = """() => {
  const q = (n) => document.querySelector(`[data-nbimages="${n}"]`);
  window.__stale = [];
  const note = (what) => window.__stale.push({ what, t: performance.now(), badge: q('badge').textContent,
    kind: q('badge').dataset.kind, hidden: q('badge').hidden, caption: q('caption').hidden ? '' : q('caption').textContent });
  new MutationObserver(() => note('badge')).observe(q('badge'), { attributes: true, childList: true, characterData: true, subtree: true });
  new MutationObserver(() => note('caption')).observe(q('caption'), { attributes: true, childList: true, subtree: true });
  new MutationObserver(() => note('preview')).observe(q('preview'), { attributes: true, attributeFilter: ['data-seq'] });
  window.__clicked = () => note('click');
}"""


def test_refine_clears_the_caption_and_badge_and_history_status(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        generate_in_kernel(nb, "studio.size = '1536x1024'; studio.generate('a lighthouse on a cliff at dusk')")
        expect(page.locator(hook("caption"))).to_be_visible()
        expect(page.locator(hook("badge"))).to_have_text("Final")

        page.evaluate(WATCH_STALE)
        page.fill(hook("followup"), "add a red boat")
        page.evaluate("() => window.__clicked()")
        page.click(hook("refine"))
        badge = page.locator(hook("badge"))
        expect(badge).to_have_text("Refining…", timeout=1000)
        expect(page.locator(hook("caption"))).to_be_hidden()
        shot(page.locator(hook("studio")), "_refining")
        wait_final(page, 2)
        nb.wait_value("not studio.busy")
        log = page.evaluate("() => window.__stale")
        clicked = next(e["t"] for e in log if e["what"] == "click")
        first_partial = next(e["t"] for e in log if e["what"] == "preview")
        relabelled = next(e for e in log if e["badge"] == "Refining…")
        cleared = next(e for e in log if e["what"] == "caption" and e["caption"] == "")
        assert relabelled["t"] < first_partial and cleared["t"] < first_partial, log
        assert relabelled["t"] - clicked < 500, log
        relabels = [e["badge"] for e in log if e["what"] == "badge" and clicked < e["t"] < first_partial]
        assert relabels[0] == "Refining…" and "Final" not in relabels, log  # not "Final" again before a new partial

        # A new image of another size, then back to the first through the history strip.
        nb.execute("studio.size = '1024x1536'; studio.generate('a red bicycle')")
        wait_final(page, 3)
        nb.wait_value("not studio.busy")
        status = page.locator(hook("status"))
        expect(status).to_contain_text("1024×1536")
        page.locator(hook("history-item")).first.click()
        expect(status).to_contain_text("1536×1024")
        text = status.inner_text()
        model = nb.value("studio.image.model")
        assert model in text and "image 1 of 3" in text, text
        assert not re.search(r"\d+\.\d s", text) and "done" not in text, text
        expect(page.locator(hook("caption"))).to_have_text(nb.value("studio.image.revised_prompt or studio.image.prompt"))
        shot(page.locator(hook("studio")), "_history")

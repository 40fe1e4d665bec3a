"""The Studio in a narrow notebook (an 800 px wide window): every label and status line is
readable whole, the current history item stays in view inside its strip, and a server
error shows its request id as text a user can select and copy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from test_dark_theme import set_theme

from _widgets import hook

pytestmark = pytest.mark.browser

# The offline simulator (its status line says so) through a transport of the test's own:
# instant runs to fill the history, slower ones (partial_interval) to look at a run.
STUDIO = """
import httpx
from nbimages import Client
from nbimages.local import LocalTransport
from nbimages.widgets import Studio
transport = LocalTransport(latency=0, partial_interval=0)
client = Client(backend="local", http_client=httpx.Client(transport=transport, base_url="http://simulator.test/v1"))
studio = Studio(client=client)
studio.partial_images = 1
studio
"""

RUNS = 10  # more than an 800 px window's strip shows

# Text the Studio shows that is cut (by an ellipsis or an overflow box) instead of wrapped.
CUT_TEXT = """(root) => {
  const cut = [];
  const shown = (el) => el.getClientRects().length > 0 && el.checkVisibility({ visibilityProperty: true });
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  for (const el of root.querySelectorAll('*')) {
    if (['TEXTAREA', 'INPUT', 'SELECT', 'OPTION'].includes(el.tagName) || !shown(el)) continue;
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
    if (!text) continue;
    const style = getComputedStyle(el);
    if (style.display !== 'inline' && el.scrollWidth > el.clientWidth + 1) {
      cut.push({ text, why: `scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`, overflow: style.textOverflow });
      continue;
    }
    const box = el.getBoundingClientRect();
    for (let up = el.parentElement; up && up !== root.parentElement; up = up.parentElement) {
      if (getComputedStyle(up).overflowX === 'visible' || scrolls(up)) continue;
      const frame = up.getBoundingClientRect();
      if (box.left < frame.left - 1 || box.right > frame.right + 1) {
        cut.push({ text, why: `clipped by ${up.className}`, box: [box.left, box.right], frame: [frame.left, frame.right] });
        break;
      }
    }
  }
  return cut;
}"""

# Where the current history item is, against the strip's visible box (its client area).
CURRENT_IN_STRIP = """(strip) => {
  const item = strip.querySelector('[data-current="true"]');
  const s = strip.getBoundingClientRect(), i = item.getBoundingClientRect();
  const left = s.left + strip.clientLeft, right = left + strip.clientWidth;
  return { inside: i.left >= left - 0.5 && i.right <= right + 0.5, item: [i.left, i.right], strip: [left, right],
           overflows: strip.scrollWidth > strip.clientWidth, scrollLeft: strip.scrollLeft, turn: item.dataset.turn };
}"""


def assert_nothing_cut(page: Any) -> None:
    cut = page.locator(hook("studio")).evaluate(CUT_TEXT)
    assert not cut, f"text cut at 800 px: {cut}"


def assert_current_in_view(page: Any, turn: int) -> dict[str, Any]:
    strip = page.locator(hook("history"))
    page.wait_for_function("(turn) => document.querySelector('[data-nbimages=\"history-item\"][data-current=\"true\"]')"
                           "?.dataset.turn === String(turn)", arg=turn)
    page.wait_for_timeout(100)  # a smooth scroll would still be moving
    where = strip.evaluate(CURRENT_IN_STRIP)
    assert where["overflows"], f"the strip does not overflow: the test proves nothing ({where})"
    assert where["inside"], f"the current history item is outside the strip's visible box: {where}"
    return dict(where)


def test_studio_at_800px(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        page.set_viewport_size({"width": 800, "height": 1800})  # tall: the whole Studio in one screenshot
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")  # the notebook gets the width
        page.wait_for_function("() => !document.querySelector('#jp-left-stack').checkVisibility()")
        studio = page.locator(hook("studio"))
        status = page.locator(hook("status"))
        nb.execute(f"""
for n in range({RUNS - 1}):
    studio.generate(f'a paper boat number {{n + 1}} on a pond')
    studio.wait(60)
transport.partial_interval = 1.0
""", timeout=120)
        page.wait_for_function("(n) => document.querySelectorAll('[data-nbimages=\"history-item\"]').length === n",
                               arg=RUNS - 1)

        # A run from the page, with the strip scrolled back to its start: while it runs the
        # status line is whole; once done, the new current item is in view.
        page.locator(hook("history")).evaluate("(strip) => { strip.scrollLeft = 0; }")
        page.fill(hook("prompt"), "a paper boat in the rain")
        page.click(hook("generate"))
        expect(status).to_contain_text("partial 1 of 1 · offline simulator")
        assert_nothing_cut(page)
        shot(studio, "_running")
        nb.wait_value(f"not studio.busy and len(studio.history) == {RUNS}")
        turns = nb.value("[t.id for t in studio.conversation.all_turns]")
        assert_current_in_view(page, turns[-1])
        assert_nothing_cut(page)
        shot(studio, "_light")

        # The first item, chosen with the keyboard (focused without scrolling, as a click on
        # a partly hidden item would not scroll it either): the strip scrolls, the page does not.
        top = studio.evaluate("(el) => el.getBoundingClientRect().top")
        page.locator(hook("history-item")).first.evaluate("(el) => el.focus({ preventScroll: true })")
        page.keyboard.press("Enter")
        where = assert_current_in_view(page, turns[0])
        assert where["scrollLeft"] == 0, where
        # And back to the last one from Python.
        nb.execute(f"studio.checkout({turns[-1]})")
        assert_current_in_view(page, turns[-1])
        assert studio.evaluate("(el) => el.getBoundingClientRect().top") == top, "the notebook page scrolled"

        # Cancelled after its partial: one sentence, whole.
        page.fill(hook("prompt"), "a paper boat in a storm")
        page.click(hook("generate"))
        expect(status).to_contain_text("partial 1 of 1")
        page.click(hook("cancel"))
        expect(status).to_have_text(re.compile(
            r"Cancelled after \d+\.\d s: the last partial image stays on screen but is not added to the history"))
        assert_nothing_cut(page)
        shot(studio, "_cancelled")

        # A refused prompt: the request id is on the error line, as selectable text.
        page.fill(hook("prompt"), "a forbidden-content poster")
        page.click(hook("generate"))
        error = page.locator(hook("error", within="studio"))
        expect(error).to_contain_text("moderation_blocked")
        request_id = nb.value("studio.last_error.request_id")
        assert request_id and request_id.startswith("req_"), request_id
        shown = page.locator(hook("request-id", within="studio"))
        expect(shown).to_have_text(request_id)
        expect(shown).to_be_visible()
        assert shown.evaluate("(el) => getComputedStyle(el).userSelect") == "all"
        assert error.inner_text().count(request_id) == 1, error.inner_text()  # said once
        assert_nothing_cut(page)
        shot(studio, "_error_light")
        try:
            set_theme(page, "JupyterLab Dark", light=False)
            page.wait_for_timeout(300)  # theme CSS applied
            assert_nothing_cut(page)
            shot(studio, "_error_dark")
        finally:
            set_theme(page, "JupyterLab Light", light=True)  # the setting is shared by later tests

        # Narrower still, the file browser open beside the notebook: the strip keeps its current item in view.
        page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
        page.wait_for_function("() => document.querySelector('#jp-left-stack').checkVisibility()")
        assert_current_in_view(page, turns[-1])
        assert_nothing_cut(page)
        shot(studio, "_error_beside_files")
        page.fill(hook("prompt"), "a paper boat at night")
        page.click(hook("generate"))
        expect(status).to_contain_text("partial 1 of 1 · offline simulator")
        assert_nothing_cut(page)
        nb.wait_value(f"not studio.busy and len(studio.history) == {RUNS + 1}")
        assert_current_in_view(page, nb.value("studio.conversation.head.id"))
        expect(status).to_contain_text("offline simulator")
        assert_nothing_cut(page)
        shot(studio, "_done_beside_files")

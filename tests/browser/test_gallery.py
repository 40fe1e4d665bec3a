"""Gallery in a real JupyterLab: thumbnails of stored images, click to select and enlarge
(``gallery.selected`` follows in the kernel), paging."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from nbimages.config import DEFAULT_IMAGE_MODEL

from _widgets import hook

pytestmark = pytest.mark.browser

PROMPTS = ["a red apple on a wooden table", "a blue whale in the deep ocean", "a yellow taxi in the rain at night",
           "a green parrot on a branch", "a snowy mountain peak at sunrise"]

GALLERY = f"""
import tempfile
from nbimages import Client
from nbimages.store import Store
from nbimages.widgets import Gallery
store = Store(tempfile.mkdtemp())
with Client() as c:
    for prompt in {PROMPTS!r}:
        store.save(c.generate(prompt, size="1024x1024", quality="low")[0])
gallery = Gallery(store=store, page_size=4)
gallery
"""

# Elements of the cards' text lines whose content is cut (wider than their box).
CUT_TEXT = """() => [...document.querySelectorAll('[data-nbimages="gallery-item-meta"], [data-nbimages="gallery-item-meta"] *')]
  .filter((e) => e.scrollWidth > e.clientWidth + 0.5).map((e) => e.textContent)"""

THUMBS_SHOWN = """(n) => {
  const items = document.querySelectorAll('[data-nbimages="gallery-item"]');
  return items.length === n && [...items].every((b) => { const i = b.querySelector('img');
    return i && i.complete && i.naturalWidth > 0; });
}"""


def place(page: Any, item: Any) -> dict[str, float]:
    """Where a card is inside the widget (the mouse moved off it first: hovering lifts a card)."""
    page.mouse.move(0, 0)
    page.wait_for_timeout(200)
    card, widget = item.bounding_box(), page.locator(hook("gallery")).bounding_box()
    return {"x": card["x"] - widget["x"], "y": card["y"] - widget["y"], "width": card["width"]}


def test_gallery_click_selects_in_kernel(notebook: Any, shot: Any) -> None:
    with notebook([GALLERY]) as nb:
        page = nb.page
        items = page.locator(hook("gallery-item"))
        page.wait_for_function(THUMBS_SHOWN, arg=4)
        assert [items.nth(i).get_attribute("title") for i in range(4)] == PROMPTS[:0:-1]  # newest first
        # Each card: its prompt on one line (cut with an ellipsis; whole in the title), then model and size whole.
        prompt_line = page.locator(hook("gallery-item-prompt"))
        assert [prompt_line.nth(i).text_content() for i in range(4)] == PROMPTS[:0:-1]
        assert [" ".join(t.split()) for t in page.locator(hook("gallery-item-meta")).all_inner_texts()] == [
            f"{DEFAULT_IMAGE_MODEL} 1024×1024"] * 4
        assert page.evaluate(CUT_TEXT) == [], "model or size cut on the cards"
        heights = {round(prompt_line.nth(i).bounding_box()["height"]) for i in range(4)}
        assert len(heights) == 1 and heights.pop() < 24, "the prompt takes more than one line"
        pager = page.locator(hook("pager"))
        assert (pager.get_attribute("data-page"), pager.get_attribute("data-pages")) == ("0", "2")
        assert nb.value("gallery.selected") is None

        second = items.nth(1)
        chosen = second.get_attribute("data-id")
        before = place(page, second)
        shot(page.locator(hook("gallery")), "_grid")
        second.click()
        assert nb.wait_value(f"gallery.selected_id == {chosen!r}") is True
        assert nb.value("[gallery.selected.id, gallery.selected_image.prompt]") == [chosen, PROMPTS[3]]
        expect(items.nth(1)).to_have_attribute("data-selected", "true")
        expect(items.nth(0)).to_have_attribute("data-selected", "false")
        enlarged = page.locator(hook("enlarged-img"))
        expect(page.locator(hook("enlarged"))).to_be_visible()
        expect(enlarged).to_have_attribute("data-full", "true")
        assert enlarged.get_attribute("data-id") == chosen
        assert enlarged.evaluate("(img) => img.naturalWidth") == 1024
        expect(page.locator(hook("enlarged-prompt"))).to_have_text(PROMPTS[3])
        # The enlarged view lies over the grid, inside the widget: the clicked card did not move.
        assert place(page, second) == before
        widget, overlay = page.locator(hook("gallery")).bounding_box(), page.locator(hook("enlarged")).bounding_box()
        assert overlay["y"] >= widget["y"] and overlay["y"] + overlay["height"] <= widget["y"] + widget["height"] + 0.5
        shot(page.locator(hook("gallery")))

        page.keyboard.press("Escape")
        expect(page.locator(hook("enlarged"))).to_be_hidden()
        assert place(page, second) == before
        assert nb.value("gallery.selected_id") == chosen  # closing is not unselecting
        second.click()
        expect(page.locator(hook("enlarged"))).to_be_visible()

        page.click(hook("pager-next"))  # the enlarged image is not on the next page: the view closes
        expect(page.locator(hook("enlarged"))).to_be_hidden()
        assert nb.wait_value("gallery.page == 1") is True
        page.wait_for_function(THUMBS_SHOWN, arg=1)
        items.first.click()
        oldest = nb.wait_value(f"gallery.selected_id != {chosen!r} and gallery.selected_image.prompt")
        assert oldest == PROMPTS[0]
        expect(page.locator(hook("enlarged-prompt"))).to_have_text(PROMPTS[0])
        shot(page.locator(hook("gallery")), "_page2")
        page.click(hook("enlarged-close"))
        expect(page.locator(hook("enlarged"))).to_be_hidden()


SPOILED = f"""
import tempfile
from nbimages import Client
from nbimages.store import Store
from nbimages.widgets import Gallery
store = Store(tempfile.mkdtemp())
with Client() as c:
    saved = [store.save(c.generate(p, size="1024x1024", quality="low")[0]) for p in {PROMPTS[:3]!r}]
saved[0].path.unlink()  # deleted behind the store's back
saved[1].path.write_bytes(saved[1].data[:2000])  # cut short: the header is fine, the pixels are not
gallery = Gallery(store=store)
gallery
"""


def test_gallery_cards_say_when_a_file_is_missing_or_damaged(notebook: Any, shot: Any) -> None:
    """The good image shows; the others say why they cannot, and clicking one says where it was."""
    with notebook([SPOILED]) as nb:
        page = nb.page
        problems = page.locator(hook("gallery-item-problem"))
        expect(problems).to_have_count(2)
        assert sorted(problems.all_inner_texts()) == ["file damaged", "file missing"]
        good = page.locator(hook("gallery-item")).nth(0)
        expect(good.locator("img")).to_be_visible()
        missing = page.locator(hook("gallery-item")).filter(has_text="file missing")
        missing.click()
        error = page.locator(hook("error"))
        expect(error).to_contain_text("No such file")
        expect(page.locator(hook("enlarged"))).to_be_hidden()
        assert nb.value("gallery.selected_id") == ""
        shot(page.locator(hook("gallery")), "_missing_files")

"""Gallery navigation in a real JupyterLab, at 1400 and 800 px: the enlarged view opens at the
clicked card's height without moving the page, keeps the focus (a click on the big image,
then Escape, closes it and leaves the card in view), the arrow keys step through the page,
a pager sits under the grid too, new images appear without Refresh, and edits show their model."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from test_dark_theme import set_theme

from _widgets import hook

pytestmark = pytest.mark.browser

GALLERY = """
import tempfile
from nbimages import Client
from nbimages.store import Store
from nbimages.widgets import Gallery
store = Store(tempfile.mkdtemp())
client = Client()
for i in range(10):
    store.save(client.generate(f"a small boat number {i} on a calm lake", size="1024x1024", quality="low")[0])
photo = store.list(limit=1)[0].load()
store.save(client.edit("paint the boat red", photo, quality="low")[0])
gallery = Gallery(store=store, page_size=8)
gallery
"""
AFTER = "print('\\n'.join(f'line {i}' for i in range(40)))"

SCROLLER = "() => (document.querySelector('.jp-WindowedPanel-outer') || document.querySelector('.jp-Notebook')).scrollTop"


def in_view(page: Any, box: dict[str, float]) -> bool:
    return box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


@pytest.mark.parametrize("width", [1400, 800])
def test_gallery_dialog_in_place_keys_pager_and_new_images(notebook: Any, shot: Any, width: int) -> None:
    with notebook([GALLERY, AFTER]) as nb:
        page = nb.page
        page.set_viewport_size({"width": width, "height": 800})
        items = page.locator(hook("gallery-item"))
        expect(items).to_have_count(8)
        edited = items.first  # the newest: the edit
        expect(edited.locator(hook("gallery-item-meta"))).to_contain_text(nb.value("store.list(limit=1)[0].model"))

        # The last card, scrolled to the bottom of the window, opens in place.
        card = items.nth(7)
        page.locator(hook("pager-bottom")).scroll_into_view_if_needed()
        page.mouse.move(0, 0)
        scrolled = page.evaluate(SCROLLER)
        before = card.bounding_box()
        card.click()
        dialog = page.locator(hook("enlarged"))
        expect(page.locator(hook("enlarged-img"))).to_have_attribute("data-full", "true")
        panel = page.locator(".nbi-detail__panel")
        assert in_view(page, panel.bounding_box()), "the enlarged view opened out of sight"
        assert abs(page.evaluate(SCROLLER) - scrolled) < 250, "the page jumped"
        shot(page, f"_{width}_open")

        # A click on the big image keeps the focus in the dialog; Escape closes it there.
        page.locator(hook("enlarged-img")).click()
        page.keyboard.press("ArrowLeft")
        chosen = card.get_attribute("data-id")
        left = items.nth(6).get_attribute("data-id")
        expect(dialog).to_have_attribute("data-id", left)
        assert nb.wait_value(f"gallery.selected_id == {left!r}") is True
        page.keyboard.press("ArrowRight")
        expect(dialog).to_have_attribute("data-id", chosen)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert page.evaluate("() => document.activeElement?.dataset?.id") == chosen
        after = card.bounding_box()
        assert in_view(page, after) and abs(after["y"] - before["y"]) < 250, (before, after)
        assert page.evaluate("() => document.querySelector('.jp-Notebook').classList.contains('jp-mod-editMode')") is False

        # The pager under the grid; new images appear without Refresh.
        page.click(hook("pager-bottom-next"))
        assert nb.wait_value("gallery.page == 1") is True
        expect(page.locator(hook("pager-bottom"))).to_have_attribute("data-page", "1")
        page.click(hook("pager-bottom-prev"))
        assert nb.wait_value("gallery.page == 0") is True
        nb.execute("store.save(client.generate('a brand new lighthouse', quality='low')[0])")
        expect(items.first).to_have_attribute("title", "a brand new lighthouse", timeout=10_000)
        expect(page.locator(hook("count"))).to_contain_text("12 images")
        if width == 800:
            try:
                set_theme(page, "JupyterLab Dark", light=False)
                items.nth(2).click()
                expect(page.locator(hook("enlarged-img"))).to_have_attribute("data-full", "true")
                shot(page, f"_{width}_dark")
                page.keyboard.press("Escape")
            finally:
                set_theme(page, "JupyterLab Light", light=True)

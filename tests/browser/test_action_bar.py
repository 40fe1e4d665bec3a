"""The action bar under the Studio preview and the Gallery's enlarged view, in a real JupyterLab:
Download saves the original stored file (sent by the kernel), Copy prompt fills the clipboard
(or, without the Clipboard API, copies through a hidden text box), Open in the painter and
Refine in Studio open those widgets below the view, on the chosen image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from _widgets import hook, wait_final, watch_preview

pytestmark = pytest.mark.browser

PROMPTS = ["a red apple on a wooden table", "a blue whale in the deep ocean"]

STUDIO = """
from nbimages.widgets import Studio
studio = Studio()
studio.partial_images = 0
studio
"""

GALLERY = f"""
import tempfile
from nbimages import Client
from nbimages.store import Store
from nbimages.widgets import Gallery
store = Store(tempfile.mkdtemp())
with Client() as c:
    for prompt in {PROMPTS!r}:
        store.save(c.generate(prompt, size="1024x1024", quality="low")[0])
gallery = Gallery(store=store)
gallery
"""

SHA = "import hashlib"

# Without the Clipboard API the bar copies from a hidden text box: record what it copies.
NO_CLIPBOARD = """() => {
  Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new Error('denied')) },
                                                   configurable: true });
  window.__nbiCopied = [];
  document.addEventListener('copy', () => window.__nbiCopied.push(String(document.getSelection())));
}"""


def download(page: Any, button: Any, tmp_path: Path) -> tuple[str, bytes]:
    """Click ``button`` and catch the file the page saves: (its name, its bytes)."""
    with page.expect_download() as info:
        button.click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    return info.value.suggested_filename, saved.read_bytes()


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_download_and_copy_prompt_in_studio_and_gallery(notebook: Any, shot: Any, tmp_path: Path) -> None:
    with notebook([STUDIO, GALLERY]) as nb:
        page = nb.page
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        studio = page.locator(hook("studio"))
        expect(studio.locator(hook("download"))).to_be_disabled()  # nothing to download yet
        watch_preview(page)
        page.fill(hook("prompt"), "a lighthouse on a cliff at dusk")
        page.click(hook("generate"))
        wait_final(page)
        expect(studio.locator(hook("download"))).to_be_enabled()

        name, data = download(page, studio.locator(hook("download")), tmp_path)
        stored = nb.value("[studio.image.path.name, hashlib.sha256(studio.image.path.read_bytes()).hexdigest()]",
                          setup=SHA)
        assert [name, sha256(data)] == stored and data[:8] == b"\x89PNG\r\n\x1a\n"
        expect(studio.locator(hook("action-feedback"))).to_have_text(f"Saved {name}")

        studio.locator(hook("copy-prompt")).click()
        expect(studio.locator(hook("action-feedback"))).to_have_text("Copied")
        assert page.evaluate("() => navigator.clipboard.readText()") == "a lighthouse on a cliff at dusk"
        shot(studio, "_studio")

        studio.locator(hook("open-in-painter")).click()
        expect(studio.locator(f'{hook("mask-painter")}[data-ready="true"]')).to_be_visible(timeout=20_000)
        assert nb.value("painter.image is studio.image") is True
        shot(studio, "_studio_painter")
        studio.locator(hook("close-opened")).click()
        expect(studio.locator(hook("mask-painter"))).to_have_count(0)

        gallery = page.locator(hook("gallery"))
        card = gallery.locator(hook("gallery-item")).nth(1)
        chosen = card.get_attribute("data-id")
        card.click()
        enlarged = gallery.locator(hook("enlarged"))
        expect(enlarged.locator(hook("enlarged-img"))).to_have_attribute("data-full", "true")
        name, data = download(page, enlarged.locator(hook("download")), tmp_path)
        stored = nb.value(f"hashlib.sha256(store.get({chosen!r}).path.read_bytes()).hexdigest()", setup=SHA)
        assert name == f"{chosen}.png" and sha256(data) == stored

        page.evaluate(NO_CLIPBOARD)
        enlarged.locator(hook("copy-prompt")).click()
        expect(enlarged.locator(hook("action-feedback"))).to_have_text("Copied")
        assert page.evaluate("() => window.__nbiCopied") == [PROMPTS[0]]

        enlarged.locator(hook("open-in-painter")).click()
        painter = gallery.locator(hook("mask-painter"))
        expect(gallery.locator(f'{hook("mask-painter")}[data-ready="true"]')).to_be_visible(timeout=20_000)
        expect(enlarged).to_be_hidden()  # the overlay makes way for what opened below the grid
        assert nb.value(f"painter.image.data == store.get({chosen!r}).path.read_bytes()") is True
        shot(gallery, "_gallery_painter")

        gallery.locator(f'{hook("gallery-item")}[data-id="{chosen}"]').click()
        enlarged.locator(hook("refine-in-studio")).click()
        expect(gallery.locator(hook("studio"))).to_be_visible(timeout=20_000)
        expect(painter).to_have_count(0)
        assert nb.wait_value(f"studio_2.conversation.image.path == store.get({chosen!r}).path") is True
        shot(gallery, "_gallery")
        gallery.locator(hook("close-opened")).first.click()
        expect(gallery.locator(hook("studio"))).to_have_count(0)

        gallery.locator(f'{hook("gallery-item")}[data-id="{chosen}"]').click()
        nb.execute(f"store.get({chosen!r}).path.unlink()")  # gone behind the store's back
        enlarged.locator(hook("download")).click()
        expect(gallery.locator(hook("error"))).to_contain_text(f"cannot download {chosen}: its file is missing")
        shot(gallery, "_missing")

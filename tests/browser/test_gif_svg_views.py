"""Animated GIF and SVG in a real JupyterLab: the Studio and the Gallery show a GIF still
animating, and an SVG only as an ``<img>`` from a data URL (no SVG element ever enters the
page, so the drawing's scripts cannot run)."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from nbimages import Image

from _widgets import hook

pytestmark = pytest.mark.browser

BOTH = """
import tempfile
import nbimages
from nbimages.widgets import Gallery, Studio
# A store of its own: the lab's store holds the other tests' images too.
conv = nbimages.Conversation(nbimages.Client(), store=nbimages.Store(tempfile.mkdtemp()))
conv.generate("a lighthouse logo, flat colours", output_format="svg", size="1024x1024")
conv.generate("a kite dancing in the wind", output_format="gif", frame_count=6, frame_duration_ms=100,
              size="512x512", quality="low")
studio = Studio(conversation=conv)
gallery = Gallery(store=conv.store)
display(studio, gallery)
"""

# The bytes an <img> shows, as base64 (a canvas would not do: it only ever draws a GIF's first frame).
SOURCE_BYTES = """async (img) => {
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}"""

SHOWN = "(img) => img.complete && img.naturalWidth > 0"


def shown_image(img: Any) -> Image:
    return Image(base64.b64decode(img.evaluate(SOURCE_BYTES)))


def pictures_seen(img: Any, seconds: float = 1.2) -> int:
    """How many different pictures the element shows on screen over ``seconds``."""
    seen, end = set(), time.monotonic() + seconds
    while time.monotonic() < end:
        seen.add(hashlib.sha256(img.screenshot()).hexdigest())
    return len(seen)


def assert_animates(img: Any, frames: int, where: str) -> None:
    shown = shown_image(img)
    assert shown.format == "gif" and shown.frame_count == frames, f"{where}: {shown!r}"
    assert pictures_seen(img) >= 3, f"{where}: the GIF does not animate on screen"


def test_gif_animates_and_svg_is_an_img_in_studio_and_gallery(notebook: Any, shot: Any) -> None:
    with notebook([BOTH]) as nb:
        page = nb.page
        preview = page.locator(hook("preview"))
        expect(preview).to_have_attribute("data-kind", "final", timeout=30_000)
        assert preview.evaluate("(img) => img.src").startswith("blob:")
        assert_animates(preview, 6, "Studio preview")

        history = page.locator(f'{hook("history-item")} img')
        expect(history).to_have_count(2)
        sources = [history.nth(i).evaluate("(img) => img.src") for i in range(2)]
        assert sources[0].startswith("data:image/svg+xml;base64,") and sources[1].startswith("blob:")
        page.wait_for_function(f"() => [...document.querySelectorAll('{hook('history-item')} img')]"
                               ".every((img) => img.complete && img.naturalWidth > 0)")
        shot(page.locator(hook("studio")), "_studio")

        cards = page.locator(f'{hook("gallery-item")} img')
        expect(cards).to_have_count(2)
        page.wait_for_function("() => [...document.querySelectorAll('[data-nbimages=\"gallery-item\"] img')]"
                               ".every((img) => img.complete && img.naturalWidth > 0)")
        gif_card, svg_card = cards.nth(0), cards.nth(1)  # newest first
        assert svg_card.evaluate("(img) => img.src").startswith("data:image/svg+xml;base64,")
        assert_animates(gif_card, 6, "Gallery card")

        page.locator(hook("gallery-item")).nth(1).click()
        enlarged = page.locator(hook("enlarged-img"))
        expect(enlarged).to_have_attribute("data-full", "true")
        assert enlarged.evaluate("(img) => img.src").startswith("data:image/svg+xml;base64,")
        page.wait_for_function(SHOWN, arg=enlarged.element_handle())
        assert page.locator(f'{hook("gallery")} svg, {hook("studio")} svg').count() == 0
        shot(page.locator(hook("gallery")), "_gallery_svg")
        page.keyboard.press("Escape")

        page.locator(hook("gallery-item")).nth(0).click()
        expect(enlarged).to_have_attribute("data-full", "true")
        assert_animates(enlarged, 6, "Gallery enlarged")
        shot(page.locator(hook("gallery")), "_gallery_gif")


def test_imagine_output_animates_a_gif_and_shows_an_svg_as_an_img(notebook: Any, shot: Any) -> None:
    cells = ["%load_ext nbimages",
             "%%imagine --output-format gif --size 512x512 --quality low\na kite dancing in the wind",
             "%%imagine --output-format svg --size 1024x1024\na lighthouse logo, flat colours"]
    with notebook(cells) as nb:
        page = nb.page
        gif = page.locator('.jp-OutputArea-output img[src^="data:image/gif;base64,"]')
        svg = page.locator('.jp-OutputArea-output img[src^="data:image/svg+xml;base64,"]')
        expect(gif).to_have_count(1, timeout=30_000)
        expect(svg).to_have_count(1, timeout=30_000)
        page.wait_for_function(SHOWN, arg=svg.element_handle())
        assert_animates(gif, 9, "%%imagine output")
        assert page.locator(".jp-RenderedHTMLCommon svg").count() == 0
        shot(page.locator(".jp-Notebook"), "_outputs")

"""Studio in a real JupyterLab (and Notebook 7): live partial previews, refine, cancel, and the
bytes each partial costs on the kernel websocket."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from playwright.sync_api import expect

from _lab import record_frames
from _widgets import hook, image_frames, previews, slow_studio_cell, wait_final, watch_preview

pytestmark = pytest.mark.browser

STUDIO = """
from nbimages.widgets import Studio
studio = Studio()
studio.partial_images = 3
studio
"""

# A slow simulator of its own, so that Cancel surely lands in the middle of the stream.
SLOW_STUDIO = slow_studio_cell(partial_interval=1.0, partial_images=3)

PROMPT = "a lighthouse on a cliff at dusk, warm light"


OPTIONS = ("model", "size", "quality", "partial-images", "frame-count", "complexity", "output-format")


def option_rows(page: Any) -> list[int]:
    """How many of the visible options sit on each row of the options grid, top to bottom."""
    boxes = [page.locator(hook(name)).bounding_box() for name in OPTIONS]
    tops = [round(box["y"]) for box in boxes if box is not None]
    return [tops.count(top) for top in sorted(set(tops))]


def generate_in_page(page: Any, prompt: str = PROMPT) -> None:
    page.fill(hook("prompt"), prompt)
    page.click(hook("generate"))


def assert_streamed(seen: list[dict[str, Any]], finals: int = 1) -> list[dict[str, Any]]:
    """At least two partial images on screen, in order, before each final; the final decoded."""
    assert [p["seq"] for p in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen))), seen
    run: list[dict[str, Any]] = []
    for shown in seen:
        if shown["kind"] == "final":
            assert len(run) >= 2, f"fewer than two partial previews before a final: {seen}"
            assert shown["naturalWidth"] > 0, shown
            run = []
        else:
            assert shown["kind"] == "partial", shown
            assert shown["naturalWidth"] > 0, shown
            run.append(shown)
    assert [p["kind"] for p in seen].count("final") == finals, seen
    assert seen[-1]["kind"] == "final", seen
    return seen


def test_studio_generate_then_refine(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        watch_preview(page)
        assert option_rows(page) in ([3, 3], [2, 2, 2])
        generate_in_page(page)
        seen = assert_streamed(wait_final(page))
        partial_indexes = [p["index"] for p in seen if p["kind"] == "partial"]
        assert partial_indexes == sorted(partial_indexes)
        # Each picture had its own moment on screen (the simulator spaces events 0.3 s apart).
        gaps = [round((b["t"] - a["t"]) / 1000, 2) for a, b in itertools.pairwise(seen)]
        print(f"preview on screen: {[p['kind'] for p in seen]}, gaps {gaps} s")
        assert sum(gaps) >= 0.3, gaps
        nb.wait_value("not studio.busy")
        kernel = nb.value("dict(partials=len(studio.partials), turns=len(studio.conversation.turns), "
                          "width=studio.image.width, prompt=studio.image.prompt, error=studio.error)")
        assert kernel == {"partials": 3, "turns": 1, "width": seen[-1]["naturalWidth"], "prompt": PROMPT,
                          "error": ""}
        expect(page.locator(hook("status"))).to_contain_text("done")

        page.fill(hook("followup"), "now add a small sailing boat")
        page.click(hook("refine"))
        assert_streamed(wait_final(page, count=2), finals=2)
        nb.wait_value("not studio.busy")
        turns = nb.value("[(t.prompt, t.parent is not None) for t in studio.conversation.turns]")
        expect(page.locator(hook("followup"))).to_have_value("")  # emptied once the refinement succeeded
        assert turns == [[PROMPT, False], ["now add a small sailing boat", True]]
        page.wait_for_function(f"() => document.querySelectorAll('{hook('history-item')}').length === 2")
        current = page.locator(hook("history-item") + '[data-current="true"]')
        assert current.count() == 1
        assert current.get_attribute("data-turn") == str(nb.value("studio.conversation.head.id"))
        shot(page.locator(hook("studio")))

        # A refused prompt: the current (refined) image again, without a badge claiming it.
        shown = len(previews(page))
        generate_in_page(page, "a forbidden-content poster")
        expect(page.locator(hook("error", within="studio"))).to_contain_text("moderation_blocked")
        page.wait_for_function("(n) => window.__nbiPreviews.length > n", arg=shown, polling=50)
        last = previews(page)[-1]
        assert last["kind"] == "final" and last["naturalWidth"] > 0, last
        expect(page.locator(hook("badge"))).to_be_hidden()
        expect(page.locator(hook("preview-frame"))).to_have_attribute("data-state", "final")
        assert nb.value("len(studio.conversation.turns)") == 2
        shot(page.locator(hook("studio")), "_refused")


def test_studio_cancel_keeps_partials_then_error(notebook: Any, shot: Any) -> None:
    with notebook([SLOW_STUDIO]) as nb:
        page = nb.page
        watch_preview(page)
        generate_in_page(page, "a red fox in deep snow")
        page.wait_for_function("() => window.__nbiPreviews.some((p) => p.kind === 'partial')", polling=50)
        page.click(hook("cancel"))
        nb.wait_value("not studio.busy")
        assert nb.value("studio.wait(5) is None and not studio.running")
        kept = nb.value("len(studio.partials)")
        assert kept >= 1
        page.wait_for_timeout(1500)  # longer than the simulator's gap between partials
        after = nb.value("dict(partials=len(studio.partials), turns=len(studio.conversation.turns), "
                         "requests=len(transport.simulator.requests), running=studio.running, "
                         "workers=[t.name for t in threading.enumerate() if t.name == 'nbimages-studio'])",
                         setup="import threading")
        assert after == {"partials": kept, "turns": 0, "requests": 1, "running": False, "workers": []}
        seen = previews(page)
        assert seen and all(p["kind"] == "partial" for p in seen), seen
        assert len(seen) <= kept
        expect(page.locator(hook("status"))).to_contain_text("Cancelled")
        expect(page.locator(hook("cancel"))).to_be_disabled()
        expect(page.locator(hook("generate"))).to_be_enabled()
        shot(page.locator(hook("studio")))

        # A refused prompt: one line in the error area, nothing stored, and the cancelled run's
        # partial no longer shown beside it (there is no current image to go back to).
        generate_in_page(page, "a forbidden-content poster")
        error = page.locator(hook("error", within="studio"))
        expect(error).to_be_visible()
        expect(error).to_contain_text("moderation_blocked")
        assert "Traceback" not in error.inner_text() and "\n" not in error.inner_text().strip()
        assert nb.value("dict(busy=studio.busy, turns=len(studio.conversation.turns), "
                        "error=studio.error.startswith('ContentPolicyError'))") == {
            "busy": False, "turns": 0, "error": True}
        expect(page.locator(hook("preview-frame"))).to_have_attribute("data-state", "empty")
        expect(page.locator(hook("preview"))).to_have_attribute("data-kind", "none")
        expect(page.locator(hook("badge"))).to_be_hidden()
        expect(page.locator(hook("caption"))).to_be_hidden()
        shot(page.locator(hook("studio")), "_error")


def test_studio_in_notebook7(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO], ui="notebook") as nb:
        page = nb.page
        assert "/notebooks/" in page.url
        assert option_rows(page) in ([3, 3], [2, 2, 2])  # never one left alone
        watch_preview(page)
        generate_in_page(page, "a hot air balloon over green hills")
        assert_streamed(wait_final(page))
        nb.wait_value("not studio.busy")
        assert nb.value("len(studio.conversation.turns)") == 1
        shot(page)


def test_partial_image_bytes_on_websocket(notebook: Any, shot: Any) -> None:
    frames: list[bytes | str] = []
    with notebook([STUDIO], before_goto=record_frames(frames)) as nb:
        watch_preview(nb.page)
        nb.execute(f"studio.generate({PROMPT!r})")
        wait_final(nb.page)
        nb.wait_value("not studio.busy")
        sizes = nb.value("[len(p.data) for p in studio.partials]")
        expect(nb.page.locator(hook("prompt"))).to_have_value(PROMPT)  # the box says what made the picture
        shot(nb.page.locator(hook("studio")))
    sent = [f for f in image_frames(frames, "preview") if not f.data.get("final")]
    assert [f.data["index"] for f in sent] == list(range(len(sizes))) and len(sizes) == 3
    for frame, size in zip(sent, sizes):
        assert frame.buffer_bytes == size  # the partial's own bytes, not re-encoded
        ratio = frame.frame_bytes / size
        print(f"partial {frame.data['index']}: image {size} B, websocket frame {frame.frame_bytes} B, "
              f"ratio {ratio:.4f}, overhead {frame.frame_bytes - size} B")
        assert frame.frame_bytes <= 1.05 * size + 512, (frame.frame_bytes, size)


def test_studio_gif_option_shows_frames_and_plays_the_animation(notebook: Any, shot: Any) -> None:
    with notebook([STUDIO]) as nb:
        page = nb.page
        watch_preview(page)
        page.select_option(hook("output-format"), "gif")
        expect(page.locator(hook("frame-count"))).to_be_visible()
        expect(page.locator(hook("partial-images"))).to_be_hidden()  # a GIF arrives whole
        assert option_rows(page) in ([3, 3], [2, 2, 2])
        page.fill(hook("frame-count"), "4")
        page.press(hook("frame-count"), "Tab")
        nb.wait_value("studio.frame_count == 4")
        generate_in_page(page, "a coin spinning on a table")
        [final] = wait_final(page)
        assert final["kind"] == "final" and final["naturalWidth"] > 0, final
        nb.wait_value("not studio.busy")
        assert nb.value("(studio.image.format, studio.image.frame_count, len(studio.partials))") == ["gif", 4, 0]
        shot(page.locator(hook("studio")))

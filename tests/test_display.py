"""Notebook output: previews, captions, errors, history, usage, and the safe Markdown renderer."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

import nbimages
from nbimages import display, errors
from nbimages._markdown import render
from nbimages.display import PreviewOptions, error_bundle, history_bundle, image_bundle, preview, usage_bundle
from nbimages.errors import APITimeoutError, ContentPolicyError, InvalidInputError, StreamError

from _images import make_png
from _notebook import RecordingPublisher


def pil_of(image: nbimages.Image) -> Any:
    from PIL import Image as PIL

    return PIL.open(io.BytesIO(image.data))


def tags(html: str) -> set[str]:
    return {t.lower() for t in re.findall(r"<\s*([a-zA-Z][\w-]*)", html)}


# -- Markdown ---------------------------------------------------------------------------------
SAFE_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
             "hr", "a"}

HOSTILE = [
    "<script>alert(1)</script>",
    "# <script>alert(1)</script>",
    "- <img src=x onerror=alert(1)>",
    "1. <iframe src=javascript:alert(1)>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "`</code><script>x</script>`",
    "**<b onmouseover=alert(1)>bold</b>**",
    "[click](javascript:alert(1))",
    '[click](https://example.com/"onmouseover="alert(1))',
    "[<script>x</script>](https://example.com)",
    "\x000\x00 placeholders <svg onload=alert(1)>",
    "```\nunclosed <script>alert(1)</script>",
    "_<style>body{}</style>_",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_never_lets_markup_through(text: str) -> None:
    html = render(text)
    assert tags(html) <= SAFE_TAGS, html
    for tag, attrs in re.findall(r"<([a-z0-9]+)([^>]*)>", html):  # only links carry attributes
        assert not attrs or (tag == "a" and re.fullmatch(
            r' href="https://[^"<>]*" target="_blank" rel="noopener noreferrer"', attrs)), (tag, attrs)


def test_markdown_renders_the_common_subset() -> None:
    html = render("# Title\n\nSome **bold**, *italic*, `code` and [a link](https://example.com/x?a=1&b=2).\n\n"
                  "- one\n- two\n  continued\n\n1. first\n2. second\n\n```python\nx = 1 < 2\n```\n\n---")
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">a link</a>' in html
    assert "<ul><li>one</li><li>two continued</li></ul>" in html.replace("\n", "")
    assert "<ol><li>first</li><li>second</li></ol>" in html.replace("\n", "")
    assert "<pre><code>x = 1 &lt; 2</code></pre>" in html and "<hr>" in html


def test_markdown_of_a_half_written_answer_is_still_safe() -> None:
    answer = "Here is code:\n```\nprint('<b>')\n**not bold inside code**"
    for end in range(len(answer) + 1):
        html = render(answer[:end])
        assert tags(html) <= SAFE_TAGS
    assert render(answer).endswith("<pre><code>print(&#x27;&lt;b&gt;&#x27;)\n**not bold inside code**</code></pre>")


# -- previews -----------------------------------------------------------------------------------
def test_preview_fits_the_long_side_and_keeps_the_aspect() -> None:
    big = nbimages.Image(make_png((1536, 1024), (10, 120, 200)))
    small = preview(big, 256)
    assert small.format == "webp" and (small.width, small.height) == (256, 171)
    assert small.nbytes < big.nbytes
    assert preview(big, 300, "jpeg").format == "jpeg" and pil_of(preview(big, 300, "png")).size == (300, 200)


def test_preview_keeps_transparency_and_small_images() -> None:
    clear = nbimages.Image(make_png((800, 400), (0, 0, 0, 0), mode="RGBA"))
    shown = preview(clear, 200, "jpeg")  # JPEG cannot be transparent: WebP instead
    assert shown.format == "webp" and pil_of(shown).mode == "RGBA"
    already = preview(clear, 200)
    assert preview(already, 200) is already  # small and WebP: used as it is
    tiny = nbimages.Image(make_png((40, 20)))
    assert max(pil_of(preview(tiny, 512)).size) == 40  # never enlarged


@pytest.mark.parametrize("mode", ["P", "LA", "L", "I;16", "CMYK"])
def test_preview_accepts_unusual_modes(mode: str) -> None:
    from PIL import Image as PIL

    buffer = io.BytesIO()
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    PIL.new(mode, (700, 300)).save(buffer, fmt)
    shown = preview(nbimages.Image(buffer.getvalue()), 350)
    assert pil_of(shown).size == (350, 150)


def test_partials_keep_the_box_of_the_final_image() -> None:
    partial = nbimages.Image(make_png((1536, 1024)))
    live = display.LiveImage("p", options=PreviewOptions(max_side=300))
    assert display._box(partial, 300) == (300, 200)
    shown = display._partial_preview(partial, live.options)
    assert shown.nbytes <= display.PARTIAL_AS_IS_BYTES or max(pil_of(shown).size) <= 300


# -- bundles ------------------------------------------------------------------------------------
def _stored(tmp_path: Path, **meta: Any) -> nbimages.Image:
    path = tmp_path / "img.png"
    data = make_png((1024, 1024), (0, 128, 0))
    path.write_bytes(data)
    return nbimages.Image(data).with_meta(path=path, **meta)


def test_image_bundle_caption_escapes_and_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _stored(tmp_path, revised_prompt='a "quoted" <script>alert(1)</script>', model="gpt-image-1.5")
    monkeypatch.chdir(tmp_path)
    data, meta = image_bundle([image], options=PreviewOptions(max_side=128), prompt="<b>cat</b>",
                              elapsed=2.0, backend="offline simulator", text="**done** <i>x</i>")
    html = data["text/html"]
    assert tags(html) <= SAFE_TAGS | {"div", "img", "i", "figure", "figcaption"}
    assert "<script" not in html and "<i>x</i>" not in html and "<b>cat" not in html
    assert "&lt;script&gt;" in html and "<strong>done</strong>" in html
    assert '<a href="img.png" target="_blank"' in html  # a relative link the notebook server can open
    assert 'width="128" height="128"' in html
    assert meta["nbimages"]["kind"] == "final" and meta["nbimages"]["path"] == str(tmp_path / "img.png")
    text = data["text/plain"]
    assert "1024×1024 · gpt-image-1.5 · offline simulator · 2.0 s" in text
    assert f"saved to {tmp_path / 'img.png'}" in text and 'revised prompt: a "quoted" <script>' in text


def test_a_file_outside_the_working_folder_is_named_not_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = _stored(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    html = image_bundle([image])[0]["text/html"]
    assert "<a href" not in html and f">{tmp_path / 'img.png'}</code>" in html


def test_error_bundle_is_one_line_with_a_hint() -> None:
    exc = ContentPolicyError("Your request was rejected <by> the safety system", status=400,
                             code="moderation_blocked")
    data, meta = error_bundle(exc)
    assert data["text/plain"].count("\n") == 0 and "rephrase the prompt" in data["text/plain"]
    assert "&lt;by&gt;" in data["text/html"] and meta == {"nbimages": {"error": "ContentPolicyError"}}
    assert "timeout" in error_bundle(APITimeoutError("read timed out"))[0]["text/plain"]
    assert "nothing was sent" in error_bundle(InvalidInputError("size", "13x13", "WxH"))[0]["text/plain"]


def _api(cls: type[errors.APIError], status: int, code: str | None = None) -> errors.APIError:
    return cls("refused", status=status, code=code)


PARTIAL = nbimages.Image(make_png((8, 8)))

# Each error's fix, as the notebook says it (the hints live on the error classes).
HINTS = [
    (_api(errors.AuthenticationError, 401), "set OPENAI_API_KEY to a valid key"),
    (_api(errors.RateLimitError, 429), "too many requests: wait a moment"),
    (_api(errors.RateLimitError, 429, "insufficient_quota"), "the account is out of quota"),
    (_api(errors.ContentPolicyError, 400, "moderation_blocked"), "moderation refused this request"),
    (_api(errors.NotFoundError, 404), "check the model name"),
    (_api(errors.BadRequestError, 400), "check the options and inputs"),
    (_api(errors.ServerError, 503), "the service had a problem"),
    (errors.APITimeoutError("read timed out"), "raise the timeout"),
    (errors.APIConnectionError("refused"), "could not reach the server"),
    (errors.StreamError("cut", images=[PARTIAL]), "what arrived complete is saved"),
    (errors.StreamError("cut", partials=[PARTIAL]), "the last partial image is kept"),
    (errors.StreamError("cut"), "run the cell again"),
    (errors.InvalidInputError("size", "13x13", "WxH"), "nothing was sent"),
    (_api(errors.ConflictError, 409), ""),
    (_api(errors.APIError, 418), ""),
    (errors.ConfigurationError("no backend"), ""),
    (errors.StoreError("disk full"), "make NBIMAGES_HOME"),
]


@pytest.mark.parametrize(("exc", "hint"), HINTS, ids=[f"{type(e).__name__}-{i}" for i, (e, _) in enumerate(HINTS)])
def test_each_error_carries_its_hint_and_the_notebook_shows_it(exc: errors.NbImagesError, hint: str) -> None:
    assert exc.hint.startswith(hint) and bool(exc.hint) == bool(hint)
    said = errors.describe_error(exc)
    assert (said.name, said.hint) == (type(exc).__name__, exc.hint)
    text = error_bundle(exc)[0]["text/plain"].splitlines()[0]
    assert text == f"nbimages: {said}" and text.endswith(f" — {exc.hint}" if hint else said.message)


def test_describe_error_is_one_line_cut_to_a_limit_and_names_foreign_errors() -> None:
    said = errors.describe_error(errors.BadRequestError("bad\n value " + "x" * 500, status=400), limit=100)
    assert "\n" not in str(said) and len(said.message) == 100 and said.message.endswith("...")
    assert str(said).endswith(" — check the options and inputs (%%imagine? lists them)")
    foreign = errors.describe_error(KeyError("k"))
    assert (foreign.name, foreign.message, foreign.hint) == ("Unexpected error", "KeyError: 'k'", "")
    assert str(errors.describe_error(errors.StreamError(""))) == "StreamError — run the cell again"


def test_error_bundle_of_a_broken_stream_shows_a_small_last_partial(tmp_path: Path) -> None:
    from test_magics import _noisy_png

    partial = nbimages.Image(_noisy_png((1024, 1024))).with_meta(path=tmp_path / "p.png")
    exc = StreamError("the stream broke", partials=[partial])
    data, meta = error_bundle(exc, partial, PreviewOptions(max_side=200))
    [src] = re.findall(r'src="(data:[^"]+)"', data["text/html"])
    assert len(src) < 40_000  # a preview, not the MB partial
    assert data["text/plain"].splitlines()[1] == f"last partial image saved to {tmp_path / 'p.png'}"
    assert meta["nbimages"]["kind"] == "partial"


def test_history_bundle_marks_the_current_turn_and_escapes(tmp_path: Path) -> None:
    from nbimages.conversation import Conversation

    conv = Conversation(nbimages.Client(), store=False)
    conv.add("<script>first</script>", _stored(tmp_path))
    conv.add("second", None, api="responses", text="an answer")
    conv.client.close()
    data, meta = history_bundle(conv.turns, conv.head)
    assert "<script>" not in data["text/html"] and "&lt;script&gt;first" in data["text/html"]
    assert [t["current"] for t in meta["nbimages"]["turns"]] == [False, True]
    assert "(text only)" in data["text/html"]
    assert data["text/plain"].splitlines()[1].startswith("→ 2. second")


def test_history_cards_say_how_each_image_was_made_and_open_on_click(tmp_path: Path) -> None:
    from html import escape, unescape

    from nbimages.conversation import Conversation

    folder = tmp_path / "a <b> & \"folder\" it's"
    folder.mkdir()
    prompt = "a red barn <script>x</script> " + "in the snow " * 20
    conv = Conversation(nbimages.Client(), store=False)
    first = conv.add(prompt, _stored(folder, model="gpt-image-1.5", params={"endpoint": "images/generations"}))
    second = conv.add("make it night", nbimages.Image(make_png((64, 32), (0, 0, 40)), model="gpt-image-1",
                                                      params={"endpoint": "responses"}), api="responses")
    conv.client.close()
    html = history_bundle(conv.turns, conv.head)[0]["text/html"]
    cards = re.findall(r"<details.*?</details>", html, re.S)
    assert len(cards) == 2 and "<script" not in html
    summaries = [re.sub(r"<[^>]+>", "", card.split("</summary>")[0]) for card in cards]
    assert "generated · gpt-image-1.5 · 1024×1024" in summaries[0]
    assert "current · refined in a conversation · gpt-image-1 · 64×32" in summaries[1]
    assert not any(re.search(r"\b(images|responses)\b", text) for text in summaries)  # no endpoint names
    # Opened: the whole prompt, the file as selectable text, how to load it, and the turn's id.
    opened = cards[0].split("</summary>")[1]
    assert escape(prompt) in opened and f"turn id {first.id}" in opened
    assert f'<code style="user-select:all;overflow-wrap:anywhere">{escape(str(folder / "img.png"))}</code>' in opened
    [load] = re.findall(r"<code[^>]*>(nbimages\.Image\.open\(.*?\))</code>", opened)
    assert eval(unescape(load), {"nbimages": nbimages}).data == first.image.data
    assert f"checkout({second.id}).image" in cards[1]  # not saved: reached through the conversation


def test_usage_bundle_totals_and_unknown_prices() -> None:
    rows = [
        {"model": "gpt-image-1.5", "requests": 2, "images": 3, "cached": 1, "input_tokens": 10,
         "output_tokens": 2000, "estimated_cost_usd": 0.068},
        {"model": "some-new-model", "requests": 1, "images": 0, "cached": 0, "input_tokens": 5,
         "output_tokens": 7, "estimated_cost_usd": None},
    ]
    data, _ = usage_bundle(rows)
    lines = data["text/plain"].splitlines()
    assert lines[0].split()[:2] == ["model", "requests"]
    assert lines[-1].split() == ["total", "3", "3", "1", "15", "2,007", "≥", "$0.0680"]  # the known part
    assert lines[2].split()[-1] == "unknown"  # a price not in the table is never guessed
    assert "<td" in data["text/html"] and "some-new-model" in data["text/html"]


# -- live areas -------------------------------------------------------------------------------------
@pytest.fixture
def published(ipshell: Any, monkeypatch: pytest.MonkeyPatch) -> RecordingPublisher:
    pub = RecordingPublisher(shell=ipshell)
    monkeypatch.setattr(ipshell, "display_pub", pub)
    return pub


def test_live_markdown_streams_into_one_area_and_throttles(published: RecordingPublisher) -> None:
    live = display.LiveMarkdown(header_html="<div>q</div>", min_interval=3600)
    live.show("asking…")
    for piece in ("Hello ", "<script>", "alert(1)", "</script> **world**"):
        live.append(piece)
    live.done(footer="gpt-5 · 1.0 s")
    outs = published.outputs
    assert len({o.display_id for o in outs}) == 1 and [o.update for o in outs] == [False, True, True]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <strong>world</strong>" in outs[-1].html
    assert outs[-1].meta["answer_chars"] == len("Hello <script>alert(1)</script> **world**")


def test_live_image_status_line_counts_partials(published: RecordingPublisher) -> None:
    live = display.LiveImage("<p>", model="gpt-image-1.5", backend="offline simulator", partials=2)
    live.show()
    live.partial(nbimages.Image(make_png((64, 64))), 0)
    live.partial(nbimages.Image(make_png((64, 64))), 1)
    live.partial(nbimages.Image(make_png((64, 64))), 2)  # more than announced: the count grows
    texts = [o.text for o in published.outputs]
    assert texts[1].endswith("partial 1 of 2") and texts[2].endswith("partial 2 of 2 · finishing the final image…")
    assert texts[3].endswith("partial 3 of 3 · finishing the final image…")
    assert all("offline simulator" in t for t in texts)
    assert all('alt="&lt;p&gt;"' in o.html for o in published.outputs[1:])


def test_terminal_display_prints_the_plain_text(ipshell: Any, capfd: Any, tmp_path: Path) -> None:
    from IPython.display import display as show

    data, meta = image_bundle([_stored(tmp_path)])
    show(data, raw=True, metadata=meta)
    out, _ = capfd.readouterr()
    assert "saved to" in out and "<div" not in out


def test_the_status_line_ticks_until_the_first_picture_then_stops(published: RecordingPublisher) -> None:
    import time

    live = display.LiveImage("slow", model="gpt-image-1.5", partials=1, tick=0.05)
    live.show()
    time.sleep(0.4)
    live.partial(nbimages.Image(make_png((64, 64))), 0)
    at_partial = len(published.outputs)
    time.sleep(0.3)
    assert len(published.outputs) == at_partial  # pictures are not sent again
    live.final([nbimages.Image(make_png((64, 64)))])
    time.sleep(0.15)
    outs = published.outputs
    refreshes = [o for o in outs if o.meta.get("refresh")]
    assert len(refreshes) >= 3 and outs[-1].kind == "final"
    assert len({o.display_id for o in outs}) == 1 and not refreshes[0].html.count("<img")
    seconds = [float(re.search(r"(\d+\.\d) s", o.text)[1]) for o in outs[:at_partial]]
    assert seconds == sorted(seconds) and seconds[-1] >= 0.3
    assert live._ticker is not None and not live._ticker.is_alive()


def test_an_error_stops_the_ticking_at_once(published: RecordingPublisher) -> None:
    import time

    live = display.LiveImage("slow", tick=0.02)
    live.show()
    time.sleep(0.1)
    live.error(APITimeoutError("read timed out"))
    time.sleep(0.1)
    assert published.outputs[-1].meta == {"error": "APITimeoutError"}
    assert live._ticker is not None and not live._ticker.is_alive()
    quiet = display.LiveImage("interrupted by a bug", tick=0.02)
    quiet.show()
    quiet.stop()
    count = len(published.outputs)
    time.sleep(0.1)
    assert len(published.outputs) == count


def test_file_links_are_url_encoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my images #1?"
    folder.mkdir()
    (folder / 'a "b".png').write_bytes(make_png())
    monkeypatch.chdir(tmp_path)
    html = display.file_link(folder / 'a "b".png')
    assert html.startswith('<a href="my%20images%20%231%3F/a%20%22b%22.png"')
    assert '>my images #1?/a &quot;b&quot;.png</a>' in html

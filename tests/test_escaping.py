"""Prompts, revised prompts and model answers are shown as text, never as markup.

Hostile text (a ``<script>``, an ``<img onerror>``, a ``javascript:`` Markdown link, an
attribute break-out) goes in as a prompt; the simulator echoes it back as the revised
prompt and as the Responses text, a vision answer is made to quote it, and a server error
carries it as its message. Then:

* every HTML output of the magics is parsed: no script, no event-handler attribute, no
  ``javascript:`` URL, and the hostile text is in the visible text;
* every widget keeps it as plain text in its state (never pre-rendered HTML), and the
  widgets' JavaScript has no HTML sink at all (``innerHTML`` and friends);
* each widget's real ES module is rendered in headless Chromium from that state and those
  messages: no handler fires, no element is injected, and the text shows as typed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from IPython.utils.capture import capture_output

import nbimages

ROOT = Path(__file__).resolve().parent.parent
JS_FILES = sorted((ROOT / "js").rglob("*.js"))

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
MD_LINK = "[click me](javascript:alert(3))"
BREAKOUT = '[ok](https://x.test/"onmouseover="alert(4))'
PAYLOADS = (SCRIPT, IMG, MD_LINK)
PROMPT = f"a cat {SCRIPT} {IMG} {MD_LINK} {BREAKOUT}"


# -- auditing HTML ---------------------------------------------------------------------------
class Audit(HTMLParser):
    """What a browser would build from an HTML string: elements, attributes, visible text."""

    DANGEROUS_TAGS: ClassVar[set[str]] = {"script", "iframe", "object", "embed", "base", "form", "meta", "link", "svg", "math"}
    URL_ATTRS: ClassVar[set[str]] = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "background"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def visible(self) -> str:
        return "".join(self.text)

    def problems(self) -> list[str]:
        found = []
        for tag, attrs in self.tags:
            if tag in self.DANGEROUS_TAGS:
                found.append(f"<{tag}> element")
            for name, value in attrs.items():
                if name.startswith("on"):
                    found.append(f"<{tag} {name}=...> event handler")
                if name in self.URL_ATTRS and value is not None:
                    url = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                    if url.startswith(("javascript:", "vbscript:", "data:text/html")):
                        found.append(f"<{tag} {name}={value!r}>")
                    if tag == "img" and name == "src" and not url.startswith("data:image/"):
                        found.append(f"<img src={value!r}> not an embedded image")
        return found


def test_the_audit_catches_what_it_looks_for() -> None:
    """The control: unescaped versions of the payloads are flagged."""
    bad = Audit(f"<div>{SCRIPT}{IMG}<a href=' JavaScript:alert(1)'>x</a><p onclick='x'>y</p></div>").problems()
    assert any("<script>" in p for p in bad) and any("onerror" in p for p in bad)
    assert any("JavaScript" in p for p in bad) and any("onclick" in p for p in bad)
    from html import escape

    good = Audit(f"<div title=\"{escape(PROMPT, quote=True)}\">{escape(PROMPT)}</div>")
    assert good.problems() == [] and PROMPT in good.visible


def assert_safe(html: str, where: str) -> Audit:
    audit = Audit(html)
    assert audit.problems() == [], f"{where}: {audit.problems()}\n{html[:2000]}"
    return audit


# -- the magics ------------------------------------------------------------------------------
@pytest.fixture
def shell(ipshell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    return ipshell


def outputs_of(shell: Any, cell: str) -> list[dict[str, Any]]:
    with capture_output() as captured:
        result = shell.run_cell(cell)
    assert result.error_in_exec is None and result.error_before_exec is None, (cell, result)
    assert captured.outputs, cell
    return [o.data for o in captured.outputs]


def html_of(outputs: list[dict[str, Any]], where: str) -> str:
    """Every HTML output audited; their visible text joined."""
    assert all("text/markdown" not in o for o in outputs)  # Markdown is rendered (escaped) by nbimages itself
    return "\n".join(assert_safe(o["text/html"], where).visible for o in outputs if "text/html" in o)


def test_imagine_caption_shows_the_revised_prompt_and_answer_as_text(shell: Any) -> None:
    first = outputs_of(shell, f"%%imagine --partial-images 1\n{PROMPT}")
    html_of(first, "%%imagine")
    refined = outputs_of(shell, f"%%imagine --continue\n{PROMPT}")
    visible = html_of(refined, "%%imagine --continue")
    final = refined[-1]
    assert "revised prompt:" in final["text/plain"]  # the simulator did echo the prompt back
    for payload in (*PAYLOADS, BREAKOUT):
        assert visible.count(payload) >= 2, (payload, visible)  # the revised prompt and the model's text


def test_describe_answer_is_markdown_with_the_question_as_text(shell: Any, sim_server: Any, tmp_path: Path) -> None:
    from PIL import Image as PIL

    PIL.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "red.png")
    # A model that quotes the question in its answer (the simulator does not: its reply is bent to)
    sim_server.simulator.faults.add("tamper", at_type="response.completed",
                                    set={"response.output.0.content.0.text": f"You asked: *{PROMPT}*"})
    outputs = outputs_of(shell, f"%describe {tmp_path}/red.png {PROMPT}")
    visible = html_of(outputs, "%describe")
    answer = Audit(outputs[-1]["text/html"])
    assert "You asked:" in visible and "em" in [t for t, _ in answer.tags]  # Markdown was rendered
    for payload in PAYLOADS:
        assert payload in answer.visible, payload
    links = [a for t, a in answer.tags if t == "a"]
    assert all(str(a.get("href", "")).startswith("https://x.test/") for a in links), links
    assert all('"' not in str(a.get("href")) for a in links)  # the quote stayed inside the URL


def test_history_and_errors_show_prompts_as_text(shell: Any, sim_server: Any) -> None:
    outputs_of(shell, f"%%imagine --partial-images 0\n{PROMPT}")
    visible = html_of(outputs_of(shell, "%imagine_history --all"), "%imagine_history")
    assert SCRIPT in visible and IMG in visible
    sim_server.simulator.faults.add("status", status=400, code="invalid_value", message=f"bad: {PROMPT}")
    error = outputs_of(shell, "%%imagine --fresh --partial-images 0\nanything")
    visible = html_of(error, "error line")
    assert "BadRequestError" in visible and all(p in visible for p in PAYLOADS)
    usage = html_of(outputs_of(shell, "%imagine_usage"), "%imagine_usage")
    assert "gpt-image" in usage


# -- the widgets: state and messages hold plain text -----------------------------------------
TEXT_TRAITS = {"prompt", "revised_prompt", "caption", "status", "error", "search", "model"}


def strings_with_payload(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if any(marker in value for marker in ("<script", "onerror", "javascript:")):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_with_payload(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from strings_with_payload(item, f"{path}[{i}]")


@pytest.fixture
def widgets(sim_transport: Any, simulator: Any, hermetic_env: Path) -> Iterator[dict[str, Any]]:
    """Studio, MaskPainter and Gallery after work with hostile prompts, with the messages they sent."""
    from nbimages.widgets import Gallery, MaskPainter, Studio
    from nbimages.widgets._base import one_line

    http = httpx.Client(transport=sim_transport)
    client = nbimages.Client(base_url="http://simulator.test/v1", http_client=http)
    sent: dict[str, list[tuple[dict[str, Any], list[bytes]]]] = {}

    def record(widget: Any) -> Any:
        log = sent.setdefault(type(widget).__name__, [])
        original = widget.send
        widget.send = lambda content, buffers=None: (log.append((content, [bytes(b) for b in buffers or []])),
                                                     original(content, buffers))
        widget._handle_custom_msg({"action": "hello"}, [])  # what a new view asks for first
        return widget

    studio = record(Studio(client=client))
    studio.generate(PROMPT)
    assert studio.wait(30) is not None, studio.error
    studio.refine(PROMPT)
    assert studio.wait(30) is not None, studio.error
    simulator.faults.add("status", status=400, code="invalid_value", message=f"bad: {PROMPT}")
    studio.generate("this one fails")
    studio.wait(30)
    painter = record(MaskPainter(studio.image))
    painter.set_painted(nbimages.mask_from_box(studio.image, (100, 100, 400, 400)))
    painter.edit(PROMPT, client=client)
    simulator.faults.add("status", status=400, code="invalid_value", message=f"bad: {PROMPT}")
    try:
        painter.edit(PROMPT, client=client)
    except nbimages.BadRequestError as exc:  # what the view would show for a failed edit
        painter.error = one_line(exc)
    gallery = record(Gallery())
    gallery.select(gallery.items[0]["id"])
    gallery_search = record(Gallery())
    gallery_search.search = PROMPT
    yield {"Studio": studio, "MaskPainter": painter, "Gallery": gallery, "GallerySearch": gallery_search,
           "sent": sent}
    for widget in (studio, painter, gallery, gallery_search):
        widget.close()
    client.close()
    http.close()


def test_widget_state_and_messages_hold_plain_text(widgets: dict[str, Any]) -> None:
    studio = widgets["Studio"]
    assert PROMPT in studio.caption and studio.history[0]["prompt"] == PROMPT
    assert "BadRequestError" in studio.error and SCRIPT in studio.error
    assert any(item["prompt"] == PROMPT for item in widgets["Gallery"].items)
    assert SCRIPT in widgets["MaskPainter"].error
    for name in ("Studio", "MaskPainter", "Gallery", "GallerySearch"):
        state = widgets[name].get_state()
        found = list(strings_with_payload({k: v for k, v in state.items() if k not in ("_esm", "_css")}))
        assert found, name
        for path, text in found:
            leaf = re.sub(r"\[\d+\]", "", path).split(".")[-1]
            assert leaf in TEXT_TRAITS, f"{name}.{path} carries hostile text in a field the JS may not treat as text"
            assert "&lt;" not in text and "&quot;" not in text, f"{name}.{path} is pre-escaped: shown as &lt;..."
    for name, messages in widgets["sent"].items():
        assert messages, name
        for content, _ in messages:
            # Messages carry images; a preview also carries its prompt, only ever put on the clipboard.
            assert [path for path, _ in strings_with_payload(content)] in ([], ["prompt"]), (name, content)


# -- the widgets' JavaScript ------------------------------------------------------------------
HTML_SINKS = re.compile(
    r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|DOMParser|createContextualFragment|srcdoc"
    r"|\beval\s*\(|new\s+Function\s*\(|setHTML|\.html\s*\("
)


def _code(path: Path) -> str:
    """JavaScript without comments (a comment may say "never innerHTML")."""
    text = path.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"(?m)(^|[^:\\])//.*$", r"\1", text)


def test_widget_javascript_has_no_html_sink() -> None:
    assert len(JS_FILES) >= 4, JS_FILES
    for path in JS_FILES:
        code = _code(path)
        assert not HTML_SINKS.findall(code), f"{path.relative_to(ROOT)}: {HTML_SINKS.findall(code)}"
        # The one link: a download of a Blob the kernel sent (`saveFile`), never a URL from the state.
        links = re.findall(r"\bhref\b[^,}]*", code)
        assert links in ([], ["href: url"]), f"{path.relative_to(ROOT)} sets a link: {links}"
        if links:
            assert re.search(r"const url = URL\.createObjectURL\(blob\);\s*const link = h\(\"a\", \{ href: url, download:",
                             code), f"{path.relative_to(ROOT)}: a link to something else than a Blob"
        for match in re.finditer(r"(?:\.src\s*=|\bsrc\s*:)\s*([^;,}\n]+)", code):
            value = match[1].strip()
            assert re.fullmatch(r"[A-Za-z]*(?:url|Url|URL|thumb)|urls\.make\(.*\)", value), (path.name, value)


def test_widget_javascript_puts_text_through_text_sinks() -> None:
    shared = _code(ROOT / "js" / "src" / "_shared.js")
    assert re.search(r'key === "text"\) el\.textContent = ', shared)  # h(tag, {text}) -> textContent
    assert re.search(r"el\.textContent = text", shared)  # bindText and errorLine
    sources = {p.stem: _code(p) for p in (ROOT / "js" / "src").glob("*.js")}
    # Every read of a text field ends in textContent, a title, a `text:` prop, a placeholder or a value.
    reads = re.compile(r'model\.get\("(?:status|caption|error|search|prompt)"\)|item\.(?:prompt|revised_prompt|model)')
    sink = re.compile(r"textContent|\btitle\b|\btext:|placeholder|\.value\b|bindText|===|!==|\?")
    statements = [s for code in sources.values() for s in re.split(r";\s*\n|\{\s*\n|\}\s*\n", code)]
    checked = 0
    for statement in statements:
        if reads.search(statement):
            checked += 1
            assert sink.search(statement), statement
    assert checked >= 5
    for name in ("caption", "error", "status"):
        assert re.search(rf'bindText\(model, "{name}"|watch\(model, "{name}"|errorLine\(model\)', "".join(
            sources.values())), name


# -- the widgets rendered in a real browser -------------------------------------------------------
RENDER = """async ({ src, state, messages }) => {
  window.__fired = [];
  window.alert = (x) => window.__fired.push(String(x));
  const bytes = (b64) => {
    const raw = atob(b64); const a = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) a[i] = raw.charCodeAt(i);
    return new DataView(a.buffer);
  };
  for (const [k, v] of Object.entries(state)) if (v && v.__bytes__ !== undefined) state[k] = bytes(v.__bytes__);
  const listeners = new Map();
  const emit = (event, ...args) => (listeners.get(event) || []).slice().forEach((cb) => cb(...args));
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; emit(`change:${k}`); },
    save_changes() {},
    on: (e, cb) => listeners.set(e, [...(listeners.get(e) || []), cb]),
    off: (e, cb) => listeners.set(e, (listeners.get(e) || []).filter((x) => cb && x !== cb)),
    send() {},
  };
  const mod = await import(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
  const el = document.createElement("div");
  document.body.append(el);
  await mod.default.render({ model, el });
  for (const m of messages) emit("msg:custom", m.content, m.buffers.map(bytes));
  await new Promise((r) => setTimeout(r, 400));  // let any injected onerror fire
  const bad = [];
  for (const node of el.querySelectorAll("*")) {
    for (const attr of node.attributes) if (attr.name.startsWith("on")) bad.push(`${node.tagName} ${attr.name}`);
    if (["SCRIPT", "IFRAME", "OBJECT", "EMBED"].includes(node.tagName)) bad.push(node.tagName);
    if (node.tagName === "IMG" && node.getAttribute("src") && !/^(blob|data):/.test(node.getAttribute("src")))
      bad.push(`IMG src=${node.getAttribute("src")}`);
    if (node.tagName === "A" && /^\\s*javascript:/i.test(node.getAttribute("href") || "")) bad.push("A javascript:");
  }
  const titles = [...el.querySelectorAll("[title]")].map((n) => n.title).join("\\n");
  const values = [...el.querySelectorAll("input, textarea")].map((n) => n.value).join("\\n");
  return { fired: window.__fired, bad, text: [el.innerText, titles, values].join("\\n"),
           images: el.querySelectorAll("img, canvas").length };
}"""


def _browser_state(widget: Any) -> dict[str, Any]:
    state = {}
    for key, value in widget.get_state().items():
        if isinstance(value, (bytes, bytearray, memoryview)):
            state[key] = {"__bytes__": base64.b64encode(bytes(value)).decode()}
        else:
            state[key] = value
    return state


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.set_content("<!doctype html><html><body></body></html>")
        yield page
        browser.close()


@pytest.mark.browser
def test_widget_views_render_hostile_text_as_text(widgets: dict[str, Any], page: Any) -> None:
    expected = {"Studio": [SCRIPT, IMG, MD_LINK], "MaskPainter": [SCRIPT, IMG], "Gallery": [SCRIPT, IMG, MD_LINK],
                "GallerySearch": [SCRIPT, IMG]}
    for name, payloads in expected.items():
        widget = widgets[name]
        messages = [{"content": content, "buffers": [base64.b64encode(b).decode() for b in buffers]}
                    for content, buffers in widgets["sent"][type(widget).__name__]]
        page.reload()
        source = widget._esm if isinstance(widget._esm, str) else Path(widget._esm).read_text()
        result = page.evaluate(RENDER, {"src": source, "state": _browser_state(widget), "messages": messages})
        assert result["fired"] == [] and result["bad"] == [], (name, result)
        assert result["images"] >= 1, (name, result)  # the view did render what it was sent
        for payload in payloads:
            assert payload in result["text"], (name, payload, result["text"][:2000])

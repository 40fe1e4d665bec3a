"""A small Markdown to HTML renderer for model answers, safe by construction.

Model text is untrusted: every character is HTML-escaped before any markup is added, so
``<script>`` in an answer shows as text. Only a common subset is rendered (headings,
paragraphs, bullet and numbered lists, fenced code, inline code, bold, italic, http(s)
links); anything else stays readable plain text. It also renders a half-written answer
(an unclosed code fence is shown as code while the stream is still arriving).
"""

from __future__ import annotations

import re
from html import escape

__all__ = ["render"]

_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)\d{1,9}[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")

_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")


def inline(text: str) -> str:
    """Escape ``text`` and render inline code, links, bold and italic."""
    spans: list[str] = []
    text = text.replace("\x00", "")

    def keep(html: str) -> str:
        spans.append(html)
        return f"\x00{len(spans) - 1}\x00"

    # Code spans and links are cut out first so that their insides are not re-interpreted.
    text = _CODE_SPAN.sub(lambda m: keep(f"<code>{escape(m[1])}</code>"), text)
    text = _LINK.sub(
        lambda m: keep(
            f'<a href="{escape(m[2], quote=True)}" target="_blank" rel="noopener noreferrer">{escape(m[1])}</a>'
        ),
        text,
    )
    text = escape(text)
    text = _BOLD.sub(lambda m: f"<strong>{m[1] or m[2]}</strong>", text)
    text = _ITALIC.sub(lambda m: f"<em>{m[1] or m[2]}</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m[1])], text)


def render(markdown: str) -> str:
    """Render ``markdown`` to HTML in which all source text is escaped."""
    out: list[str] = []
    paragraph: list[str] = []
    list_kind: str | None = None
    code: list[str] | None = None

    def flush_paragraph() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(inline(line) for line in paragraph) + "</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal list_kind
        if list_kind:
            out.append(f"</{list_kind}>")
            list_kind = None

    for line in markdown.replace("\r\n", "\n").split("\n"):
        if code is not None:
            if _FENCE.match(line):
                out.append("<pre><code>" + escape("\n".join(code)) + "</code></pre>")
                code = None
            else:
                code.append(line)
            continue
        if _FENCE.match(line):
            flush_paragraph()
            close_list()
            code = []
            continue
        if not line.strip():
            flush_paragraph()
            close_list()
            continue
        heading = _HEADING.match(line)
        item = _BULLET.match(line) or _NUMBERED.match(line)
        if heading:
            flush_paragraph()
            close_list()
            level = len(heading[1])
            out.append(f"<h{level}>{inline(heading[2])}</h{level}>")
        elif _RULE.match(line):
            flush_paragraph()
            close_list()
            out.append("<hr>")
        elif item:
            flush_paragraph()
            kind = "ul" if _BULLET.match(line) else "ol"
            if list_kind != kind:
                close_list()
                out.append(f"<{kind}>")
                list_kind = kind
            out.append(f"<li>{inline(item[2])}</li>")
        elif list_kind and line.startswith((" ", "\t")):
            # A continuation line of the previous list item.
            last = out.pop()
            out.append(last[: -len("</li>")] + " " + inline(line.strip()) + "</li>")
        else:
            close_list()
            paragraph.append(line.strip())
    flush_paragraph()
    close_list()
    if code is not None:
        out.append("<pre><code>" + escape("\n".join(code)) + "</code></pre>")
    return "\n".join(out)

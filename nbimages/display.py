"""Notebook output for images and answers: live, updated in place, and small.

`LiveImage` shows one generation as it streams: a single output area whose picture is
replaced by each partial image as it arrives (``display_id`` + update), with a status line,
then by the final image and its caption. `LiveMarkdown` streams a text answer the same way.
The notebook only keeps a downscaled preview (WebP by default); the full image stays on
disk and the caption links to it.

Every bundle carries ``text/plain`` (what a terminal IPython prints) and
``{"nbimages": {...}}`` metadata with the image's provenance. All text that comes from
prompts, revised prompts or model answers is HTML-escaped.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from ._markdown import render as render_markdown
from .errors import describe_error

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from .conversation import Turn
    from .image import Image

__all__ = [
    "Clock",
    "LiveImage",
    "LiveMarkdown",
    "PreviewOptions",
    "error_bundle",
    "history_bundle",
    "image_bundle",
    "jobs_bundle",
    "note_bundle",
    "preview",
    "question_header",
    "usage_bundle",
]

Bundle = tuple[dict[str, Any], dict[str, Any]]

_MUTED = "opacity:.72;font-size:.88em"
_ERROR = "color:#c62828;border-left:3px solid #c62828;padding:2px 8px;margin:2px 0"
_WARNING = "color:#b26a00;border-left:3px solid #b26a00;padding:2px 8px;margin:2px 0"


@dataclass(frozen=True)
class PreviewOptions:
    """How images are embedded in the notebook."""

    max_side: int = 512  # pixels of the embedded preview's long side
    format: str = "webp"  # "webp" (small, keeps alpha), "png" or "jpeg"
    quality: int = 82
    partial_quality: int = 70  # partials are blurry anyway: cheaper and smaller


# -- previews ---------------------------------------------------------------------------
_WEB_FORMATS = ("png", "jpeg", "webp", "gif")
# An animation embeds every frame: its preview is smaller (shown in the same box, scaled up).
ANIMATED_PREVIEW_SIDE = 256
PARTIAL_AS_IS_BYTES = 96_000  # a partial this small is shown as it came: no decoding at all


def preview(image: Image, max_side: int = 512, format: str = "webp", quality: int = 82, *,
            fast: bool = False, keep_under: int = 0) -> Image:
    """A downscaled copy of ``image`` for embedding (the image itself when already suitable).

    An image of at most ``keep_under`` bytes in a format browsers show is returned as it is
    (the browser scales it). ``fast`` trades a little sharpness for speed (partial images):
    a box reduction, a bilinear finish and the quickest encoder setting. JPEGs are scaled
    while decoding. An SVG is shown as it is and an animated GIF stays animated, at most
    ANIMATED_PREVIEW_SIDE a side (see `Image.thumbnail`), whatever ``format`` says.
    """
    from io import BytesIO

    from PIL import Image as PIL

    from .image import Image as NbImage

    if image.format in _WEB_FORMATS and image.nbytes <= keep_under:
        return image
    if image.format == "svg":
        return image
    if image.is_animated:
        return image.thumbnail(min(max_side, ANIMATED_PREVIEW_SIDE))
    width, height = image.width or 0, image.height or 0
    fits = 0 < max(width, height) <= max_side
    if fits and (image.format == format or image.format in ("jpeg", "webp")):
        return image
    pil: PILImage = PIL.open(BytesIO(image.data))
    if pil.format == "JPEG" and not fits:
        pil.draft("L" if pil.mode == "L" else "RGB", (max_side, max_side))
    has_alpha = pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info)
    if pil.mode not in ("RGB", "RGBA", "L"):
        pil = pil.convert("RGBA" if has_alpha else "RGB")
    resample = PIL.Resampling.BILINEAR if fast else PIL.Resampling.LANCZOS
    pil.thumbnail((max_side, max_side), resample=resample, reducing_gap=1.0 if fast else 2.0)
    if format == "jpeg" and has_alpha:
        format = "webp"
    buffer = BytesIO()
    try:
        if format == "webp":
            pil.save(buffer, "WEBP", quality=quality, method=0 if fast else 4)
        elif format == "jpeg":
            pil.save(buffer, "JPEG", quality=quality)
        else:
            pil.save(buffer, "PNG", compress_level=1 if fast else 6)
    except (KeyError, OSError):  # a Pillow built without WebP
        buffer = BytesIO()
        pil.save(buffer, "PNG", compress_level=1 if fast else 6)
    return NbImage(buffer.getvalue())


def _partial_preview(image: Image, options: PreviewOptions) -> Image:
    # JPEG encodes ten times faster than WebP; transparent partials fall back to WebP.
    return preview(image, options.max_side, "jpeg", options.partial_quality, fast=True,
                   keep_under=PARTIAL_AS_IS_BYTES)


def _box(image: Image, max_side: int) -> tuple[int, int]:
    """Where the image is drawn: its size scaled to fit ``max_side`` (partials use the same box)."""
    width, height = image.width or max_side, image.height or max_side
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shown_or_problem(image: Image, make: Any) -> tuple[Image | None, str]:
    """``make(image)`` (a preview), or why the image cannot be shown: an output never breaks
    on an image that does not decode (a damaged file, a bad server reply)."""
    from .image import DECODE_ERRORS, decode_error_text, header_problem

    problem = header_problem(image.data)
    if problem:
        return None, problem
    try:
        return make(image), ""
    except DECODE_ERRORS as exc:
        return None, f"it does not decode ({decode_error_text(exc)})"
    except Exception as exc:  # Pillow's DecompressionBombError and the like
        return None, decode_error_text(exc)


def _picture(image: Image, side: int, alt: str, make: Any, *, faded: bool = False) -> str:
    """The preview's ``<img>``, or a box of the same size saying why the image cannot be shown."""
    shown, problem = _shown_or_problem(image, make)
    box = _box(image, side)
    if shown is not None:
        return _img_tag(shown, box, alt, faded=faded)
    width, height = box
    return (f'<div style="width:{width}px;max-width:100%;height:{height}px;display:flex;'
            f'align-items:center;justify-content:center;border:1px dashed rgba(128,128,128,.6);'
            f'border-radius:4px;{_MUTED};text-align:center">this image cannot be shown: {escape(problem)}</div>')


def _img_tag(shown: Image, box: tuple[int, int], alt: str, *, faded: bool = False) -> str:
    style = "max-width:100%;height:auto;border-radius:4px"
    if faded:
        style += ";filter:saturate(.85)"
    alt = escape(_short(alt, 300), quote=True)  # long prompts would be sent twice with every partial
    return (
        f'<img src="{shown.to_data_url()}" width="{box[0]}" height="{box[1]}" '
        f'alt="{alt}" title="{alt}" style="{style}">'
    )


def file_link(path: str | os.PathLike[str] | None) -> str:
    """HTML naming where a file was saved: a relative link when the notebook can serve it."""
    if path is None:
        return ""
    path = Path(path)
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return f'<code style="user-select:all">{escape(str(path))}</code>'
    href = escape("/".join(quote(part) for part in relative.parts), quote=True)  # '#', '?', spaces
    return f'<a href="{href}" target="_blank" title="the full-size image">{escape(relative.as_posix())}</a>'


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _image_meta(images: Sequence[Image], **extra: Any) -> dict[str, Any]:
    if not images:
        return {"nbimages": dict(extra)}
    meta = {**images[0].describe_meta(), **extra}
    if len(images) > 1:
        meta["images"] = [img.describe_meta() for img in images]
    return {"nbimages": meta}


# -- errors -----------------------------------------------------------------------------
def _error_line(exc: BaseException) -> tuple[str, str]:
    said = describe_error(exc)
    html = (
        f'<div style="{_ERROR}"><b>{escape(said.name)}</b>' + (f": {escape(said.message)}" if said.message else "")
        + (f' <span style="opacity:.85">— {escape(said.hint)}</span>' if said.hint else "")
        + "</div>"
    )
    return str(said), html


def error_bundle(exc: BaseException, partial: Image | None = None,
                 options: PreviewOptions = PreviewOptions(), *, images: Sequence[Image] = ()) -> Bundle:
    """One clear line; above it the images a broken stream completed, or else its last partial image."""
    text, html = _error_line(exc)
    meta: dict[str, Any] = {"error": type(exc).__name__}
    shown = list(images) or ([partial] if partial is not None else [])
    if shown:
        # This output stays in the notebook: a real preview, never the full-size partial.
        label = "completed image" if images else "last partial image"
        side = options.max_side if len(shown) == 1 else max(128, options.max_side // 2)
        quality = options.quality if images else options.partial_quality
        pictures = "".join(
            _picture(img, side, label, lambda i: preview(i, side, options.format, quality), faded=not images)
            for img in shown)
        html = f'<div class="nbimages">{pictures}{html}</div>'
        text += "".join(f"\n{label} saved to {img.path}" for img in shown if img.path is not None)
        meta = _image_meta(shown, kind="final" if images else "partial", **meta)["nbimages"]
    return {"text/html": html, "text/plain": "nbimages: " + text}, {"nbimages": meta}


# -- one output area, updated in place --------------------------------------------------
class Publisher(Protocol):
    """Where an output goes instead of ``display``: e.g. a `CellOutput`, the cell of a background job."""

    def publish(self, data: dict[str, Any], metadata: dict[str, Any], *, display_id: str, update: bool) -> None: ...


class _Output:
    """A display that is shown once and then updated in place (in the running cell, or through ``to``)."""

    def __init__(self, to: Publisher | None = None) -> None:
        self.display_id: str | None = None
        self.started = time.monotonic()
        self._to = to

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def publish(self, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        from IPython.display import display

        update = self.display_id is not None
        if self.display_id is None:
            self.display_id = uuid.uuid4().hex
        if self._to is not None:
            self._to.publish(data, metadata, display_id=self.display_id, update=update)
        else:
            display(data, raw=True, metadata=metadata, display_id=self.display_id, update=update)  # type: ignore[no-untyped-call]


class Clock(Protocol):
    """A live line shown under the image that keeps the time itself (`widgets.ImageActions`)."""

    def status(self, phase: str, elapsed: float) -> None: ...
    def finished(self, images: Sequence[Image], prompt: str) -> None: ...
    def stopped(self, kept: Image | None = None) -> None: ...
    def _repr_mimebundle_(self, **kwargs: Any) -> Any: ...


class LiveImage(_Output):
    """A generation in progress: status line, partial images, then the final image.

    ``partials`` is how many partial images were asked for ("partial 1 of 2");
    ``backend`` is shown in the status line ("offline simulator").

    With a ``clock`` (a widget, in a notebook that shows widgets) the time and the phase are
    its line under the output, which ticks in the browser, and then its actions; the
    output keeps the picture and what stays true (model, backend). Without one, the status
    line has the time: with ``tick`` > 0 a background thread refreshes it every ``tick``
    seconds until the first picture arrives (a high quality image can take a minute before
    its first partial, and a frozen "0.0 s" looks like a hang; pictures are not refreshed:
    that would send them again).
    """

    def __init__(self, prompt: str, *, model: str | None = None, backend: str | None = None,
                 partials: int = 0, options: PreviewOptions = PreviewOptions(), tick: float = 0.0,
                 to: Publisher | None = None, clock: Clock | None = None) -> None:
        super().__init__(to)
        self.prompt = prompt
        self.model = model
        self.backend = backend
        self.partials_expected = partials
        self.options = options
        self.last_partial: Image | None = None
        self._shown: tuple[Image, tuple[int, int]] | None = None  # the preview on screen
        self._tick = tick
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._state = ""
        self._last_at = 0.0
        self._ticker: threading.Thread | None = None
        self._queued = False
        self._clock = clock

    def _status(self, state: str) -> str:
        if self._clock is not None:
            return " · ".join(p for p in (self.model, self.backend) if p)
        return " · ".join(p for p in (self.model, self.backend, f"{self.elapsed:.1f} s", state) if p)

    def publish(self, data: dict[str, Any], metadata: dict[str, Any]) -> None:
        first = self.display_id is None
        super().publish(data, metadata)
        if first and self._clock is not None:  # its line goes under the output, once
            _Output(self._to).publish(*self._clock._repr_mimebundle_())

    def _publish_status(self, state: str, meta: dict[str, Any]) -> None:
        with self._lock:
            if self._done.is_set():
                return
            status = self._status(state)
            html = f'<div style="{_MUTED}">{escape(status)}</div>'
            if self._shown is not None:
                shown, box = self._shown
                html = f'<div class="nbimages">{_img_tag(shown, box, self.prompt, faded=True)}{html}</div>'
            self.publish({"text/html": html, "text/plain": f"nbimages: {status}"}, {"nbimages": meta})
            if self._clock is not None:
                self._clock.status(state, self.elapsed)
            self._state = state
            self._last_at = time.monotonic()

    def _refresh(self) -> None:
        while self._shown is None:
            if self._done.wait(max(self._last_at + self._tick - time.monotonic(), 0.0)):
                return
            if self._shown is None and time.monotonic() - self._last_at >= self._tick:
                self._publish_status(self._state, {"kind": "status", "prompt": self.prompt, "refresh": True})

    def stop(self) -> None:
        """Stop refreshing: nothing of the status line is published after this."""
        with self._lock:
            self._done.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()

    def show(self, state: str = "sending the request…", *, queued: bool = False) -> None:
        """Show the status line; the clock counts from here (``queued``: it counts again at the next show)."""
        if not queued and self._queued:
            self.started = time.monotonic()
        self._queued = queued
        self._publish_status(state, {"kind": "queued" if queued else "status", "prompt": self.prompt})
        if self._tick > 0 and self._ticker is None and self._clock is None:
            # The copied context carries the kernel's parent message: the refreshes land in this cell.
            context = contextvars.copy_context()
            self._ticker = threading.Thread(target=context.run, args=(self._refresh,), daemon=True,
                                            name="nbimages-status")
            self._ticker.start()

    def progress(self, state: str) -> None:
        """A new status (e.g. "generating", "in_progress") keeping the current picture."""
        self._publish_status(state.replace("_", " "), {"kind": "status", "prompt": self.prompt})

    def completed(self, image: Image, number: int, total: int) -> None:
        """Image ``number`` of ``total`` is done; `final` shows them all once the last one is."""
        if number < total:
            self.progress(f"image {number} of {total} done")

    def partial(self, image: Image, index: int) -> None:
        """Show partial image ``index`` (0-based) in place of the previous one."""
        self.last_partial = image
        o = self.options
        # Shrunk even though the final image replaces it: Jupyter autosaves during long generations,
        # and a remote front end waits for every byte (a 2 MB partial is a 2.8 MB message).
        shown, problem = _shown_or_problem(image, lambda i: _partial_preview(i, o))
        if shown is not None:
            self._shown = (shown, _box(image, o.max_side))
        total = max(self.partials_expected, index + 1)
        state = f"partial {index + 1} of {total}" + (f" (cannot be shown: {problem})" if problem else "")
        if index + 1 >= total:  # the clock stops with a picture on screen: say that more is coming
            state += " · finishing the final image…"
        self._publish_status(state, {"kind": "partial", "index": index, "prompt": self.prompt})

    def final(self, images: Sequence[Image], *, cached: bool = False, text: str = "", not_saved: str = "") -> None:
        """Replace the live area with the final image(s) and the caption."""
        self.stop()
        elapsed = None if cached else self.elapsed
        self.publish(*image_bundle(images, options=self.options, cached=cached, elapsed=elapsed,
                                   backend=self.backend, text=text, prompt=self.prompt, not_saved=not_saved))
        if self._clock is not None:
            self._clock.finished(images, self.prompt)

    def error(self, exc: BaseException, partial: Image | None = None, images: Sequence[Image] = ()) -> None:
        self.stop()
        self.publish(*error_bundle(exc, partial, self.options, images=images))
        if self._clock is not None:
            self._clock.stopped(partial)

    def interrupted(self, saved: Image | None = None, *, why: str = "interrupted") -> None:
        """Keep the picture on screen, say so (``why``: "interrupted", "cancelled"), and where the
        last partial image was saved."""
        where = f" · last partial image saved to {saved.path}" if saved is not None and saved.path else ""
        if self._clock is not None:  # what happened stays in the output, where the time no longer is
            self._clock.stopped(saved)
            self._clock = None
        self._publish_status(why + where, {"kind": why, "prompt": self.prompt})
        self.stop()


def not_saved_line(error: BaseException, output: str | None = None) -> str:
    """Why an image is only in memory, and how to keep it."""
    why = " ".join(str(error).split())
    if not why.startswith("not saved"):
        why = f"not saved to the store: {why}"
    kept = f"kept in memory as {output}" if output else "kept in memory (in the conversation: %imagine_history)"
    how = f"{output}.save('image.png')" if output else "nbimages.current_conversation().image.save('image.png')"
    return f"{why} — the image is {kept}; {how} writes it elsewhere"


def image_bundle(images: Sequence[Image], *, options: PreviewOptions = PreviewOptions(), cached: bool = False,
                 elapsed: float | None = None, backend: str | None = None, text: str = "",
                 prompt: str | None = None, note: str = "", not_saved: str = "") -> Bundle:
    """Final images with a caption: revised prompt, size, model, where the full image is
    (or ``not_saved``: why it is only in memory)."""
    if not images:
        body = escape(text) if text else "no image came back"
        return ({"text/html": f'<div style="{_MUTED}">{body}</div>', "text/plain": text or "no image came back"},
                {"nbimages": {"kind": "final", "prompt": prompt}})
    first = images[0]
    prompt = prompt or first.prompt or ""
    pictures = []
    side = options.max_side if len(images) == 1 else max(128, options.max_side // 2)
    for img in images:
        picture = _picture(img, side, img.revised_prompt or prompt,
                           lambda i: preview(i, options.max_side, options.format, options.quality))
        pictures.append(f"<figure style=\"margin:0\">{picture}"
                        f"<figcaption style=\"{_MUTED}\">{file_link(img.path)}</figcaption></figure>"
                        if len(images) > 1 else picture)
    facts = [f"{first.width}×{first.height}" if first.width else None,
             f"{first.frame_count} frames" if first.is_animated else None, first.model,
             (first.params or {}).get("quality"), backend, f"{elapsed:.1f} s" if elapsed is not None else None]
    facts_text = " · ".join(str(f) for f in facts if f)
    lines_html, lines_text = [], []
    said = first.revised_prompt or ""
    if said and said.strip() != prompt.strip():
        lines_html.append(f"<div><i>“{escape(said)}”</i></div>")
        lines_text.append(f"revised prompt: {said}")
    if text:
        lines_html.append(f"<div>{render_markdown(text)}</div>")
        lines_text.append(text)
    where = ""
    if len(images) == 1 and first.path is not None:
        where = f" · saved as {file_link(first.path)}"
    lines_html.append(f'<div style="{_MUTED}">{escape(facts_text)}{where}</div>')
    lines_text.insert(0, facts_text)
    lines_text += [f"saved to {img.path}" for img in images if img.path is not None]
    if cached:
        lines_html.append(f'<div style="{_MUTED}">reused from the store: no request was made '
                          "(<code>--fresh</code> makes a new one)</div>")
        lines_text.append("reused from the store: no request was made (--fresh makes a new one)")
    if note:
        lines_html.append(f'<div style="{_MUTED}">{escape(note)}</div>')
        lines_text.append(note)
    if not_saved:
        lines_html.append(f'<div style="{_WARNING}">{escape(not_saved)}</div>')
        lines_text.append(not_saved)
    gallery = "".join(pictures) if len(pictures) == 1 else (
        f'<div style="display:flex;flex-wrap:wrap;gap:8px">{"".join(pictures)}</div>')
    html = f'<div class="nbimages">{gallery}{"".join(lines_html)}</div>'
    return ({"text/html": html, "text/plain": "\n".join(lines_text)},
            _image_meta(images, kind="final", cached=cached))


def _prints_updates() -> bool:
    """Whether displays go to IPython's plain publisher, which prints every update (a terminal)."""
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance() if InteractiveShell.initialized() else None
    return shell is None or type(shell.display_pub) is DisplayPublisher


class LiveMarkdown(_Output):
    """A streamed text answer rendered as (escaped) Markdown in one output area.

    ``append`` re-renders at most every ``min_interval`` seconds; ``done`` renders the rest.
    In a terminal, where every update would be printed again, the words are written as they
    come instead.
    """

    def __init__(self, *, header_html: str = "", header_text: str = "", meta: dict[str, Any] | None = None,
                 min_interval: float = 0.05, to: Publisher | None = None) -> None:
        super().__init__(to)
        self.header_html = header_html
        self.header_text = header_text
        self.meta = dict(meta or {})
        self.min_interval = min_interval
        self.text = ""
        self._last = float("-inf")  # the first words show at once
        self._terminal = to is None and _prints_updates()

    def _bundle(self, footer: str) -> Bundle:
        body = render_markdown(self.text) if self.text else ""
        html = (f'<div class="nbimages-answer">{self.header_html}{body}'
                + (f'<div style="{_MUTED}">{escape(footer)}</div>' if footer else "") + "</div>")
        text = "\n\n".join(part for part in (self.header_text, self.text or footer) if part)
        return {"text/html": html, "text/plain": text}, {"nbimages": self.meta}

    def _write(self, text: str) -> None:
        import sys

        sys.stdout.write(text)
        sys.stdout.flush()

    def show(self, status: str = "asking…") -> None:
        self.publish(*self._bundle(status))

    def append(self, delta: str) -> None:
        self.text += delta
        if self._terminal:
            self._write(delta)
            return
        now = time.monotonic()
        if now - self._last >= self.min_interval:
            self._last = now
            self.publish(*self._bundle("…"))

    def done(self, text: str | None = None, footer: str = "") -> None:
        if self._terminal:
            if text and text != self.text:
                self._write(text[len(self.text):] if text.startswith(self.text) else "\n" + text)
            self._write("\n" + (footer + "\n" if footer else ""))
        if text:
            self.text = text
        self.meta["answer_chars"] = len(self.text)
        if not self._terminal:
            self.publish(*self._bundle(footer))

    def error(self, exc: BaseException) -> None:
        text, html = _error_line(exc)
        if self._terminal:
            self._write(("\n" if self.text else "") + "nbimages: " + text + "\n")
            return
        data, meta = self._bundle("")
        data["text/html"] = data["text/html"][: -len("</div>")] + html + "</div>"
        data["text/plain"] = (self.text + "\n" if self.text else "") + "nbimages: " + text
        self.publish(data, {"nbimages": {**meta["nbimages"], "error": type(exc).__name__}})


def thumbnail_html(image: Image, max_side: int = 160, format: str = "webp", alt: str = "") -> str:
    return _picture(image, max_side, alt, lambda i: preview(i, max_side, format, 75))


def question_header(source: Image | str, question: str, *, format: str = "webp") -> str:
    """The image asked about (a thumbnail, or the link to its URL) beside the question, the one
    place the question is shown (the picture's alt text does not repeat it)."""
    if isinstance(source, str):
        picture = f'<a href="{escape(source, quote=True)}" target="_blank">{escape(source)}</a>'
    else:
        picture = thumbnail_html(source, 160, format, "the image asked about")
    return (f'<div style="display:flex;gap:10px;align-items:flex-start;margin-bottom:4px">{picture}'
            f'<div style="{_MUTED}">{escape(question)}</div></div>')


def note_bundle(text: str, **meta: Any) -> Bundle:
    """A short line of text, muted (e.g. "Nothing to undo.")."""
    return {"text/plain": text, "text/html": f'<div style="opacity:.72">{escape(text)}</div>'}, {"nbimages": meta}


# -- history and usage ------------------------------------------------------------------
# How a turn's image was made, in a notebook user's words (the endpoint stays in the metadata).
_HOW_MADE = {"images/generations": "generated", "images/edits": "edited", "images/variations": "a variation",
             "responses": "refined in a conversation"}


def history_bundle(turns: Sequence[Turn], head: Turn | None, *, thumb: int = 160, format: str = "webp") -> Bundle:
    """Thumbnails and prompts of a line of work, the current turn marked. A click on a card
    opens it (``<details>``, no JavaScript): the full prompt, the file and how to load it."""
    if not turns:
        return ({"text/html": f'<div style="{_MUTED}">No images yet: run a %%imagine cell.</div>',
                 "text/plain": "No images yet: run a %%imagine cell."}, {"nbimages": {"kind": "history", "turns": []}})
    cards, lines, meta = [], [], []
    for number, turn in enumerate(turns, 1):
        current = turn is head
        path = turn.image.path if turn.image is not None else None
        cards.append(_history_card(number, turn, current, thumb, format))
        lines.append(f"{'→' if current else ' '} {number}. {_short(turn.prompt, 70)}{f'  [{path}]' if path else ''}")
        meta.append({"id": turn.id, "prompt": turn.prompt, "api": turn.api, "current": current,
                     "path": str(path) if path else None})
    html = (f'<div class="nbimages-history" style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">'
            f'{"".join(cards)}</div>')
    return {"text/html": html, "text/plain": "\n".join(lines)}, {"nbimages": {"kind": "history", "turns": meta}}


def _history_card(number: int, turn: Turn, current: bool, thumb: int, format: str) -> str:
    image = turn.image
    border = "2px solid #1e88e5" if current else "1px solid rgba(128,128,128,.35)"
    picture = (thumbnail_html(image, thumb, format, turn.prompt) if image is not None
               else f'<div style="width:{thumb}px;{_MUTED}">(text only)</div>')
    how = _HOW_MADE.get(str(image.params.get("endpoint")), "") if image is not None else ""
    if how == _HOW_MADE["responses"] and turn.parent is None:
        how = "made in a conversation"
    size = f"{image.width}×{image.height}" if image is not None and image.width else ""
    tags = [t for t in ("current" if current else "", "reused" if turn.cached else "", how,
                        image.model if image is not None else "", size) if t]

    def row(label: str, value: str) -> str:
        return (f'<div style="{_MUTED}">{escape(label)}</div>'
                f'<code style="user-select:all;overflow-wrap:anywhere">{escape(value)}</code>')

    shown = _short(turn.prompt, 90)
    opened = []
    if shown != turn.prompt:  # the whole prompt, where the card shortened it
        opened.append(f'<div style="white-space:pre-wrap;overflow-wrap:anywhere">{escape(turn.prompt)}</div>')
    if image is not None and image.path is not None:
        opened += [row("saved to", str(image.path)), row("in Python", f"nbimages.Image.open({str(image.path)!r})")]
    elif image is not None:
        opened.append(row("not saved to the store; in Python",
                          f"nbimages.current_conversation().checkout({turn.id}).image"))
    opened.append(f'<div style="{_MUTED}">turn id {turn.id}</div>')
    return (f'<details style="width:{thumb}px;padding:4px;border:{border};border-radius:6px">'
            f'<summary style="list-style:none;cursor:pointer" title="click for the full prompt and the file">'
            f'{picture}<div style="font-size:.85em"><b>{number}.</b> {escape(shown)}</div>'
            f'<div style="{_MUTED}">{escape(" · ".join(tags))}</div></summary>'
            f'<div style="font-size:.85em;display:grid;gap:2px;margin-top:4px">{"".join(opened)}</div></details>')


_USAGE_COLUMNS = (
    ("model", "model"), ("requests", "requests"), ("images", "images"), ("cached", "reused"),
    ("input_tokens", "input tokens"), ("output_tokens", "output tokens"), ("estimated_cost_usd", "est. cost (USD)"),
)


def _cell(key: str, value: Any) -> str:
    if key == "estimated_cost_usd":
        return "unknown" if value is None else f"${value:,.4f}"  # a price not in prices.json is never guessed
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def usage_bundle(rows: Sequence[dict[str, Any]]) -> Bundle:
    """Requests, tokens and estimated cost per model, as a small table."""
    if not rows:
        text = "No usage recorded yet."
        return {"text/html": f'<div style="{_MUTED}">{text}</div>', "text/plain": text}, {"nbimages": {"kind": "usage"}}
    totals: dict[str, Any] = {"model": "total"}
    for key, _ in _USAGE_COLUMNS[1:]:
        values = [row.get(key) for row in rows]
        known = [v for v in values if v is not None]
        totals[key] = sum(known) if known else None
    table = [[label for _, label in _USAGE_COLUMNS]]
    table += [[_cell(key, row.get(key)) for key, _ in _USAGE_COLUMNS] for row in [*rows, totals]]
    if totals["estimated_cost_usd"] is not None and any(row.get("estimated_cost_usd") is None for row in rows):
        table[-1][-1] = "≥ " + table[-1][-1]  # the known part; some models' prices are unknown
    widths = [max(len(r[i]) for r in table) for i in range(len(_USAGE_COLUMNS))]
    text = "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in table)
    th = "".join(f'<th style="text-align:{"left" if i == 0 else "right"}">{escape(c)}</th>'
                 for i, c in enumerate(table[0]))
    body = []
    for n, r in enumerate(table[1:]):
        weight = "font-weight:600;" if n == len(table) - 2 else ""
        body.append("<tr>" + "".join(
            f'<td style="{weight}text-align:{"left" if i == 0 else "right"}">{escape(c)}</td>' for i, c in enumerate(r)
        ) + "</tr>")
    html = (f'<table class="nbimages-usage"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<div style="{_MUTED}">Estimated from token counts and published prices; '
            "reused images cost nothing.</div>")
    return {"text/html": html, "text/plain": text}, {"nbimages": {"kind": "usage", "rows": list(rows)}}


# -- background jobs --------------------------------------------------------------------
_JOB_COLUMNS = (("id", "job"), ("state", "state"), ("elapsed", "elapsed"), ("progress", "received"),
                ("where", "shown in"), ("prompt", "prompt"))


def _job_cell(key: str, value: Any) -> str:
    if key == "elapsed":
        return f"{value:.1f} s"
    return _short(str(value), 60) if key == "prompt" else str(value)


def jobs_bundle(rows: Sequence[dict[str, Any]]) -> Bundle:
    """The background jobs (rows of `nbimages.jobs.describe`), oldest first, and how to cancel one."""
    meta = {"nbimages": {"kind": "jobs", "jobs": list(rows)}}
    if not rows:
        text = "No background jobs: %%imagine --no-wait starts one."
        return {"text/html": f'<div style="{_MUTED}">{escape(text)}</div>', "text/plain": text}, meta
    table = [[label for _, label in _JOB_COLUMNS]]
    table += [[_job_cell(key, row[key]) for key, _ in _JOB_COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_JOB_COLUMNS) - 1)]
    text = "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]) for r in table)
    hint = "%imagine_jobs --cancel ID (or all) cancels"
    th = "".join(f'<th style="text-align:left">{escape(c)}</th>' for c in table[0])
    body = "".join("<tr>" + "".join(f'<td style="text-align:left">{escape(c)}</td>' for c in r) + "</tr>"
                   for r in table[1:])
    html = (f'<table class="nbimages-jobs"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'
            f'<div style="{_MUTED}">{escape(hint)}</div>')
    return {"text/html": html, "text/plain": f"{text}\n{hint}"}, meta

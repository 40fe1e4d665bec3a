"""`Studio`: prompt, options, a live preview of every partial image, follow-ups and history.

The kernel's `Conversation` does the work (and stores every finished image); the Studio is
a front end over it. Each run is a `TurnRunner` in a worker thread, so the widget keeps
answering (Cancel closes the stream's connection). Previews travel as binary messages; synced state
holds only the current image's thumbnail.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import traitlets

from .. import config
from ..errors import InvalidInputError
from ..runner import TurnRunner
from ._base import NbImagesWidget, one_line, static_file
from ._wire import encode_thumbnail, preview_bytes, send_image, send_thumbnails, strip_thumbnail

if TYPE_CHECKING:
    from ..client import Client
    from ..conversation import Conversation, Turn
    from ..image import Image

__all__ = ["Studio"]

SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
FLEXIBLE_SIZES = ("1536x864", "864x1536", "2048x1152", "2560x1440", "3840x2160")  # for models that take any size
QUALITIES = ("auto", "low", "medium", "high", "xhigh", "max")
COMPLEXITIES = ("auto", "low", "medium", "high")
FORMATS = ("png", "jpeg", "webp", "gif", "svg")
HISTORY_THUMB_SIDE = 96
# A run that ends early (cancelled, broken) makes no turn; its partial images go to the store
# as partials, and the last one stays in the preview.
PARTIAL_LEFT = "the last partial image stays on screen but is not added to the history"


class _Shown(NamedTuple):
    """What the preview shows (sent again to a new view)."""

    image: Image | None
    final: bool = True
    partial: int | None = None  # the partial image's index; None for a final image
    badge: bool = True  # False: the current image shown again after a failed run


class _Job:
    """One generation or refinement: its `TurnRunner`, the worker thread, what came of it."""

    def __init__(self, studio: Studio, kind: str, prompt: str, options: dict[str, Any]) -> None:
        self.kind = kind
        self.runner = TurnRunner(studio.conversation, "send" if kind == "refine" else "generate", prompt,
                                 options=options,
                                 on_partial=lambda image, index: studio._on_partial(self, image, index),
                                 on_completed=lambda image, number, total: studio._on_completed(self, image))
        self.final_shown = False
        self.turn: Turn | None = None
        self.error: BaseException | None = None
        self.started = time.monotonic()
        self.thread = threading.Thread(target=studio._run, args=(self,), name="nbimages-studio", daemon=True)


class Studio(NbImagesWidget):
    """Generate and refine images by clicking, with a live preview.

    ``Studio()`` works on the kernel's shared conversation (the one ``%%imagine`` uses);
    pass ``conversation=`` or ``client=`` for a separate one. In Python: ``generate(prompt)``,
    ``refine(prompt)``, ``cancel()``, ``checkout(turn)``, ``wait()``; ``image`` is the current
    image, ``partials`` the partial images of the last run, ``running`` whether its worker
    or connection is still alive.
    """

    _esm = static_file("studio.js")

    prompt = traitlets.Unicode("").tag(sync=True)
    followup = traitlets.Unicode("").tag(sync=True)  # the follow-up box; emptied once a refinement succeeds
    model = traitlets.Unicode("").tag(sync=True)  # "" = the configured default image model
    size = traitlets.Unicode("auto").tag(sync=True)
    quality = traitlets.Unicode("auto").tag(sync=True)
    partial_images = traitlets.Int(2, min=0, max=config.MAX_PARTIAL_IMAGES).tag(sync=True)
    complexity = traitlets.Unicode("auto").tag(sync=True)
    output_format = traitlets.Unicode("png").tag(sync=True)  # gif and svg arrive whole, without partials
    frame_count = traitlets.Int(9, min=config.GIF_FRAMES[0], max=config.GIF_FRAMES[1]).tag(sync=True)
    safety_identifier = traitlets.Unicode("")  # set from Python only: a hashed id of the app's end user
    busy = traitlets.Bool(False).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error_request_id = traitlets.Unicode("").tag(sync=True)  # the server's id of the failed request, for support
    caption = traitlets.Unicode("").tag(sync=True)
    backend = traitlets.Unicode("").tag(sync=True)
    default_model = traitlets.Unicode("").tag(sync=True)
    sizes = traitlets.List(traitlets.Unicode(), list(SIZES)).tag(sync=True)
    qualities = traitlets.List(traitlets.Unicode(), list(QUALITIES)).tag(sync=True)
    complexities = traitlets.List(traitlets.Unicode(), list(COMPLEXITIES)).tag(sync=True)
    formats = traitlets.List(traitlets.Unicode(), list(FORMATS)).tag(sync=True)
    history = traitlets.List(traitlets.Dict()).tag(sync=True)  # text only; thumbnails go as messages
    head = traitlets.Int(0).tag(sync=True)  # id of the current turn (0: none)

    def __init__(self, conversation: Conversation | None = None, client: Client | None = None,
                 **kwargs: Any) -> None:
        from ..conversation import Conversation, current_conversation

        if conversation is None:
            conversation = Conversation(client) if client is not None else current_conversation()
        elif client is not None:
            raise InvalidInputError("client", client, "either conversation= or client=, not both")
        self.conversation = conversation
        self._job: _Job | None = None
        self._lock = threading.Lock()
        self._sent_thumbs: set[int] = set()
        self._shown = _Shown(None)
        super().__init__(**kwargs)
        self.backend = conversation.client.backend
        self.default_model = conversation.image_model or config.image_model()
        self._offer_choices_of_model()
        self._show_conversation(preview=False, thumbs=False)  # no view yet: it asks with "hello"

    @traitlets.validate("size", "quality", "complexity", "output_format", "safety_identifier")
    def _check_option(self, proposal: Any) -> str:
        from ..options import validate_generation_options

        value = proposal["value"]
        if value and value != "auto":  # refused here, not later in the worker thread
            validate_generation_options({proposal["trait"].name: value})
        return str(value)

    @traitlets.observe("error")
    def _error_changed(self, change: Any) -> None:
        self.error_request_id = ""  # an id belongs to one error; `_finish` sets it after the error

    @traitlets.observe("model", "default_model")
    def _model_changed(self, change: Any) -> None:
        self._offer_choices_of_model()

    def _offer_choices_of_model(self) -> None:
        """The size and quality menus list what the chosen model takes (all of them for a
        model the SDK documents no rule for); a choice it does not take goes back to auto."""
        sizes, qualities = menu_choices(self.model.strip() or self.default_model)
        self.sizes, self.qualities = sizes, qualities
        if self.size not in sizes:
            self.size = "auto"
        if self.quality not in qualities:
            self.quality = "auto"

    # -- Python API -------------------------------------------------------------------
    @property
    def image(self) -> Image | None:
        """The current image of the conversation."""
        return self.conversation.image

    @property
    def partials(self) -> list[Image]:
        """Partial images of the last (or current) run, also when it was cancelled or broke."""
        job = self._job
        return list(job.runner.partials) if job is not None else []

    @property
    def last_error(self) -> BaseException | None:
        job = self._job
        return job.error if job is not None else None

    @property
    def running(self) -> bool:
        """True until the last run's worker thread has ended and its connection is closed.

        ``busy`` turns False as soon as Cancel is clicked; ``running`` stays True while the
        worker is still winding down.
        """
        job = self._job
        if job is None:
            return False
        return job.thread.is_alive() or not job.runner.closed

    def generate(self, prompt: str | None = None) -> None:
        """Start a new image from ``prompt`` (default: the prompt box) with the chosen options.

        The prompt box shows the prompt used.
        """
        text = self.prompt if prompt is None else prompt
        self._start("generate", text)
        self.prompt = text

    def refine(self, prompt: str | None = None) -> None:
        """Refine the current image with a follow-up instruction (default: the follow-up box).

        The follow-up box shows the instruction while it runs and is emptied once it succeeded.
        """
        text = self.followup if prompt is None else prompt
        self._start("refine", text)
        self.followup = text

    def cancel(self) -> None:
        """Stop the running generation; its partial images stay in ``partials``."""
        job = self._job
        if job is None or not self.busy:
            return
        job.runner.cancel()
        self._finish(job, cancelled=True)

    def wait(self, timeout: float | None = None) -> Turn | None:
        """Block until the running generation ends; returns its turn (None if it did not complete)."""
        job = self._job
        if job is None:
            return None
        job.thread.join(timeout)
        return job.turn

    def checkout(self, turn: Turn | int) -> None:
        """Go back to any turn of the conversation; the next refinement continues from it."""
        if self.busy:
            raise InvalidInputError("turn", turn, "no generation running (cancel it first)")
        self.conversation.checkout(turn)
        self.error = ""
        self.refresh()

    def close(self) -> None:
        """Stop any running generation, then close the widget."""
        if hasattr(self, "_job"):  # not when __init__ refused its arguments (close runs from __del__)
            self.cancel()
        super().close()

    def refresh(self) -> None:
        """Show the conversation as it is now (e.g. after ``%%imagine`` added turns)."""
        self._show_conversation(preview=True)

    def _show_conversation(self, *, preview: bool, thumbs: bool = True, status: str | None = None) -> None:
        """History, thumbnail, caption and ``status`` (by default, a description of the current image)."""
        conv = self.conversation
        line = {t.id for t in conv.turns}
        head = conv.head
        self.history = [
            {"id": t.id, "prompt": t.prompt, "api": t.api, "parent": t.parent.id if t.parent else 0,
             "in_line": t.id in line}
            for t in conv.all_turns
            if t.image is not None
        ]
        self.head = head.id if head is not None else 0
        current = conv.image
        if not self.busy:
            self.thumbnail = encode_thumbnail(current) if current is not None else b""
            self.caption = _caption(current)
            self.status = status if status is not None else self._describe(current) if current is not None else ""
        if thumbs:
            self._send_history_thumbs()
        if current is not None and (preview or self._shown.image is None):
            self._shown = _Shown(current)
        if preview and current is not None and not self.busy:
            self._send_preview(current, final=True)

    # -- actions from the view ---------------------------------------------------------
    def _action_hello(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self._sent_thumbs.clear()  # a new view has none of them yet
        self._send_history_thumbs()
        image, final, index, badge = self._shown
        if image is not None:
            self._send_preview(image, final=final, index=index, badge=badge)

    def _action_generate(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.prompt = str(content.get("prompt", self.prompt))
        self.generate()

    def _action_refine(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.followup = str(content.get("prompt", self.followup))
        self.refine()

    def _action_cancel(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.cancel()

    def _action_checkout(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.checkout(int(content["id"]))

    def _target(self, content: dict[str, Any]) -> Image:
        """The image the preview shows (a partial one too)."""
        image = self._shown.image
        if image is None:
            raise InvalidInputError(content.get("action", "image"), None, "an image in the preview: generate one")
        return image

    def _original(self, content: dict[str, Any]) -> tuple[str, Path | None, bytes | None]:
        """The stored file of the image shown, else (a partial image, or one the store could not
        save) its bytes as they came."""
        stem, path, data = super()._original(content)
        return stem if path is not None or self._shown.final else "partial", path, data

    # -- running -----------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"partial_images": self.partial_images}  # the runner drops it for GIF and SVG
        if self.output_format == "gif":
            options["frame_count"] = self.frame_count
        if self.model.strip():
            options["model"] = self.model.strip()
        for name in ("size", "quality", "complexity"):
            value = getattr(self, name)
            if value and value != "auto":
                options[name] = value
        if self.output_format != "png":
            options["output_format"] = self.output_format
        if self.safety_identifier:
            options["safety_identifier"] = self.safety_identifier
        return options

    def _start(self, kind: str, prompt: str) -> None:
        prompt = prompt.strip()
        if not prompt:
            raise InvalidInputError("prompt", prompt, "a description of the image" if kind == "generate"
                                    else "what to change in the current image")
        if kind == "refine" and self.conversation.image is None:
            raise InvalidInputError("prompt", prompt, "an image to refine first: generate one")
        with self._lock:
            if self.busy:
                raise InvalidInputError("prompt", prompt, "one generation at a time (cancel the running one)")
            job = _Job(self, kind, prompt, self._options())
            self._job = job
            self.error = ""
            self.caption = ""  # the shown image's caption is not the new run's
            self.busy = True
        self.send({"type": "run", "kind": kind})  # the view relabels the image it still shows
        self.status = self._status(job, "waiting for the first image")
        job.thread.start()

    def _run(self, job: _Job) -> None:
        try:
            job.turn = job.runner.run()
        except BaseException as exc:  # shown in the widget; the thread must not die silently
            if not job.runner.cancelled:
                job.error = exc
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._finish(job, cancelled=job.runner.cancelled)

    def _on_partial(self, job: _Job, image: Image, index: int) -> None:
        self._send_preview(image, final=False, index=index)
        self.status = self._status(job, f"partial {index + 1} of {job.runner.options['partial_images']}")

    def _on_completed(self, job: _Job, image: Image) -> None:
        self._send_preview(image, final=True)
        job.final_shown = True
        self.status = self._status(job, "finishing")

    def _finish(self, job: _Job, *, cancelled: bool) -> None:
        with self._lock:
            if self._job is not job or not self.busy:
                return  # already finished (cancel and the worker both arrive here)
            self.busy = False
        completed = not cancelled and job.error is None
        self._show_conversation(preview=completed and not job.final_shown, status=self._ending(job, cancelled))
        if job.error is not None:
            self.error = one_line(job.error)
            self.error_request_id = getattr(job.error, "request_id", None) or ""
            if not job.runner.partials:  # not an earlier run's picture beside the refused prompt
                self._show_current()
        if not completed and job.runner.partials:
            self.caption = ""  # the current turn's caption is not the partial image's
        if completed:
            if job.kind == "refine" and self.followup.strip() == job.runner.prompt:
                self.followup = ""  # done; a newer instruction typed meanwhile stays
            if job.turn is not None and job.turn.save_error is not None:
                self.error = one_line(job.turn.save_error) + (
                    "; the image is kept in memory (studio.image.save('image.png') writes it elsewhere)")

    def _ending(self, job: _Job, cancelled: bool) -> str:
        """The status line once a run is over."""
        elapsed = time.monotonic() - job.started
        if cancelled or job.error is not None:
            ended = f"{'Cancelled' if cancelled else 'Failed'} after {elapsed:.1f} s"
            return f"{ended}: {PARTIAL_LEFT}" if job.runner.partials else ended
        image = job.turn.image if job.turn is not None else None
        size = f" · {image.width}×{image.height}" if image is not None and image.width else ""
        return self._status(job, f"done in {elapsed:.1f} s{size}")

    def _status(self, job: _Job, what: str) -> str:
        """The model and the phase; while it runs, the view's own clock shows the time (one clock)."""
        model = job.runner.options.get("model") or self.default_model
        return " · ".join([model, what, *self._backend_label()])

    def _describe(self, image: Image) -> str:
        """The status line for an image shown outside a run (a history item, a refresh):
        its own model and size, never another run's time."""
        size = f"{image.width}×{image.height}" if image.width and image.height else ""
        turns = [t for t in self.conversation.all_turns if t.image is not None]  # numbered as in the strip
        place = next((f"image {n} of {len(turns)}" for n, t in enumerate(turns, 1) if t.image is image), "")
        parts = [image.model or self.default_model, size, place]
        return " · ".join([*(p for p in parts if p), *self._backend_label()])

    def _backend_label(self) -> list[str]:
        if self.backend == "local":
            return ["offline simulator"]
        if self.backend == "azure":
            from .._azure import label

            return [label(self.conversation.client.base_url)]
        return []

    # -- sending images ----------------------------------------------------------------
    def _send_preview(self, image: Image, *, final: bool, index: int | None = None, badge: bool = True) -> None:
        job = self._job
        if job is not None and job.runner.cancelled and not final and image is not self._shown.image:
            return  # a partial that raced with Cancel
        self._shown = _Shown(image, final, index, badge)
        data, mime = preview_bytes(image)
        total = job.runner.options.get("partial_images", 0) if job is not None else 0
        send_image(self, "preview", data, mime, final=final, index=index, total=total, badge=badge,
                   width=image.width, height=image.height, prompt=image.prompt or "")

    def _show_current(self) -> None:
        """The current turn's image without a badge, or an empty preview when there is none."""
        current = self.conversation.image
        if current is not None:
            self._send_preview(current, final=True, badge=False)
        else:
            self._shown = _Shown(None)
            self.send({"type": "preview-clear"})

    def _send_history_thumbs(self) -> None:
        items = []
        for turn in self.conversation.all_turns:
            if turn.image is None or turn.id in self._sent_thumbs:
                continue
            items.append((turn.id, *strip_thumbnail(turn.image, HISTORY_THUMB_SIDE)))
            self._sent_thumbs.add(turn.id)
        if items:
            send_thumbnails(self, "history-thumbs", items)

    def _static_text(self) -> str:
        image = self.image
        what = f"current image: {_caption(image)!r}" if image is not None else "no image yet"
        return f"<nbimages Studio, {len(self.history)} image(s), {what}>"


def menu_choices(model: str) -> tuple[list[str], list[str]]:
    """The sizes and qualities to offer for ``model``, from the model table."""
    from .. import models

    rules = models.rules_for(model)
    if rules is not None and rules.sizes is not None:
        sizes = [s for s in SIZES if s in rules.sizes]
    else:
        sizes = [*SIZES, *FLEXIBLE_SIZES]
    qualities = list(rules.qualities) if rules is not None and rules.qualities is not None else list(QUALITIES)
    return sizes, qualities


def _caption(image: Image | None) -> str:
    if image is None:
        return ""
    return image.revised_prompt or image.prompt or ""

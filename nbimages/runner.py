"""`TurnRunner`: one streamed turn of a `Conversation`, from the call to the committed turn.

Every front end runs its turns through it (the magics, the Studio, work in a background
thread): it picks the call (``generate``, ``edit`` or ``send``), walks the events, and hands
what arrives to the front end's callbacks. It handles cancel (from any thread) and Ctrl-C
the same way for everyone: the connection is closed at once and the partial images that
arrived are kept (stored by the conversation). It never displays anything; errors propagate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import config
from .errors import InvalidInputError
from .events import ImageCompleted, ImageGenerationProgress, PartialImage

if TYPE_CHECKING:
    from .conversation import Conversation, ConversationStream, Turn
    from .events import Event
    from .image import Image

__all__ = ["KINDS", "TurnRunner"]

KINDS = ("generate", "edit", "send")

OnPartial = Callable[["Image", int], None]  # (partial image, its 0-based index)
OnProgress = Callable[[str], None]  # the generation's status: "in_progress", "generating"
OnCompleted = Callable[["Image", int, int], None]  # (stored image, its number from 1, how many are wanted)


class TurnRunner:
    """One turn: ``run()`` streams it and returns the committed `Turn`; ``cancel()`` stops it.

    ``kind`` is ``"generate"`` (Images API), ``"edit"`` (Images API, ``images`` or else the
    current image, optionally ``mask``) or ``"send"`` (Responses API, continuing from the
    current turn; ``mask`` becomes ``input_image_mask``). ``options`` are the image options
    (``model``, ``size``, ``quality``, ``n``, ``partial_images``...); None values are left out.
    The callbacks run in the thread that calls ``run()``.
    """

    def __init__(self, conversation: Conversation, kind: str, prompt: str, *, images: Sequence[Image] = (),
                 mask: Image | None = None, cache_key: str | None = None, options: dict[str, Any] | None = None,
                 on_partial: OnPartial | None = None, on_progress: OnProgress | None = None,
                 on_completed: OnCompleted | None = None) -> None:
        if kind not in KINDS:
            raise InvalidInputError("kind", kind, "generate, edit or send")
        self.conversation = conversation
        self.kind = kind
        self.prompt = prompt
        self.images = list(images)
        self.mask = mask
        self.cache_key = cache_key
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        if self.options.get("output_format") in config.WHOLE_FORMATS:
            self.options.pop("partial_images", None)  # GIF and SVG arrive whole, whatever the caller's default
        self.on_partial = on_partial
        self.on_progress = on_progress
        self.on_completed = on_completed
        self.stream: ConversationStream | None = None
        self.partials: list[Image] = []  # as received and handed to on_partial, newest last
        self.completed: list[Image] = []  # as stored and handed to on_completed
        self._cancelled = threading.Event()

    @property
    def wanted(self) -> int:
        """How many images the turn makes."""
        return 1 if self.kind == "send" else self.options.get("n") or 1

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def closed(self) -> bool:
        """The connection is closed, or was never opened."""
        return self.stream is None or self.stream.closed

    @property
    def kept_partials(self) -> list[Image]:
        """The partial images the conversation kept once the turn broke or was interrupted
        (stored, with their paths); while it runs, those received so far."""
        return self.stream.partials if self.stream is not None else []

    def cancel(self) -> None:
        """Stop the turn from any thread: its connection closes at once, and ``run()``
        returns None without an error. Nothing is committed; the partial images are kept."""
        self._cancelled.set()
        stream = self.stream
        if stream is not None:
            stream.close()

    def run(self) -> Turn | None:
        """Stream the turn to its end: the committed turn, or None when it was cancelled.

        Errors propagate (a `StreamError` carries the partial and completed images, stored);
        Ctrl-C closes the connection before it propagates, keeping what arrived.
        """
        if self._arrives_whole():
            return self._run_whole()
        try:
            stream = self.stream = self._open()
            if self.cancelled:  # cancelled while the request was being sent
                stream.close()
                return None
            self._walk(stream)
        except Exception:
            if self.cancelled:  # a stream closed by cancel() ends with an error: not one to report
                return None
            raise
        except KeyboardInterrupt:
            if self.stream is not None:
                self.stream.close()
            raise
        return stream.turn

    def _arrives_whole(self) -> bool:
        """GIF and SVG from the Images API cannot be streamed: the turn is one request."""
        return self.kind != "send" and self.options.get("output_format") in config.WHOLE_FORMATS

    def _run_whole(self) -> Turn:
        """One unstreamed request. Once sent it is paid for, so a cancel does not discard it."""
        conv = self.conversation
        if self.kind == "generate":
            turn: Turn = conv.generate(self.prompt, cache_key=self.cache_key, **self.options)
        else:
            image = self.images[0] if len(self.images) == 1 else self.images or None
            turn = conv.edit(self.prompt, image, mask=self.mask, cache_key=self.cache_key, **self.options)
        for number, image in enumerate(turn.images, 1):
            self.completed.append(image)
            if self.on_completed is not None:
                self.on_completed(image, number, self.wanted)
        return turn

    def _open(self) -> ConversationStream:
        conv, options = self.conversation, dict(self.options)
        opened: ConversationStream
        if self.kind == "generate":
            opened = conv.generate(self.prompt, stream=True, cache_key=self.cache_key, **options)
        elif self.kind == "edit":
            image = self.images[0] if len(self.images) == 1 else self.images or None
            opened = conv.edit(self.prompt, image, mask=self.mask, stream=True, cache_key=self.cache_key, **options)
        else:
            options.pop("n", None)
            if self.mask is not None:
                options["input_image_mask"] = self.mask
            opened = conv.send(self.prompt, stream=True, cache_key=self.cache_key, **options)
        return opened

    def _walk(self, stream: ConversationStream) -> None:
        events = iter(stream)
        try:
            for event in events:
                if self.cancelled:
                    break
                self._dispatch(event)
        finally:
            events.close()  # type: ignore[attr-defined]  # abandoned mid-way: the conversation keeps the partials

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, PartialImage):
            self.partials.append(event.image)
            if self.on_partial is not None:
                self.on_partial(event.image, event.index)
        elif isinstance(event, ImageGenerationProgress):
            if self.on_progress is not None and event.status != "completed":  # on_completed says that
                self.on_progress(event.status)
        elif isinstance(event, ImageCompleted):
            self.completed.append(event.image)
            if self.on_completed is not None:
                self.on_completed(event.image, len(self.completed), self.wanted)

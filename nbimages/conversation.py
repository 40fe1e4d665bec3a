"""`Conversation`: iterative image work kept in the kernel, as a tree of turns.

Each `Turn` is an image (or a text answer) with the response id to continue from and a link
to its parent; the conversation's ``head`` is the current turn. Sending continues from the
head; `undo` moves the head to its parent; `checkout` moves it anywhere; `branch` starts a
new conversation from any turn. A turn is committed only when its stream completes, so a
broken or cancelled stream never corrupts history (its partial images travel on the error).

Every completed image is checked (it decodes, within the size limits) and goes through the
``sink`` (the store, by default) before it is handed to anyone: a crash after that point
loses nothing that was paid for. A store that cannot be written never costs the image: it
stays in memory and in the conversation, and the turn says why it was not saved
(``save_error``). This module is plain Python; it never imports IPython.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import config
from ._requests import image_tool
from .errors import InvalidInputError, StoreError, StreamError
from .events import Event, ImageCompleted, Response, ResponseCompleted
from .image import decode_problem

if TYPE_CHECKING:
    from .client import Client
    from .image import Image, Usage
    from .store import Store
    from .stream import Stream

__all__ = ["Conversation", "ConversationStream", "Turn", "current_conversation", "set_current_conversation"]

_ids = itertools.count(1)


@dataclass(frozen=True, eq=False)
class Turn:
    """One step: the prompt, what came back, and where it came from."""

    prompt: str
    image: Image | None
    api: str  # "images" (generate/edit) or "responses"
    response_id: str | None = None
    text: str = ""
    usage: Usage | None = None
    parent: Turn | None = field(default=None, repr=False)
    cached: bool = False
    images: tuple[Image, ...] = ()  # all images of the turn when n > 1; ``image`` is the first
    save_error: StoreError | None = field(default=None, repr=False)  # why its images are only in memory
    id: int = field(default_factory=lambda: next(_ids))
    created: float = field(default_factory=time.time)

    @property
    def call_id(self) -> str | None:
        return self.image.call_id if self.image is not None else None

    def lineage(self) -> list[Turn]:
        """The turns from the root down to this one."""
        chain: list[Turn] = []
        turn: Turn | None = self
        while turn is not None:
            chain.append(turn)
            turn = turn.parent
        return chain[::-1]

    def __repr__(self) -> str:
        prompt = self.prompt if len(self.prompt) <= 40 else self.prompt[:37] + "..."
        return f"<Turn {self.id} {self.api} {prompt!r} image={'yes' if self.image else 'no'}>"


class Conversation:
    """Iterative generation and editing, continuing from the current turn.

    ``generate`` makes a new image (Images API); ``send`` refines the current image through
    the Responses API (``previous_response_id`` when the current turn has one, else the
    current image as input); ``edit`` uses the Images API edit endpoint (with a mask).
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        store: Store | bool | None = None,
        model: str | None = None,
        image_model: str | None = None,
    ) -> None:
        if client is None:
            from .client import Client

            client = Client()
        self.client = client
        if store is None or store is True:
            from .store import default_store

            store = default_store()
        self.store: Store | None = store or None
        self.model = model
        self.image_model = image_model
        self.head: Turn | None = None
        self.all_turns: list[Turn] = []
        self._lock = threading.RLock()

    # -- state ------------------------------------------------------------------------
    @property
    def turns(self) -> list[Turn]:
        """The current line of work, root first."""
        return self.head.lineage() if self.head else []

    @property
    def image(self) -> Image | None:
        """The current image: the head's, or the closest ancestor's with one."""
        for turn in reversed(self.turns):
            if turn.image is not None:
                return turn.image
        return None

    def undo(self) -> Turn | None:
        """Step back to the previous turn; returns the new head (None at the start)."""
        with self._lock:
            if self.head is not None:
                self.head = self.head.parent
            return self.head

    def checkout(self, turn: Turn | int) -> Turn:
        """Make any earlier turn (object or id) current; the next send continues from it."""
        with self._lock:
            self.head = self._find(turn)
            return self.head

    def branch(self, turn: Turn | int | None = None) -> Conversation:
        """A new conversation sharing this one's client and store, continuing from ``turn``."""
        other = Conversation(self.client, store=self.store or False, model=self.model, image_model=self.image_model)
        start = self._find(turn) if turn is not None else self.head
        if start is not None:
            other.head = start
            other.all_turns = start.lineage()
        return other

    def fork(self, turn: Turn | None) -> Conversation:
        """A conversation of its own continuing from ``turn`` (None: from nothing), sharing this
        one's client and store. A turn made on it does not move this one's head until `adopt`ed:
        turns made side by side (background jobs) each keep the parent they started from."""
        if turn is not None:
            return self.branch(turn)
        return Conversation(self.client, store=self.store or False, model=self.model, image_model=self.image_model)

    def adopt(self, turn: Turn) -> Turn:
        """Make ``turn``, committed on a `fork`, the current turn here (and one of ``all_turns``)."""
        with self._lock:
            if turn not in self.all_turns:
                self.all_turns.append(turn)
            self.head = turn
            return turn

    def reset(self) -> None:
        """Start over: the next generation has no parent. Earlier turns stay in ``all_turns``."""
        with self._lock:
            self.head = None

    def add(self, prompt: str, image: Image | None, *, api: str = "images", response_id: str | None = None,
            text: str = "", usage: Usage | None = None, cached: bool = False,
            images: tuple[Image, ...] = (), save_error: StoreError | None = None) -> Turn:
        """Commit a finished turn as a child of the head (also for results reused from the store)."""
        with self._lock:
            images = images or ((image,) if image is not None else ())
            turn = Turn(prompt, image, api, response_id, text, usage, self.head, cached, images, save_error)
            self.all_turns.append(turn)
            self.head = turn
            return turn

    def _find(self, turn: Turn | int) -> Turn:
        if isinstance(turn, Turn) and turn in self.all_turns:
            return turn
        for candidate in self.all_turns:
            if candidate.id == turn:
                return candidate
        raise InvalidInputError("turn", turn, "a turn of this conversation (see .all_turns)")

    # -- actions ----------------------------------------------------------------------
    def generate(self, prompt: str, *, stream: bool = False, cache_key: str | None = None, **options: Any) -> Any:
        """A new image from the Images API, as a child of the current turn."""
        options.setdefault("model", self.image_model)
        if stream:
            options.setdefault("partial_images", 2)
        source = self.client.generate(prompt, stream=stream, **options)
        return self._finish_or_stream(prompt, "images", source, stream, cache_key)

    def edit(self, prompt: str, image: Any = None, *, mask: Any = None, stream: bool = False,
             cache_key: str | None = None, **options: Any) -> Any:
        """Edit ``image`` (default: the current image) with the Images API, optionally masked."""
        image = self._current_image("image") if image is None else image
        options.setdefault("model", self.image_model)
        if stream:
            options.setdefault("partial_images", 2)
        source = self.client.edit(prompt, image, mask=mask, stream=stream, **options)
        return self._finish_or_stream(prompt, "images", source, stream, cache_key)

    def send(self, prompt: str, *, stream: bool = False, images: Any = None, cache_key: str | None = None,
             **image_options: Any) -> Any:
        """Refine the current image (or start one) through the Responses API.

        The image tool names its model (``image_model``, else ``NBIMAGES_IMAGE_MODEL`` or the
        default), as generate and edit do: left out, the server would pick its own.
        """
        if image_options.get("model") is None:
            image_options["model"] = self.image_model or config.image_model()
        if stream and image_options.get("output_format") not in config.WHOLE_FORMATS:
            image_options.setdefault("partial_images", 2)
        request = self.continuation(images)
        source = self.client.respond(
            prompt,
            model=self.model,
            tools=[image_tool(**{k: v for k, v in image_options.items() if v is not None})],
            tool_choice={"type": "image_generation"},
            stream=stream,
            **request,
        )
        return self._finish_or_stream(prompt, "responses", source, stream, cache_key)

    def continuation(self, images: Any = None) -> dict[str, Any]:
        """How the next Responses call continues from the head: its response id, or its image."""
        head = self.head
        extra = list(images) if isinstance(images, (list, tuple)) else ([images] if images is not None else [])
        if head is not None and head.response_id:
            return {"previous_response_id": head.response_id, "images": extra or None}
        current = self.image
        if current is not None:
            return {"images": [current, *extra]}
        return {"images": extra or None}

    def _current_image(self, param: str) -> Image:
        image = self.image
        if image is None:
            raise InvalidInputError(param, None, "an image, or a conversation with a current image to edit")
        return image

    # -- completion -------------------------------------------------------------------
    def _finish_or_stream(self, prompt: str, api: str, source: Any, stream: bool, cache_key: str | None) -> Any:
        wrapped = ConversationStream(self, prompt, api, source if stream else None, cache_key)
        if stream:
            return wrapped
        return wrapped.complete_from(source)

    def _sink(self, image: Image, cache_key: str | None, kind: str = "final") -> Image:
        if self.store is None:
            return image
        return self.store.save(image, cache_key=cache_key, kind=kind)

    def _record_usage(self, api: str, usage: Usage | None, images: list[Image], response_id: str | None) -> None:
        if self.store is None:
            return
        first = images[0] if images else None
        params = first.params if first is not None else {}
        self.store.record_usage(
            model=(first.model if first is not None else None) or self.image_model,
            usage=usage,
            endpoint=str(params.get("endpoint") or api),
            images=len(images),
            quality=params.get("quality"),
            size=params.get("size"),
            response_id=response_id,
        )


class ConversationStream:
    """Events of one turn; completed images are stored before they are yielded.

    Iterate it like a `Stream`; ``close()`` cancels. When the stream completes, the turn is
    committed (``.turn``); when it breaks, the partial images are saved to the store and the
    `StreamError` carries them.
    """

    def __init__(self, conversation: Conversation, prompt: str, api: str, stream: Stream[Any] | None,
                 cache_key: str | None) -> None:
        self.conversation = conversation
        self.prompt = prompt
        self.api = api
        self._stream = stream
        self._cache_key = cache_key
        self.images: list[Image] = []
        self.turn: Turn | None = None
        self.save_error: StoreError | None = None  # the first failure of the store during this turn
        self._kept: list[Image] | None = None

    @property
    def partials(self) -> list[Image]:
        """Partial images received so far; once the stream broke or was interrupted, as stored."""
        if self._kept is not None:
            return self._kept
        return self._stream.partials if self._stream is not None else []

    @property
    def closed(self) -> bool:
        """The connection is closed (also when nothing was streamed)."""
        return self._stream is None or self._stream.closed

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> ConversationStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Event]:
        assert self._stream is not None, "not a streamed turn"
        response: Response | None = None
        try:
            for event in self._stream:
                if isinstance(event, ImageCompleted):
                    stored = self._accept(event.image)
                    self.images.append(stored)
                    event = ImageCompleted(stored, event.usage, event.item_id)
                elif isinstance(event, ResponseCompleted):
                    response = event.response
                yield event
        except StreamError as exc:
            self._keep_partials(exc)
            raise
        except (KeyboardInterrupt, GeneratorExit):
            # Interrupted (Ctrl-C) or abandoned mid-way: what arrived is kept all the same,
            # once the connection is closed (saving takes longer than closing).
            self._stream.close()
            self._keep_partials(StreamError("interrupted", partials=self._stream.partials, images=self._stream.images))
            raise
        received = self._stream.images
        usage = response.usage if response is not None else received[-1].usage if received else None
        self._commit(response.id if response else None, self._stream.text, usage)

    def until_done(self) -> Turn:
        for _ in self:
            pass
        assert self.turn is not None
        return self.turn

    def _accept(self, image: Image) -> Image:
        """A completed image, checked and then stored; one that does not decode is refused
        before anything keeps it, and ends the turn with a `StreamError`."""
        problem = decode_problem(image.data)
        if problem is not None:
            if self._stream is not None:
                self._stream.close()
            partials = self._stream.partials if self._stream is not None else []
            raise StreamError(f"the server sent a completed image that is not usable: {problem}",
                              partials=partials, images=self.images, code="invalid_image",
                              response_id=image.response_id)
        return self._save(image, self._cache_key)

    def _save(self, image: Image, cache_key: str | None, kind: str = "final") -> Image:
        """The stored image, or the image itself (kept in memory) when the store failed."""
        try:
            return self.conversation._sink(image, cache_key, kind)
        except StoreError as exc:
            self.save_error = self.save_error or exc
            return image

    def _keep_partials(self, error: StreamError) -> None:
        error.partials[:] = [self._save(p, None, kind="partial") for p in error.partials]
        self._kept = error.partials
        completed = []
        for image in error.images:
            kept = next((k for k in self.images if k is image or k.data == image.data), None)
            if kept is None and decode_problem(image.data) is None:
                kept = self._save(image, self._cache_key)
            if kept is not None:  # an image that does not decode is not kept
                completed.append(kept)
        error.images[:] = completed

    def complete_from(self, result: Any) -> Turn:
        """Finish an unstreamed call: check and store its images, then commit the turn."""
        images = result.images if isinstance(result, Response) else result
        try:
            for image in images:
                self.images.append(self._accept(image))
        except StreamError as exc:
            self._keep_partials(exc)
            raise
        if isinstance(result, Response):
            self._commit(result.id, result.output_text, result.usage)
        else:
            self._commit(None, "", self.images[0].usage if self.images else None)
        assert self.turn is not None
        return self.turn

    def _commit(self, response_id: str | None, text: str, usage: Usage | None) -> None:
        conv = self.conversation
        try:
            conv._record_usage(self.api, usage, self.images, response_id)
        except StoreError as exc:
            self.save_error = self.save_error or exc
        image = self.images[0] if self.images else None
        self.turn = conv.add(self.prompt, image, api=self.api, response_id=response_id, text=text, usage=usage,
                             images=tuple(self.images), save_error=self.save_error)


_current: Conversation | None = None
_current_lock = threading.Lock()


def current_conversation() -> Conversation:
    """The conversation the magics and widgets of this kernel share (created on first use)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Conversation()
        return _current


def set_current_conversation(conversation: Conversation | None) -> None:
    global _current
    with _current_lock:
        _current = conversation

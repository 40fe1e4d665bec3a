"""`Gallery`: every stored image, newest first, paged; click to enlarge and select.

Listings travel as small synced state (ids, prompts, sizes); thumbnails and the enlarged
image as binary messages, so saved widget state stays small however many images exist.
"""

from __future__ import annotations

import math
import os
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from ..errors import InvalidInputError, StoreError
from ..image import decode_problem, sniff
from ._base import NbImagesWidget, static_file
from ._wire import MIME, preview_bytes, send_image, send_thumbnails

if TYPE_CHECKING:
    from ..image import Image
    from ..store import Store, StoredImage

__all__ = ["Gallery"]

THUMB_SIDE = 256
LARGE_MAX_SIDE = 1536
class Gallery(NbImagesWidget):
    """A browser for the store: ``Gallery(store=None, page_size=24)``.

    ``selected`` is the clicked image (a `StoredImage`; ``selected.load()`` gives the
    `Image`), ``selected_id`` its id; ``refresh()`` reloads after new images were stored (an
    open view also looks for them every few seconds). ``search`` matches prompts, revised
    prompts and models, and finds refinements by their conversation's first prompt.
    """

    _esm = static_file("gallery.js")

    page = traitlets.Int(0, min=0).tag(sync=True)
    page_size = traitlets.Int(24, min=1, max=200).tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    search = traitlets.Unicode("").tag(sync=True)
    items = traitlets.List(traitlets.Dict()).tag(sync=True)  # the page: text only
    selected_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, store: Store | None = None, page_size: int = 24, **kwargs: Any) -> None:
        if store is None:
            from ..store import default_store

            store = default_store()
        self.store = store
        self._loading = False
        self._seen: tuple[int, str] | None = None  # the store's count and newest id, at the last load
        super().__init__(page_size=page_size, **kwargs)
        self._load()
        self.observe(self._on_query, names=["page", "page_size", "search"])

    # -- Python API -------------------------------------------------------------------
    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))

    @property
    def selected(self) -> StoredImage | None:
        """The selected stored image (None when nothing is selected or it was deleted)."""
        if not self.selected_id:
            return None
        try:
            return self.store.get(self.selected_id)
        except KeyError:
            return None

    @property
    def selected_image(self) -> Image | None:
        """The selected image's bytes (`StoreError` if its file went missing since)."""
        record = self.selected
        return record.load() if record is not None else None

    def refresh(self) -> None:
        """Reload the listing (new images appear on the first page)."""
        self._load()
        self._send_thumbs()

    def select(self, image_id: str | None) -> None:
        """Select an image by id (None to clear) and show it enlarged.

        `KeyError` for an id the store does not know, and for an image whose file is missing
        or damaged (its card says so); the selection is then left as it was.
        """
        if not image_id:
            self.selected_id = ""
            return
        record = self.store.get(str(image_id))  # KeyError for an unknown id
        try:
            image = _usable(record)
        except StoreError as exc:
            self._mark_problem(record.id, _problem_label(record.path))
            raise KeyError(f"{image_id}: {exc}") from exc
        self.selected_id = record.id
        self._send_large(record.id, image)

    # -- actions from the view ---------------------------------------------------------
    def _action_hello(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self._send_thumbs()
        record = self.selected
        if record is not None and content.get("enlarged"):
            with suppress(StoreError):  # gone since it was selected: its card says so
                self._send_large(record.id, _usable(record))

    def _action_select(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        image_id = content.get("id")
        if image_id is not None and not isinstance(image_id, str):
            raise InvalidInputError("id", image_id, "a stored image id")
        try:
            self.select(image_id)
        except KeyError as exc:
            if isinstance(exc.__cause__, StoreError):
                raise exc.__cause__ from None  # the file is missing or damaged: say which and why
            raise InvalidInputError("id", image_id, "an image still in the store (Refresh the gallery)") from None

    def _original(self, content: dict[str, Any]) -> tuple[str, Path | None, bytes | None]:
        record = self._record(content.get("id"))
        return record.id, record.path, None

    def _target(self, content: dict[str, Any]) -> Image:
        return _usable(self._record(content.get("id")))

    def _record(self, image_id: Any) -> StoredImage:
        if not isinstance(image_id, str) or not image_id:
            raise InvalidInputError("id", image_id, "a stored image id")
        try:
            return self.store.get(image_id)
        except KeyError:
            raise InvalidInputError("id", image_id, "an image still in the store (Refresh the gallery)") from None

    def _action_refresh(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        self.refresh()

    def _action_poll(self, content: dict[str, Any], buffers: list[bytes]) -> None:
        """The view asks every few seconds while it is on screen: reload only when the store changed."""
        if self._store_state() != self._seen:
            self.refresh()

    def _store_state(self) -> tuple[int, str]:
        """Two small queries that change when an image is stored or deleted."""
        newest = self.store.list(limit=1)
        return self.store.count(), newest[0].id if newest else ""

    # -- internals ---------------------------------------------------------------------
    def _on_query(self, change: dict[str, Any]) -> None:
        if self._loading:
            return
        if change["name"] == "search" and self.page != 0:
            self.page = 0  # observed: loads once, from there
            return
        self.refresh()

    def _load(self) -> None:
        search = self.search.strip() or None
        self._loading = True
        try:
            self.total = self.store.count(search=search)
            if self.page >= self.pages:
                self.page = self.pages - 1
        finally:
            self._loading = False
        records = self.store.list(limit=self.page_size, offset=self.page * self.page_size, search=search)
        self.items = [_summary(record) for record in records]
        self._seen = self._store_state()
        self.error = ""

    def _send_thumbs(self) -> None:
        problems: dict[str, str] = {}

        def thumbs() -> Any:
            for item in self.items:
                try:
                    data = self.store.thumbnail(item["id"], max_side=THUMB_SIDE)
                except KeyError:
                    problems[item["id"]] = "no longer in the store"
                    continue
                except StoreError:
                    problems[item["id"]] = _problem_label(self.store.get(item["id"]).path)
                    continue
                yield item["id"], data, MIME.get(sniff(data)[0] or "", "image/png")

        send_thumbnails(self, "thumbs", thumbs())
        for image_id, problem in problems.items():
            self._mark_problem(image_id, problem)

    def _mark_problem(self, image_id: str, problem: str) -> None:
        """Say on the card why an image cannot be shown (its file is missing or damaged)."""
        if any(item["id"] == image_id and item.get("problem") != problem for item in self.items):
            self.items = [{**item, "problem": problem} if item["id"] == image_id else item for item in self.items]

    def _send_large(self, image_id: str, image: Image) -> None:
        data, mime = preview_bytes(image, max_side=LARGE_MAX_SIDE)
        send_image(self, "large", data, mime, id=image_id, width=image.width, height=image.height)

    def _static_png(self) -> bytes | None:
        """A contact sheet of the first images of the page, for frontends without widgets."""
        from io import BytesIO

        from PIL import Image as PIL

        cells = []
        for item in self.items[:8]:
            try:
                cells.append(PIL.open(BytesIO(self.store.thumbnail(item["id"], max_side=128))))
            except (KeyError, OSError):
                continue
        if not cells:
            return None
        sheet = PIL.new("RGB", (132 * len(cells) + 4, 136), (255, 255, 255))
        for i, cell in enumerate(cells):
            sheet.paste(cell.convert("RGB"), (4 + 132 * i + (128 - cell.width) // 2, 4 + (128 - cell.height) // 2))
            cell.close()
        buffer = BytesIO()
        sheet.save(buffer, format="PNG")
        return buffer.getvalue()

    def _static_text(self) -> str:
        return f"<nbimages Gallery: {self.total} stored image(s), page {self.page + 1} of {self.pages}>"


def _usable(record: StoredImage) -> Image:
    """The stored image, checked: `StoreError` when its file is missing or does not decode."""
    image = record.load()
    problem = decode_problem(image.data)
    if problem is not None:
        raise StoreError(f"the stored image {record.id} is damaged: {problem} ({record.path})")
    return image


def _problem_label(path: Path) -> str:
    """What a card says of an image whose file could not be shown (its error says the rest)."""
    if not path.is_file():
        return "file missing"
    return "file damaged" if os.access(path, os.R_OK) else "file unreadable"


def _summary(record: StoredImage) -> dict[str, Any]:
    return {
        "id": record.id,
        "prompt": record.prompt or "",
        "revised_prompt": record.revised_prompt or "",
        "model": record.model or "",
        "created": record.created,
        "width": record.width or 0,
        "height": record.height or 0,
        "kind": record.kind,
        "size": (record.params or {}).get("size") or "",
        "problem": "" if record.path.is_file() else _problem_label(record.path),
    }

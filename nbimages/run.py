"""`Run`: many image requests made as one, their results, their record and their contact sheet.

A run is made by `generate_many` and driven by an engine (`_engines`): the live engine
(`_live`) or OpenAI's Batch API (``_batch``). The engine reports each item through the
run's callbacks, ``_item_done``, ``_item_failed`` and ``_finished``; the run saves the images
(with the run's provenance), keeps the record ``runs/<id>.json`` of the store up to date
(`_run_records`) and refreshes its contact sheets (`contact_sheet`).

Counts are ``run.counts``: ``{"total", "done", "reused", "failed", "pending"}`` (reused items
count as done as well). ``run.images`` has one entry per item, in item order: an `Image`, a
list of them for an item that asked for ``n`` > 1, or None while it is pending or when it failed
(``run.errors[index]`` says why).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from . import _run_records
from ._provenance import clean_params
from ._run_items import Item
from ._throttle import Throttle
from .errors import NbImagesError, StoreError, describe_error

if TYPE_CHECKING:
    from ._engines import Engine
    from ._run_cost import Estimate
    from .image import Image
    from .store import Store

__all__ = ["Run", "RunInfo", "runs"]

class View(Protocol):
    """What shows a run's progress (a contact sheet, a progress bar)."""

    def show(self) -> None: ...

    def poke(self) -> None: ...

    def flush(self) -> None: ...


FINAL = ("completed", "cancelled", "interrupted")
RECORD_INTERVAL = 0.5  # seconds between rewrites of the record while items finish


class Run:
    """Many requests made as one; see the module docstring. Made by `generate_many` or `Run.load`."""

    def __init__(self, items: Sequence[Item], *, store: Store, via: str = "live",
                 defaults: dict[str, Any] | None = None, estimate: Estimate | None = None,
                 run_id: str | None = None, created: float | None = None) -> None:
        self.id = run_id or _new_id()
        self.via = via
        self.created = time.time() if created is None else created
        self.store = store
        self.estimate = estimate
        self.batch_id: str | None = None
        self.batches: list[dict[str, Any]] = []  # the Batch API's batches, as `_add_batch` records them
        self._batch_of: dict[int, tuple[str, str]] = {}  # item index -> (batch id, custom id)
        self.defaults = dict(defaults or {})
        self._items = list(items)
        self._results: dict[int, list[Image]] = {}
        self._errors: dict[int, NbImagesError] = {}
        self._reused: set[int] = set()
        self._image_ids: dict[int, list[str]] = {}  # the record's ids, looked up once per result
        self._status = "running"
        self._cancel_asked = False
        self._ended = threading.Event()
        self._lock = threading.RLock()
        self._engine: Engine | None = None
        self._views: list[View] = []
        self._shown_in: int | None = None
        self._record = Throttle(RECORD_INTERVAL, self._write_record)

    # -- what users read ----------------------------------------------------------------
    @property
    def status(self) -> str:
        """``"running"``, ``"completed"`` (every item done or failed), ``"cancelled"`` or
        ``"interrupted"`` (its kernel stopped before it ended; run it again to finish it)."""
        return self._status

    @property
    def items(self) -> list[dict[str, Any]]:
        """The parameters of every item (defaults included), in order."""
        return [dict(item.params) for item in self._items]

    @property
    def images(self) -> list[Image | list[Image] | None]:
        with self._lock:
            return [_one_or_all(self._results.get(item.index)) for item in self._items]

    @property
    def errors(self) -> dict[int, NbImagesError]:
        with self._lock:
            return dict(self._errors)

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            done, failed = len(self._results), len(self._errors)
            return {"total": len(self._items), "done": done, "reused": len(self._reused), "failed": failed,
                    "pending": len(self._items) - done - failed}

    def wait(self, timeout: float | None = None) -> Run:
        """Block until the run ends (`TimeoutError` after ``timeout`` seconds); returns the run."""
        if not self._ended.wait(timeout):
            raise TimeoutError(f"run {self.id} is still {self._status} after {timeout} s: {self._progress_text()}")
        return self

    def cancel(self) -> None:
        """Stop the run: requests in flight are dropped (within a second); what finished stays stored."""
        with self._lock:
            if self._status in FINAL:
                return
            self._cancel_asked = True
            engine = self._engine
        if engine is not None:
            engine.cancel()
        else:
            self._finished()

    def __repr__(self) -> str:
        return f"<nbimages.Run {self.id} {self.via} {self._status}: {self._progress_text()}>"

    def _progress_text(self) -> str:
        c = self.counts
        return f"{c['done']} of {c['total']} done, {c['failed']} failed, {c['pending']} pending"

    # -- what engines call (see _engines) -------------------------------------------------
    def todo(self) -> list[Item]:
        """The items still to request (neither done, reused nor failed), in order."""
        with self._lock:
            return [i for i in self._items if i.index not in self._results and i.index not in self._errors]

    def item(self, index: int) -> Item:
        return self._items[index]

    def _start(self, engine: Engine) -> None:
        self._engine = engine
        self._write_record()  # before the first request: a crash from here on loses nothing
        if not self.todo():
            self._finished()
            return
        engine.start(self)

    def _item_done(self, index: int, images: Sequence[Image], *, record_usage: bool = True) -> None:
        """Item ``index`` made ``images``: saved to the store (with the run's provenance), then shown."""
        item = self._items[index]
        saved = [self._save(item, image) for image in images]
        if record_usage and saved:
            self._ledger(saved)
        with self._lock:
            self._results[index] = saved
            self._image_ids.pop(index, None)
            self._errors.pop(index, None)
        self._changed()

    def _item_reused(self, index: int, images: Sequence[Image]) -> None:
        """Item ``index`` is in the store already: nothing is requested or paid."""
        with self._lock:
            self._results[index] = list(images)
            self._image_ids.pop(index, None)
            self._reused.add(index)
        if images:
            self._ledger(images, cached=True)

    def _item_failed(self, index: int, error: NbImagesError) -> None:
        with self._lock:
            self._errors[index] = error
        self._changed()

    def _add_batch(self, batch: dict[str, Any]) -> None:
        """One batch of the run, written to the record at once: ``{"id", "endpoint", "model",
        "custom_ids": {custom id: item index}, "collected": False}`` (the first one's id is
        ``batch_id``, set only once the record holds it: whoever sees it can rely on the record)."""
        with self._lock:
            self.batches.append(batch)
            self._index_batch(batch)
        self._record.flush()
        self.batch_id = str(self.batches[0]["id"])

    def _batch_collected(self, batch_id: str, status: str) -> None:
        """Every result of batch ``batch_id`` (which ended ``status``) was reported."""
        with self._lock:
            for batch in self.batches:
                if batch["id"] == batch_id:
                    batch.update(collected=True, status=status)
        self._record.flush()

    def _index_batch(self, batch: dict[str, Any]) -> None:
        for custom_id, index in (batch.get("custom_ids") or {}).items():
            self._batch_of[int(index)] = (str(batch["id"]), str(custom_id))

    def _finished(self) -> None:
        """The engine stopped: every item is done or failed, or the run was cancelled."""
        with self._lock:
            if self._status in FINAL:
                return
            self._status = "cancelled" if self._cancel_asked else "completed"
        self._record.flush()
        for view in list(self._views):
            view.flush()
        self._ended.set()

    # -- saving ---------------------------------------------------------------------------
    def _save(self, item: Item, image: Image) -> Image:
        run = {"id": self.id, "item": item.index, "params": self._recorded_params[item.index]}
        if item.index in self._batch_of:
            run["batch_id"], run["custom_id"] = self._batch_of[item.index]
        elif self.batch_id:
            run["batch_id"] = self.batch_id
        tagged = image.with_meta(params={**image.params, "run": run})
        try:
            return self.store.save(tagged, cache_key=item.key)
        except StoreError:
            return tagged  # shown and returned all the same; the record lists no id for it

    def _ledger(self, images: Sequence[Image], *, cached: bool = False, batch: bool = False) -> None:
        """One request in the store's ledger (``batch``: at the Batch API's price)."""
        first = images[0]
        params = first.params or {}
        with suppress(StoreError):  # the ledger is a convenience: the images are what was paid for
            self.store.record_usage(model=first.model, usage=None if cached else first.usage,
                                    endpoint=str(params.get("endpoint") or "images/generations"),
                                    images=len(images), quality=params.get("quality"), size=params.get("size"),
                                    response_id=first.response_id, cached=cached, batch=batch)

    def _changed(self) -> None:
        self._record.poke()
        for view in list(self._views):
            view.poke()

    # -- the record -----------------------------------------------------------------------
    def _write_record(self) -> None:
        with suppress(StoreError):  # the run goes on; its images are in the store all the same
            _run_records.write_record(self.store.home, self.record())

    def record(self) -> dict[str, Any]:
        """What ``runs/<id>.json`` holds (see `_run_records`)."""
        with self._lock:
            items = [self._item_record(item) for item in self._items]
            status = self._status
            batches = [dict(batch) for batch in self.batches]
        return {
            "id": self.id, "created": _iso(self.created), "created_ts": self.created, "updated": _iso(time.time()),
            "via": self.via, "status": status, "batch_id": str(batches[0]["id"]) if batches else None,
            "batches": batches,
            "defaults": self._recorded_defaults, "axes": self.axes,
            "estimate_usd": self.estimate.usd if self.estimate is not None else None,
            "pid": os.getpid(), "host": socket.gethostname(), "items": items,
        }

    def _item_record(self, item: Item) -> dict[str, Any]:
        images = self._results.get(item.index, [])
        error = self._errors.get(item.index)
        return {"params": self._recorded_params[item.index], "labels": clean_params(item.labels),
                "key": item.key, "images": self._ids_of(item.index, images),
                "error": str(describe_error(error, 300)) if error is not None else None,
                "reused": item.index in self._reused}

    def _ids_of(self, index: int, images: list[Image]) -> list[str]:
        """The store's ids of an item's images: each a query of the index, so made once (the
        record is rewritten as items finish; a thousand queries a time would hold the run up)."""
        ids = self._image_ids.get(index)
        if ids is None:
            ids = self._image_ids[index] = [i for i in map(self.store.id_of, images) if i]
        return ids

    # The items never change: what is derived from them is made once, not at every rewrite of
    # the record (cleaning hashes input images) nor at every refresh of the sheet.
    @cached_property
    def _recorded_params(self) -> list[Any]:
        return [clean_params(_recordable(item.params)) for item in self._items]

    @cached_property
    def _recorded_defaults(self) -> Any:
        return clean_params(_recordable(self.defaults))

    @cached_property
    def axes(self) -> list[str]:
        """The swept names whose values differ between items, in sweep order (rows, then columns)."""
        names: list[str] = []
        for item in self._items:
            names += [n for n in item.labels if n not in names]
        return [n for n in names if len({repr(i.labels.get(n)) for i in self._items}) > 1]

    # -- reading a run back ---------------------------------------------------------------
    @classmethod
    def load(cls, run_id: str, store: Store | None = None) -> Run:
        """The run ``run_id`` from the store's record, with the images it stored and its errors.

        A batch run that has not ended is collected again by its engine (``nbimages._batch``).
        """
        from .store import default_store

        store = store or default_store()
        record = _run_records.read_record(store.home, run_id)
        items = [Item(i, dict(r.get("params") or {}), dict(r.get("labels") or {}), r.get("key"))
                 for i, r in enumerate(record.get("items") or [])]
        run = cls(items, store=store, via=str(record.get("via") or "live"), defaults=record.get("defaults"),
                  run_id=run_id, created=record.get("created_ts"))
        run.batch_id = record.get("batch_id")
        for batch in record.get("batches") or []:
            run.batches.append(dict(batch))
            run._index_batch(batch)
        run._restore(record)
        if run.via == "batch" and run._status not in FINAL:
            from ._engines import make_engine

            run._engine = make_engine("batch", None)
            run._engine.start(run)
        return run

    def _restore(self, record: dict[str, Any]) -> None:
        for index, entry in enumerate(record.get("items") or []):
            images = [image for image in map(self._stored, entry.get("images") or []) if image is not None]
            if images:
                self._results[index] = images
            elif entry.get("error"):
                self._errors[index] = NbImagesError(str(entry["error"]))
            if entry.get("reused"):
                self._reused.add(index)
        status = str(record.get("status") or "running")
        if status == "running" and self.via == "live" and not _still_running(record):
            status = "interrupted"
        self._status = status
        if status in FINAL:
            self._ended.set()

    def _stored(self, image_id: str) -> Image | None:
        try:
            return self.store.get(image_id).load()
        except (KeyError, StoreError):
            return None

    # -- notebooks ------------------------------------------------------------------------
    def show(self) -> None:
        """Show the contact sheet here, updated in place until the run ends."""
        from .contact_sheet import LiveSheet

        self._shown_in = _execution_count()
        self._watch(LiveSheet(self))

    def _watch(self, view: View) -> None:
        """Show ``view`` now and refresh it as items finish, until the run ends."""
        with self._lock:
            if self._status not in FINAL:
                self._views.append(view)
        view.show()

    def _ipython_display_(self) -> None:
        if self._shown_in is None or self._shown_in != _execution_count():
            self.show()  # (not twice in the cell where generate_many showed it)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        from .contact_sheet import ContactSheet

        return ContactSheet(self).bundle()


@dataclass(frozen=True)
class RunInfo:
    """One run of the store, as `runs` lists it; ``load()`` reattaches to it."""

    id: str
    created: str
    via: str
    status: str
    items: int
    done: int
    failed: int
    batch_id: str | None
    home: str

    def load(self) -> Run:
        from .store import Store

        return Run.load(self.id, Store(self.home))


def runs(store: Store | None = None) -> list[RunInfo]:
    """The runs of the store: batches still pending first, then the newest first."""
    from .store import default_store

    store = store or default_store()
    found = [(_info(r, str(store.home)), float(r.get("created_ts") or 0)) for r in _run_records.all_records(store.home)]
    found.sort(key=lambda pair: (not (pair[0].via == "batch" and pair[0].status not in FINAL), -pair[1]))
    return [info for info, _ in found]


def _info(record: dict[str, Any], home: str) -> RunInfo:
    entries = record.get("items") or []
    status = str(record.get("status") or "running")
    if status == "running" and record.get("via") == "live" and not _still_running(record):
        status = "interrupted"
    return RunInfo(id=str(record["id"]), created=str(record.get("created") or ""), via=str(record.get("via")),
                   status=status, items=len(entries), done=sum(1 for e in entries if e.get("images")),
                   failed=sum(1 for e in entries if e.get("error")), batch_id=record.get("batch_id"), home=home)


# -- helpers ----------------------------------------------------------------------------------
def _new_id() -> str:
    return f"run_{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat()


def _one_or_all(images: list[Image] | None) -> Image | list[Image] | None:
    if not images:
        return None
    return images[0] if len(images) == 1 else list(images)


def _recordable(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters fit for a record: input images by their digest or path (`clean_params` does the rest)."""
    from .image import Image

    def one(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [one(v) for v in value]
        if isinstance(value, (str, os.PathLike, Image, bytes)) or value is None:
            return value
        if hasattr(value, "shape") or hasattr(value, "mode"):  # an array or a PIL image: its digest
            from ._cache_key import _canonical

            return _canonical(value)
        return value

    return {k: one(v) for k, v in params.items()}


def _execution_count() -> int | None:
    """The number of the cell being run, when IPython runs."""
    if "IPython" not in sys.modules:
        return None
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance().execution_count if InteractiveShell.initialized() else None


def _still_running(record: dict[str, Any]) -> bool:
    """Whether the process that wrote a live run's record still runs (on another machine: assumed)."""
    pid = record.get("pid")
    if sys.platform == "win32" or record.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True  # (on Windows, os.kill would end the process it asks about)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True

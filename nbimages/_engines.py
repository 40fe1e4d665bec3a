"""Engines: what makes the requests of a `Run`. The seam between a run and how it is made.

An engine implements `Engine`: ``start(run)`` returns at once and works in the background;
``cancel()`` stops it from any thread. It reads ``run.todo()`` (the items without a result:
each an `_run_items.Item` with ``index``, ``params``, ``key`` and ``call``, the validated
request), and reports through the run's callbacks, from any thread:

- ``run._item_done(index, images, record_usage=True)``: the item made these `Image` objects;
  the run saves them to the store (provenance: run id, item index, its parameters; plus the
  batch id once set), records their usage in the ledger (pass ``record_usage=False`` to record
  it yourself, e.g. at batch prices) and refreshes the contact sheet;
- ``run._item_failed(index, error)``: the item failed with this `NbImagesError`;
- ``run._finished()``: the engine stopped (every item reported, or ``cancel()`` was called).
  Exactly once, last; ``run.wait()`` returns after it.

The run's record, ``<store>/runs/<run.id>.json`` (`_run_records`), is written before
``start`` is called and rewritten as items finish. A batch engine calls
``run._set_batch_id(batch_id)`` as soon as the batch exists: the id is written to the record
at once, so a later kernel can reattach. ``Run.load`` of a ``via="batch"`` run that has not
ended makes a new engine and calls ``start(run)`` again with ``run.batch_id`` set: the engine
then collects that batch instead of submitting one.

``via="batch"`` loads ``nbimages._batch.BatchEngine`` (made as ``BatchEngine(client)``,
``client`` a `Client`, an `AsyncClient` or None for the default) on first use; until that
module exists, asking for it raises `BatchNotAvailableError` before anything is written.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, Protocol

from .errors import InvalidInputError, NbImagesError

if TYPE_CHECKING:
    from .run import Run

__all__ = ["VIAS", "BatchNotAvailableError", "Engine", "make_engine"]

VIAS = ("live", "batch")


class Engine(Protocol):
    def start(self, run: Run) -> None: ...

    def cancel(self) -> None: ...


class BatchNotAvailableError(NbImagesError, NotImplementedError):
    """``via="batch"`` in a version of nbimages without the Batch API engine."""

    _hint = "use via='live' (the default) for now"


def make_engine(via: str, client: Any, *, concurrency: int | None = None) -> Engine:
    """The engine for ``via``: checked before a run writes or sends anything."""
    if via == "live":
        from ._live import LiveEngine

        return LiveEngine(client, concurrency=concurrency)
    if via == "batch":
        if importlib.util.find_spec("nbimages._batch") is None:
            raise BatchNotAvailableError("via='batch' (OpenAI's Batch API) is not available in this version")
        engine: Engine = importlib.import_module("nbimages._batch").BatchEngine(client)
        return engine
    raise InvalidInputError("via", via, "'live' or 'batch'")

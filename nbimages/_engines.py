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
``run._add_batch(batch)`` as soon as a batch exists: it is written to the record at once, so a
later kernel can reattach (``run.batch_id`` is the first batch's id). ``Run.load`` of a ``via="batch"`` run that has not
ended makes a new engine and calls ``start(run)`` again with ``run.batch_id`` set: the engine
then collects that batch instead of submitting one.

``via="batch"`` loads ``nbimages._batch.BatchEngine`` (made as ``BatchEngine(client)``,
``client`` a `Client`, an `AsyncClient` or None for the default) on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .errors import InvalidInputError, NbImagesError

if TYPE_CHECKING:
    from .run import Run

__all__ = ["Engine", "item_error", "make_engine"]


class Engine(Protocol):
    def start(self, run: Run) -> None: ...

    def cancel(self) -> None: ...


def make_engine(via: str, client: Any, *, concurrency: int | None = None) -> Engine:
    """The engine for ``via``: checked before a run writes or sends anything."""
    if via == "live":
        from ._live import LiveEngine

        return LiveEngine(client, concurrency=concurrency)
    if via == "batch":
        from ._batch import BatchEngine

        return BatchEngine(client)
    raise InvalidInputError("via", via, "'live' or 'batch'")


def item_error(exc: Exception) -> NbImagesError:
    """What an engine reports an item failed with: ``exc`` itself, or an `NbImagesError` it caused."""
    if isinstance(exc, NbImagesError):
        return exc
    error = NbImagesError(f"unexpected {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error

"""`generate_many`: many images at once, from a list of prompts, dicts of parameters or a `sweep`.

Every item is checked first (a bad one is refused before any request, naming its index and
parameter); images already in the store for the same request are reused (nothing is paid
for them twice: running the same call again requests only what is missing); the cost of the
rest is estimated, and ``max_cost`` refuses a run above it; then the run starts in the
background and `generate_many` returns its `Run`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ._engines import make_engine
from ._replay import replay
from ._run_cost import Estimate, check_max_cost, estimate
from ._run_items import prepare_items
from .errors import InvalidInputError
from .run import Run

if TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .store import Store

__all__ = ["generate_many"]


def generate_many(items: Any, *, via: str = "live", client: Client | AsyncClient | None = None,
                  store: Store | None = None, concurrency: int | None = None, max_cost: float | None = None,
                  progress: bool = True, **params: Any) -> Run:
    """Make an image (or ``n``) for every item; returns the `Run` at once (``run.wait()`` blocks).

    ``items``: prompt strings, or dicts of `Client.generate` / `Client.edit` parameters (an
    ``image``, and optionally a ``mask`` or ``markup``, makes an edit), or any iterable of them:
    a list, a `sweep`, a pandas Series of prompts, ``df.to_dict("records")`` or a DataFrame.
    ``params`` are defaults for every item (an item's own values win).

    ``via``: ``"live"`` (requests now, ``concurrency`` at a time, default 4) or ``"batch"``
    (OpenAI's Batch API: half the price, results within 24 hours). ``client``: a `Client` or
    `AsyncClient` whose settings, key, base URL and transport are used (default ``Client()``).
    ``store``: where images and the run's record go (default: the store of ``NBIMAGES_HOME``).
    ``max_cost``: US dollars; a run whose estimate is higher, or cannot be estimated, is
    refused before any request. ``progress``: show the live contact sheet in a notebook (a
    progress bar on a terminal).
    """
    _check_concurrency(concurrency)
    client = _client(client)
    engine = make_engine(via, client, concurrency=concurrency)
    prepared = prepare_items(items, params, backend=client.backend, base_url=client.base_url)
    run = Run(prepared, store=_store(store), via=via, defaults=params)
    for item in run.todo():
        found = replay(run.store, item.key, item.wanted) if item.key else None
        if found is not None:
            run._item_reused(item.index, found)
    priced = estimate(run.todo())
    run.estimate = _at_batch_prices(priced) if via == "batch" else priced
    check_max_cost(max_cost, run.estimate)
    if progress:
        _show_progress(run)
    run._start(engine)
    return run


def _at_batch_prices(found: Estimate) -> Estimate:
    """The Batch API charges a share of the live price (``batch_discount`` in ``prices.json``)."""
    from .prices import batch_discount

    return found if found.usd is None else replace(found, usd=found.usd * batch_discount())


def _check_concurrency(concurrency: Any) -> None:
    if concurrency is None:
        return
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidInputError("concurrency", concurrency, "a whole number of requests at a time, such as 4")


def _client(client: Any) -> Client | AsyncClient:
    from .client import AsyncClient, Client

    if client is None:
        return Client()
    if not isinstance(client, (Client, AsyncClient)):
        raise InvalidInputError("client", client, "an nbimages.Client or nbimages.AsyncClient")
    return client


def _store(store: Store | None) -> Store:
    from .store import Store, default_store

    if store is None:
        return default_store()
    if not isinstance(store, Store):
        raise InvalidInputError("store", store, "an nbimages.Store")
    return store


def _show_progress(run: Run) -> None:
    """The live contact sheet where displays update in place; a progress bar where they print."""
    from .display import _prints_updates

    if _prints_updates():
        from .contact_sheet import TextProgress

        run._watch(TextProgress(run))
    else:
        run.show()

"""The live engine: a run's requests made now, ``concurrency`` at a time, as one run.

An `AsyncClient` (`_engine_clients.async_twin`) on an event loop in a thread of its own, so
`generate_many` returns at once and the kernel stays free. ``concurrency`` workers take the
items in order: never more requests in flight. Every request first passes one `RateGate`
shared by the run: a 429 pauses all of them for its ``retry-after``, and the rate-limit
headers spread requests out before the limit is hit. The client itself does not retry; the
engine retries an item (a 429 up to `RATE_LIMIT_RETRIES` times, through the gate; a server
or connection error as the client would) and otherwise reports it failed: one refused prompt
does not stop the others. ``cancel()`` cancels the workers, which closes their connections.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from ._engines import item_error
from ._rate_gate import RateGate
from ._retry import RetryPolicy
from .errors import APIError, NbImagesError

if TYPE_CHECKING:
    from ._run_items import Item
    from .client import AsyncClient
    from .run import Run

__all__ = ["DEFAULT_CONCURRENCY", "LiveEngine"]

DEFAULT_CONCURRENCY = 4
RATE_LIMIT_RETRIES = 8


class LiveEngine:
    """``client``: a `Client` or `AsyncClient` whose settings the requests use (None: ``Client()``)."""

    def __init__(self, client: Any = None, *, concurrency: int | None = None) -> None:
        self.client = client
        self.concurrency = concurrency or DEFAULT_CONCURRENCY
        self.gate = RateGate(low_water=2 * self.concurrency)
        self.retry = RetryPolicy()
        self.rate_retry = RetryPolicy(max_retries=RATE_LIMIT_RETRIES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()

    def start(self, run: Run) -> None:
        thread = threading.Thread(target=asyncio.run, args=(self._main(run),), daemon=True,
                                  name=f"nbimages-{run.id}")
        thread.start()
        self._started.wait()

    def cancel(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)

    async def _main(self, run: Run) -> None:
        from ._engine_clients import async_twin

        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._started.set()
        queue = deque(run.todo())
        client = async_twin(self._client(), self.gate)
        try:
            workers = min(self.concurrency, len(queue))
            await asyncio.gather(*(self._worker(run, client, queue) for _ in range(workers)))
        except asyncio.CancelledError:
            pass  # the run says "cancelled"; what finished is stored
        finally:
            await client.aclose()
            run._finished()

    def _client(self) -> Any:
        if self.client is None:
            from .client import Client

            self.client = Client()
        return self.client

    async def _worker(self, run: Run, client: AsyncClient, queue: deque[Item]) -> None:
        while queue:
            await self._one(run, client, queue.popleft())

    async def _one(self, run: Run, client: AsyncClient, item: Item) -> None:
        assert item.call is not None
        attempt = 0
        while True:
            await self.gate.enter()
            try:
                images = await client._run(item.call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # anything else fails this item only: the run goes on
                error = item_error(exc)
                delay = self._retry_delay(attempt, error)
                if delay is None:
                    run._item_failed(item.index, error)
                    return
                attempt += 1
                await asyncio.sleep(delay)
                continue
            run._item_done(item.index, images)
            return

    def _retry_delay(self, attempt: int, error: NbImagesError) -> float | None:
        """Seconds before trying the item again, or None to report it failed. After a 429 the
        gate holds every worker, this one included: no wait of its own."""
        rate_limited = isinstance(error, APIError) and error.status == 429
        delay = (self.rate_retry if rate_limited else self.retry).after_error(attempt, error)
        if delay is None:
            return None
        return 0.0 if rate_limited else delay

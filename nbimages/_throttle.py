"""`Throttle`: run a refresh at most every so often, and never lose the last one."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """``poke()`` runs ``fn`` now if it last ran ``interval`` seconds ago, else once at the end of
    the interval (a timer thread); ``flush()`` runs it now. Runs of ``fn`` never overlap."""

    def __init__(self, interval: float, fn: Callable[[], None]) -> None:
        self.interval = interval
        self.fn = fn
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._last = float("-inf")
        self._timer: threading.Timer | None = None

    def poke(self) -> None:
        with self._lock:
            if self._timer is not None:
                return  # a run is due already: it will see this change
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self._timer = threading.Timer(wait, self._due)
                self._timer.daemon = True
                self._timer.start()
                return
            self._last = time.monotonic()
        self._run()

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last = time.monotonic()
        self._run()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            self._last = time.monotonic()
        self._run()

    def _run(self) -> None:
        with self._running:
            self.fn()

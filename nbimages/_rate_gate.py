"""`RateGate`: one run's requests adapt to the server's rate limits together, not one by one.

Every reply passes by `observe`. A 429 closes the gate for everyone for its ``retry-after``
(or ``retry-after-ms``); the ``x-ratelimit-remaining-requests`` and
``x-ratelimit-reset-requests`` (and ``-limit-``) headers of ordinary replies pace the next
requests at the rate the limit gives them back, once few requests remain. `enter` waits for the gate.
Used from one event loop (no locks).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping

from ._retry import _retry_after

__all__ = ["RateGate", "parse_duration"]

DEFAULT_PAUSE = 1.0  # a 429 without a hint
MAX_PAUSE = 120.0  # the SDK's longest retry-after

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(text: str | None) -> float | None:
    """Seconds of OpenAI's reset durations (``"1s"``, ``"6m0s"``, ``"120ms"``, ``"0.5"``); None if unreadable."""
    if not text:
        return None
    text = text.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


class RateGate:
    """``low_water``: below this many remaining requests, starts are spread evenly until the reset."""

    def __init__(self, low_water: int = 8, clock: Callable[[], float] = time.monotonic) -> None:
        self.low_water = low_water
        self.clock = clock
        self.pauses = 0  # 429s seen
        self._open_at = 0.0
        self._spacing = 0.0
        self._last_start = float("-inf")

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        now = self.clock()
        if status == 429:
            self.pauses += 1
            hint = _retry_after(headers)
            pause = DEFAULT_PAUSE if hint is None or hint < 0 else min(hint, MAX_PAUSE)
            self._open_at = max(self._open_at, now + pause)
            return
        remaining = _int(headers.get("x-ratelimit-remaining-requests"))
        reset = parse_duration(headers.get("x-ratelimit-reset-requests"))
        if remaining is None or reset is None:
            return
        interval = min(_interval(remaining, reset, _int(headers.get("x-ratelimit-limit-requests"))), MAX_PAUSE)
        self._spacing = interval if remaining < self.low_water else 0.0
        if remaining <= 0:
            self._open_at = max(self._open_at, now + interval)

    def wait_time(self) -> float:
        """Seconds until the next request may start (0: now)."""
        start = max(self._open_at, self._last_start + self._spacing)
        return max(0.0, start - self.clock())

    async def enter(self) -> None:
        """Wait until a request may start, then count it as started."""
        while (wait := self.wait_time()) > 0:
            await asyncio.sleep(wait)
        self._last_start = self.clock()


def _interval(remaining: int, reset: float, limit: int | None) -> float:
    """Seconds between requests that the limit sustains. The reset is the time until the limit is
    whole again, so requests come back at (limit - remaining) / reset a second; and a limit
    of requests is one per minute at most (it may hold fewer at once than it allows a minute).
    Without the limit, what remains is spread until the reset."""
    if limit is None or limit <= 0:
        return reset / max(remaining, 1)
    return max(60.0 / limit, reset / max(limit - remaining, 1))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

"""A requests-per-minute limit, as OpenAI enforces and reports it.

A token bucket: it holds ``burst`` requests (the whole minute's by default) and refills at
``rpm / 60`` requests a second. Every limited reply says where it stands in the
``x-ratelimit-*-requests`` headers; a request over the limit is a 429
``rate_limit_exceeded`` with ``retry-after`` (whole seconds) and ``retry-after-ms``.
OpenAI may enforce a limit over shorter periods than a minute ("60,000 requests/minute
may be enforced as 1,000 requests/second"): a small ``burst`` does the same.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .protocol import APIError

RATE_LIMITS_URL = "https://platform.openai.com/account/rate-limits"


def duration(seconds: float) -> str:
    """``seconds`` as OpenAI's headers and messages write it (Go style): ``20ms``, ``1s``,
    ``8.64s``, ``6m0s``, ``1h0m0s``."""
    ms = max(0, round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    minutes, rest = divmod(ms, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if not minutes:
        return f"{secs}s"
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + f"{minutes}m{secs}s"


@dataclass(frozen=True)
class Admission:
    """The limiter's answer to one request."""

    allowed: bool
    limit: int  # requests per minute
    remaining: int  # requests that may be sent right now
    reset: float  # seconds until the bucket is full again
    retry_after: float = 0.0  # seconds until the next request may pass (refused ones)

    def headers(self) -> list[tuple[str, str]]:
        return [("x-ratelimit-limit-requests", str(self.limit)),
                ("x-ratelimit-remaining-requests", str(self.remaining)),
                ("x-ratelimit-reset-requests", duration(self.reset))]

    def error(self) -> APIError:
        """The 429 of a refused request, with the headers the SDK's retry reads."""
        wait = duration(self.retry_after)
        message = (f"Rate limit reached in organization org-simulator on requests per min (RPM): "
                   f"Limit {self.limit}, Used {self.limit - self.remaining}, Requested 1. "
                   f"Please try again in {wait}. Visit {RATE_LIMITS_URL} to learn more.")
        retry = [("retry-after", str(max(1, math.ceil(self.retry_after)))),
                 ("retry-after-ms", str(max(1, math.ceil(self.retry_after * 1000))))]
        return APIError(429, message, type="requests", code="rate_limit_exceeded",
                        headers=[*self.headers(), *retry])


class RequestLimiter:
    """At most ``rpm`` requests a minute, at most ``burst`` of them at once (thread-safe)."""

    def __init__(self, rpm: int, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rpm < 1:
            raise ValueError("rpm must be at least 1")
        self.rpm = rpm
        self.burst = max(1, burst if burst is not None else rpm)
        self._per_second = rpm / 60.0
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._at = clock()

    def __repr__(self) -> str:
        return f"RequestLimiter(rpm={self.rpm}, burst={self.burst})"

    def admit(self) -> Admission:
        """Take one request's place in the bucket, if there is one."""
        with self._lock:
            self._refill()
            allowed = self._tokens >= 1.0
            if allowed:
                self._tokens -= 1.0
            retry_after = 0.0 if allowed else (1.0 - self._tokens) / self._per_second
            return Admission(allowed, self.rpm, math.floor(self._tokens),
                             (self.burst - self._tokens) / self._per_second, retry_after)

    def reset(self) -> None:
        """A full bucket again."""
        with self._lock:
            self._tokens = float(self.burst)
            self._at = self._clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self._per_second)
        self._at = now

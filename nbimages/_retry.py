"""When to retry, how long to wait, and how HTTP failures become nbimages errors."""

from __future__ import annotations

import email.utils
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._secrets import redact, redact_json
from .errors import APIConnectionError, APIError, APITimeoutError, error_class

if TYPE_CHECKING:
    import httpx

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_ERROR_TEXT = 500
MAX_SECRET_SPAN = 1000  # longer than any key: one starting before a cut is redacted whole
NEVER_RETRY_CODES = frozenset(
    {"insufficient_quota", "moderation_blocked", "content_policy_violation", "billing_hard_limit_reached"}
)


@dataclass(frozen=True)
class RetryPolicy:
    """Like the official SDK: 0.5 s doubling to 8 s, up to 25% jitter, server hints first.

    Only failures that happened before any event was delivered are retried. A read
    timeout is not retried: the server may still be generating (and charging for) the image.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 120.0  # the SDK's MAX_RETRY_AFTER_DELAY

    def after_error(self, attempt: int, error: Exception, headers: Any = None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        As the SDK decides: a server hint longer than ``max_retry_after`` means no retry at all;
        ``x-should-retry`` is obeyed either way; then 408, 409, 429 and 5xx are retried (but not
        nbimages' `NEVER_RETRY_CODES`, which retrying cannot fix).
        """
        if attempt >= self.max_retries:
            return None
        server_delay = _retry_after(headers or {})
        if isinstance(error, APIError):
            if not self._retries(error, headers or {}, server_delay):
                return None
            if server_delay is not None and 0 < server_delay <= self.max_retry_after:
                return server_delay
        elif isinstance(error, APITimeoutError) or not isinstance(error, APIConnectionError):
            return None
        delay = min(self.initial_delay * 2**attempt, self.max_delay)
        return delay * (1 - 0.25 * random.random())

    def _retries(self, error: APIError, headers: Any, server_delay: float | None) -> bool:
        if server_delay is not None and math.isfinite(server_delay) and server_delay > self.max_retry_after:
            return False
        hint = headers.get("x-should-retry")
        if hint in ("true", "false"):
            return hint == "true"
        return error.code not in NEVER_RETRY_CODES and (error.status in RETRY_STATUSES or error.status >= 500)


_INFINITY_WORDS = ("inf", "+inf", "infinity", "+infinity")


def _retry_after(headers: Any) -> float | None:
    """The server's hint in seconds (``retry-after-ms`` first), as the SDK reads it: a number
    too large for a float is a delay too long to wait, not a hint to ignore."""
    for name, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            delay = float(value)
        except ValueError:
            continue
        if delay == math.inf and value.strip().lower() not in _INFINITY_WORDS:
            return sys.float_info.max  # finite, and longer than any limit
        return delay / divisor
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor an HTTP date: ignore the hint
        return None
    return parsed.timestamp() - time.time()


def api_error(response: httpx.Response) -> APIError:
    """An `APIError` subclass from an error response whose body was read.

    Everything taken from the server is redacted here: a server may echo the key it was sent.
    """
    unexpected = not_the_api(response)
    if unexpected is not None:
        return error_class(response.status_code, None)(
            unexpected, status=response.status_code, code="not_the_api",
            request_id=_text_or_none(response.headers.get("x-request-id")))
    message, code, kind, param, body = f"HTTP {response.status_code}", None, None, None, None
    try:
        body = redact_json(response.json())
    except ValueError:
        text = server_text(response.text, MAX_ERROR_TEXT).strip()
        if text:
            message = text
    if isinstance(body, dict):
        err: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
        message = _text_or_none(err.get("message")) or message
        code, kind, param = (_text_or_none(err.get(name)) for name in ("code", "type", "param"))
    cls = error_class(response.status_code, code)
    return cls(
        message,
        status=response.status_code,
        code=code,
        type=kind,
        param=param,
        request_id=_text_or_none(response.headers.get("x-request-id")),
        body=body,
    )


def not_the_api(response: httpx.Response) -> str | None:
    """Why a reply cannot be the API's (a redirect, an HTML page), or None.

    Said as such, so that a login page or a proxy is not reported as a broken stream.
    """
    status = response.status_code
    check_url = "check OPENAI_BASE_URL (OpenAI's is https://api.openai.com/v1)"
    if 300 <= status < 400:
        location = response.headers.get("location")
        where = f" to {server_text(location, 200)}" if location else ""
        return (f"the server answered {status}, a redirect{where}, instead of the API; nbimages does not "
                f"follow redirects (they could take the key elsewhere): {check_url}")
    if response.headers.get("content-type", "").lower().startswith("text/html"):
        return f"the server answered with an HTML page (status {status}), not the API: {check_url}"
    return None


def server_text(text: str, limit: int) -> str:
    """The first ``limit`` characters of raw server text, redacted before it is cut (a key
    cut in two would no longer be recognised)."""
    return redact(text[: limit + MAX_SECRET_SPAN])[:limit]


def _text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return redact(value if isinstance(value, str) else json.dumps(value, default=str))


def connection_error(exc: Exception) -> APIConnectionError:
    """Translate an httpx transport error (the one place where that happens).

    httpx's text may hold the request's URL, with any credentials in it: redacted.
    """
    import httpx

    reason = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"the request timed out ({type(exc).__name__}); raise timeout= for slow, high-quality images")
    if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol)):
        return APIConnectionError(f"could not reach the server: {reason}")
    # The server was reached, then the connection broke (dropped, cut mid-body, reset).
    return APIConnectionError(f"the connection to the server broke: {reason}")

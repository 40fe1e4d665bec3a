"""Keeping credentials out of everything nbimages shows, stores or raises.

Server text enters nbimages at one boundary (the decoding of a reply, an error body or a
stream event); `redact_json` cleans it there, so that every sink after it (outputs, widget
state, exceptions, logs, the store) only ever sees clean text. `redact` cleans one string:
values shaped like API keys or bearer tokens, and every secret this process knows (the
keys clients were made with, passwords in base URLs, ``OPENAI_API_KEY``).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any

__all__ = ["IMAGE_FIELDS", "REDACTED", "is_secret_key", "redact", "redact_json", "remember_secret"]

REDACTED = "[redacted]"
# Fields holding base64 image data: never text, never scanned (megabytes each).
IMAGE_FIELDS = frozenset({"b64_json", "partial_image_b64", "result"})
MIN_SECRET_CHARS = 8

_SECRET_KEY = re.compile(
    r"api[-_ ]?key|authori[sz]ation|^auth$|secret|passw|cookie|bearer|header|credential|"
    r"^(?:access|refresh|session|id)?[-_]?token$",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(r"\b(?:sk|rk|sess)-[A-Za-z0-9_\-]{16,}|\bBearer\s+\S+", re.IGNORECASE)

_lock = threading.Lock()
_known: set[str] = set()


def remember_secret(secret: str | None) -> None:
    """Redact ``secret`` wherever it appears from now on (too short a value is ignored)."""
    if secret and len(secret) >= MIN_SECRET_CHARS:
        with _lock:
            _known.add(secret)


def _secrets() -> list[str]:
    with _lock:
        known = set(_known)
    env_key = os.environ.get("OPENAI_API_KEY") or ""
    if len(env_key) >= MIN_SECRET_CHARS:
        known.add(env_key)
    return sorted(known, key=len, reverse=True)  # a longer secret first, in case one holds another


def is_secret_key(key: Any) -> bool:
    """Whether a parameter or header name says that its value is a credential."""
    return bool(_SECRET_KEY.search(str(key)))


def redact(text: str) -> str:
    """``text`` with key-shaped values and every known secret replaced by ``[redacted]``."""
    text = _SECRET_VALUE.sub(REDACTED, text)
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_json(value: Any, skip: frozenset[str] = IMAGE_FIELDS) -> Any:
    """A decoded JSON value with every string redacted, except those under the ``skip`` keys."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: (v if k in skip else redact_json(v, skip)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, skip) for v in value]
    return value

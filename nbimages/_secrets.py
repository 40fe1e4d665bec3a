"""Keeping credentials out of everything nbimages shows, stores or raises.

Server text enters nbimages at one boundary (the decoding of a reply, an error body or a
stream event); `redact_json` cleans it there, so that every sink after it (outputs, widget
state, exceptions, logs, the store) only ever sees clean text. `redact` cleans one string:
values shaped like API keys or bearer tokens, passwords in URLs, and every secret this
process knows (the keys and Azure AD tokens clients were made with, credentials in base
URLs, the variables of `SECRET_ENV`). `display_url` is a URL fit to show; `TextRedactor`
cleans text that arrives in pieces, where one key may be split across two of them;
`redact_http_logs` cleans what the HTTP stack logs (request URLs, response headers).
"""

from __future__ import annotations

import logging
import os
import re
import string
import threading
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

__all__ = [
    "IMAGE_FIELDS",
    "REDACTED",
    "RedactingFilter",
    "TextRedactor",
    "display_url",
    "is_secret_key",
    "redact",
    "redact_http_logs",
    "redact_json",
    "remember_secret",
    "remember_url_secrets",
]

REDACTED = "[redacted]"
URL_MASK = "***"
# Fields holding base64 image data: never text, never scanned (megabytes each).
IMAGE_FIELDS = frozenset({"b64_json", "partial_image_b64", "result"})
MIN_SECRET_CHARS = 8

_SECRET_KEY = re.compile(
    r"api[-_ ]?key|authori[sz]ation|^auth$|secret|passw|cookie|bearer|header|credential|"
    r"^(?:access|refresh|session|id)?[-_]?token$",
    re.IGNORECASE,
)
# Query parameters that carry a credential, besides those `is_secret_key` names (Azure's api-key,
# Google's key). A signature is one too in a base URL; in server text it is left alone, as it is
# what lets an image URL the server returns be downloaded.
_KEY_QUERY_NAMES = frozenset({"key"})
_SIGNATURE_QUERY_NAMES = frozenset({"sig", "signature"})
_SECRET_VALUE = re.compile(r"\b(?:sk|rk|sess)-[A-Za-z0-9_\-]{16,}|\bBearer\s+\S+", re.IGNORECASE)
# "scheme://user:password@": the password, in any text.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^/\s:@?#]*:)[^/\s@?#]+@", re.IGNORECASE)
_QUERY_PARAM = re.compile(r"([?&]([^=&#\s]+)=)([^&#\s\"'<>]+)")

# Read at each use: a key set after a client was made is a secret too.
SECRET_ENV = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN")

_lock = threading.Lock()
_known: frozenset[str] = frozenset()  # replaced, never mutated: readers need no lock
_ordered: tuple[frozenset[str], tuple[str, ...], tuple[str, ...]] = (frozenset(), (), ())


def remember_secret(secret: str | None) -> None:
    """Redact ``secret`` wherever it appears from now on (too short a value is ignored)."""
    global _known
    if secret and len(secret) >= MIN_SECRET_CHARS and secret not in _known:
        with _lock:
            _known = _known | {secret}


def remember_url_secrets(url: str | None) -> None:
    """Remember the credentials a URL carries: its password (or a lone user name, which is then
    the token) and credential query parameters, as written and percent-decoded."""
    for secret in _url_secrets(url or ""):
        remember_secret(secret)
        remember_secret(unquote(secret))


def _url_secrets(url: str) -> list[str]:
    parts = _split(url)
    if parts is None:
        return []
    found = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo:
        user, colon, password = userinfo.partition(":")
        found.append(password if colon else user)
    if parts.query:  # the values as written: they are also remembered percent-decoded
        found += [m[3] for m in _QUERY_PARAM.finditer("?" + parts.query) if _is_url_credential(unquote(m[2]))]
    return [s for s in found if s]


def _secrets() -> tuple[str, ...]:
    """Every known secret, the longest first (in case one holds another)."""
    global _ordered
    known = _known
    env_keys = tuple(os.environ.get(name) or "" for name in SECRET_ENV)
    cached_known, cached_env, ordered = _ordered
    if known is cached_known and env_keys == cached_env:
        return ordered
    every = set(known) | {key for key in env_keys if len(key) >= MIN_SECRET_CHARS}
    ordered = tuple(sorted(every, key=len, reverse=True))
    _ordered = (known, env_keys, ordered)
    return ordered


def is_secret_key(key: Any) -> bool:
    """Whether a parameter or header name says that its value is a credential."""
    return bool(_SECRET_KEY.search(str(key)))


def _is_key_query(name: str) -> bool:
    return name.lower() in _KEY_QUERY_NAMES or is_secret_key(name)


def _is_url_credential(name: str) -> bool:
    return name.lower() in _SIGNATURE_QUERY_NAMES or _is_key_query(name)


def _mask_key_query(match: re.Match[str]) -> str:
    return match[1] + URL_MASK if _is_key_query(unquote(match[2])) else match[0]


def _mask_url_credential(match: re.Match[str]) -> str:
    return match[1] + URL_MASK if _is_url_credential(unquote(match[2])) else match[0]


def redact(text: str) -> str:
    """``text`` with key-shaped values, URL credentials and every known secret masked."""
    if not text:
        return text
    text = _SECRET_VALUE.sub(REDACTED, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1" + URL_MASK + "@", text)
    if "=" in text:
        text = _QUERY_PARAM.sub(_mask_key_query, text)
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


# -- URLs ------------------------------------------------------------------------------------------
def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return None
    return parts


def display_url(url: str) -> str:
    """``url`` fit to show: ``https://user:***@host/v1?api-key=***`` (the real one is for requests only)."""
    parts = _split(url)
    if parts is None:  # unparsable: at least no user info
        return redact(re.sub(r"//[^/?#]*@", "//" + URL_MASK + "@", url))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{URL_MASK}@{host}" if colon else f"{URL_MASK}@{host}"
    query = _QUERY_PARAM.sub(_mask_url_credential, "?" + parts.query)[1:] if parts.query else ""
    return redact(urlunsplit(parts._replace(netloc=netloc, query=query)))


# -- text in pieces ----------------------------------------------------------------------------------
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "_-")
_BEARER_BEFORE = re.compile(r"\bBearer\s+\Z", re.IGNORECASE)
MAX_HELD_CHARS = 2048  # past this, text is let through: a run that long is not a key being typed


class TextRedactor:
    """Redacts text that arrives in pieces (a stream's text deltas).

    A key may be split across pieces (a model streams it token by token), where redacting
    each piece alone would miss it: the end of the text that could still grow into a secret
    is held back until the next piece shows what it is. ``feed`` returns what is safe to show
    now; ``flush`` the rest, at the end of the stream.
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        cut = _safe_prefix_length(text)
        self._held = text[cut:]
        return redact(text[:cut])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return redact(text)


def _safe_prefix_length(text: str) -> int:
    """How much of ``text`` can be redacted and shown now, without cutting a secret in two."""
    cut = _unfinished_start(text)
    for secret in _secrets():
        cut = min(cut, _partial_secret_start(text, secret))
    while True:  # never cut through a whole match: move the cut to its start
        spans = [m.span() for pattern in (_SECRET_VALUE, _URL_PASSWORD) for m in pattern.finditer(text)]
        spans += [(i, i + len(s)) for s in _secrets() for i in _occurrences(text, s)]
        crossing = [start for start, end in spans if start < cut < end]
        if not crossing:
            return cut
        cut = min(crossing)


def _unfinished_start(text: str) -> int:
    """Where the end of ``text`` that may still grow into a secret begins: a run of key
    characters, a bearer token, or a URL (whose password comes after the user name)."""
    floor = max(0, len(text) - MAX_HELD_CHARS)
    word = len(text)
    while word > floor and text[word - 1] in _KEY_CHARS:
        word -= 1
    token = word
    while token > floor and not text[token - 1].isspace():
        token -= 1
    if ":" in text[token:]:  # a URL, or the beginning of one
        return token
    bearer = _BEARER_BEFORE.search(text, max(floor, token - 64), token)
    return bearer.start() if bearer else word


def _partial_secret_start(text: str, secret: str) -> int:
    """Where a beginning of ``secret`` ends ``text``, or ``len(text)``."""
    at = text.find(secret[0], max(0, len(text) - len(secret) + 1))
    while at >= 0:
        if secret.startswith(text[at:]):
            return at
        at = text.find(secret[0], at + 1)
    return len(text)


def _occurrences(text: str, secret: str) -> list[int]:
    found, at = [], text.find(secret)
    while at >= 0:
        found.append(at)
        at = text.find(secret, at + 1)
    return found


# -- logs of the HTTP stack ------------------------------------------------------------------------
class RedactingFilter(logging.Filter):
    """Redacts a log record's text: httpx logs each request's URL (credentials included),
    httpcore each response's headers (a server may echo the key in one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# A logger's filters see only its own records, not its children's: every logger by name.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
                "httpcore.socks")
_log_filter = RedactingFilter()


def redact_http_logs() -> None:
    """Install `RedactingFilter` on the HTTP stack's loggers (once; it costs nothing while they are off)."""
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _log_filter not in logger.filters:
            logger.addFilter(_log_filter)

"""Defaults and environment, in one place.

Everything a user may want to change lives here: model names, timeouts, limits.
Model names are open strings; nothing else in the package hard-codes one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://simulator.nbimages.local/v1"

DEFAULT_IMAGE_MODEL = "gpt-image-1.5"
DEFAULT_MODEL = "gpt-5"

# Image models take minutes at high quality: a short read timeout breaks them.
DEFAULT_TIMEOUT = 600.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RETRIES = 2

# Hard limits of the API that are stable enough to check before sending anything.
MAX_PROMPT_CHARS = 32_000
MAX_N = 10
MAX_PARTIAL_IMAGES = 3
MAX_EDIT_IMAGES = 16
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024
MAX_SIDE = 3840
LEGACY_SIZES = frozenset({"256x256", "512x512", "1792x1024", "1024x1792"})
DETAIL_LEVELS = ("auto", "low", "high", "original")
BACKGROUNDS_NEEDING_ALPHA = frozenset({"transparent"})
FORMATS_WITH_ALPHA = frozenset({"png", "webp", "gif"})
EDIT_INPUT_FORMATS = frozenset({"png", "webp", "jpeg"})
VISION_INPUT_FORMATS = frozenset({"png", "webp", "jpeg", "gif"})


def image_model() -> str:
    return os.environ.get("NBIMAGES_IMAGE_MODEL") or DEFAULT_IMAGE_MODEL


def mainline_model() -> str:
    return os.environ.get("NBIMAGES_MODEL") or DEFAULT_MODEL


@dataclass(frozen=True)
class Backend:
    """Where requests go. ``kind`` is "openai", "custom" (a compatible server) or "local"."""

    kind: str
    base_url: str
    api_key: str | None

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else "none"
        return f"Backend(kind={self.kind!r}, base_url={self.base_url!r}, api_key={key})"


def resolve_backend(api_key: str | None = None, base_url: str | None = None, backend: str | None = None) -> Backend:
    """Arguments first, then the SDK's environment variables, then the simulator."""
    from .errors import ConfigurationError

    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    backend = (backend or os.environ.get("NBIMAGES_BACKEND") or "").strip().lower() or None
    if backend not in (None, "openai", "local"):
        raise ConfigurationError(f"NBIMAGES_BACKEND={backend!r} is not valid: expected 'openai' or 'local'")
    if backend == "local" or (backend is None and not api_key and not base_url):
        return Backend("local", LOCAL_BASE_URL, None)
    if backend == "openai" and not api_key and not base_url:
        raise ConfigurationError(
            "NBIMAGES_BACKEND=openai needs an API key: set OPENAI_API_KEY (or pass api_key=...)"
        )
    url = (base_url or OPENAI_BASE_URL).rstrip("/")
    kind = "openai" if url == OPENAI_BASE_URL else "custom"
    return Backend(kind, url, api_key)


def simulator_options() -> dict[str, float]:
    """Latency of the embedded simulator, so that streaming is visible in a notebook."""
    return {
        "latency": float(os.environ.get("NBIMAGES_SIM_LATENCY", "0.2")),
        "partial_interval": float(os.environ.get("NBIMAGES_SIM_PARTIAL_INTERVAL", "0.35")),
    }

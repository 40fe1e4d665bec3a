"""Defaults and environment, in one place.

Everything a user may want to change lives here: model names, timeouts, limits.
Model names are open strings; nothing else in the package hard-codes one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ._azure import AzureSettings

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://simulator.nbimages.local/v1"

DEFAULT_IMAGE_MODEL = "gpt-image-1.5"
DEFAULT_MODEL = "gpt-5"
VARIATIONS_MODEL = "dall-e-2"  # the variations endpoint's only model, when none is named

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
MAX_OUTPUT_PIXELS = 3840 * 2160  # the largest size any image model makes (2880x2880 is as many)
DETAIL_LEVELS = ("auto", "low", "high", "original")
BACKGROUNDS_NEEDING_ALPHA = frozenset({"transparent"})
FORMATS_WITH_ALPHA = frozenset({"png", "webp", "gif"})
EDIT_INPUT_FORMATS = frozenset({"png", "webp", "jpeg"})
VISION_INPUT_FORMATS = frozenset({"png", "webp", "jpeg", "gif"})


# NamedTuples rather than frozen dataclasses: config is imported with the magics, at every
# kernel start, and a dataclass costs ten times as much to define.
class SizeLimits(NamedTuple):
    """The sizes one image model takes, on top of the generic checks of `inputs.validate_size`.

    ``sizes`` is the whole list for models with fixed sizes (None: any WIDTHxHEIGHT within the
    bounds); ``min_pixels`` and ``max_pixels`` bound the total of a WIDTHxHEIGHT size.
    """

    sizes: frozenset[str] | None = None
    min_pixels: int = 0
    max_pixels: int = MAX_OUTPUT_PIXELS


_GPT_IMAGE_1_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
_FLEXIBLE_SIZES = SizeLimits(min_pixels=1024 * 640, max_pixels=MAX_OUTPUT_PIXELS)

# Keyed by model-name prefix: the longest prefix that matches wins, so a dated snapshot
# ("gpt-image-1-mini-2025-10-06") or a variant ("gpt-image-2.5-flare") shares its model's row.
# Models not listed here (other servers' models) get only the generic checks.
SIZE_LIMITS: dict[str, SizeLimits] = {
    "gpt-image-1": SizeLimits(sizes=_GPT_IMAGE_1_SIZES),  # and gpt-image-1-mini
    "gpt-image-1.5": _FLEXIBLE_SIZES,
    "gpt-image-2": _FLEXIBLE_SIZES,  # and gpt-image-2.5-..., gpt-image-2.6-...
    "dall-e-2": SizeLimits(sizes=frozenset({"256x256", "512x512", "1024x1024"})),
    "dall-e-3": SizeLimits(sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"})),
}


def size_limits(model: object) -> SizeLimits | None:
    """The `SizeLimits` of ``model`` (None for a model not in `SIZE_LIMITS`, or no model)."""
    if not isinstance(model, str):
        return None
    name = model.strip().lower()
    # "gpt-image-1" must not claim a "gpt-image-10": a prefix ends where a number ends.
    matches = [p for p in SIZE_LIMITS if name.startswith(p) and not name[len(p):len(p) + 1].isdigit()]
    return SIZE_LIMITS[max(matches, key=len)] if matches else None


def image_model() -> str:
    return os.environ.get("NBIMAGES_IMAGE_MODEL") or DEFAULT_IMAGE_MODEL


def mainline_model() -> str:
    return os.environ.get("NBIMAGES_MODEL") or DEFAULT_MODEL


class Backend(NamedTuple):
    """Where requests go. ``kind`` is "openai", "custom" (a compatible server), "azure" (Azure
    OpenAI: ``azure`` holds its endpoint, API version and credential) or "local"."""

    kind: str
    base_url: str
    api_key: str | None
    azure: AzureSettings | None = None

    @property
    def display_url(self) -> str:
        """``base_url`` fit to show: a password or key in it is masked (requests use ``base_url``)."""
        from ._secrets import display_url

        return display_url(self.base_url)

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        key = "set" if self.api_key else "none"
        auth = f", auth={self.azure.auth}" if self.azure is not None else ""
        return f"Backend(kind={self.kind!r}, base_url={self.display_url!r}, api_key={key}{auth})"


BACKEND_CHOICES = ("openai", "azure", "local")


def resolve_backend(api_key: str | None = None, base_url: str | None = None, backend: str | None = None,
                    *, azure: Mapping[str, Any] | None = None) -> Backend:
    """Where requests go: the first of these that applies.

    1. ``backend=`` (or ``NBIMAGES_BACKEND``): "local", "openai" or "azure".
    2. Azure, when an Azure argument is given (``azure``: ``azure_endpoint``, ``azure_deployment``,
       ``api_version``, ``azure_ad_token``, ``azure_ad_token_provider``).
    3. OpenAI (or a compatible server), when ``api_key`` or ``base_url`` is given or
       ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set.
    4. Azure, when ``AZURE_OPENAI_ENDPOINT`` is set.
    5. The offline simulator.

    Azure reads the arguments, then the SDK's variables, as `openai.AzureOpenAI` does (`_azure.resolve`).
    """
    from .errors import ConfigurationError

    azure = {k: v for k, v in (azure or {}).items() if v is not None}
    backend = (backend or os.environ.get("NBIMAGES_BACKEND") or "").strip().lower() or None
    if backend not in (None, *BACKEND_CHOICES):
        raise ConfigurationError(f"NBIMAGES_BACKEND={backend!r} is not valid: expected 'openai', 'azure' or 'local'")
    if backend == "azure" or (backend is None and _azure_chosen(api_key, base_url, azure)):
        return _azure_backend(api_key, base_url, azure)
    api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if backend == "local" or (backend is None and not api_key and not base_url):
        return Backend("local", LOCAL_BASE_URL, None)
    if backend == "openai" and not api_key and not base_url:
        raise ConfigurationError(
            "NBIMAGES_BACKEND=openai needs an API key: set OPENAI_API_KEY (or pass api_key=...)"
        )
    url = (base_url or OPENAI_BASE_URL).rstrip("/")
    kind = "openai" if url == OPENAI_BASE_URL else "custom"
    return Backend(kind, url, api_key)


def _azure_chosen(api_key: str | None, base_url: str | None, azure: Mapping[str, Any]) -> bool:
    """Whether Azure is meant, ``backend`` being unset (steps 2 to 4 of `resolve_backend`)."""
    if azure:
        return True
    openai_setup = api_key or base_url or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return not openai_setup and bool(os.environ.get("AZURE_OPENAI_ENDPOINT"))


def _azure_backend(api_key: str | None, base_url: str | None, azure: Mapping[str, Any]) -> Backend:
    from . import _azure

    settings = _azure.resolve(api_key=api_key, base_url=base_url, **azure)
    return Backend("azure", settings.base_url, settings.api_key, settings)


def simulator_options() -> dict[str, float]:
    """Latency of the embedded simulator, so that streaming is visible in a notebook."""
    return {
        "latency": float(os.environ.get("NBIMAGES_SIM_LATENCY", "0.2")),
        "partial_interval": float(os.environ.get("NBIMAGES_SIM_PARTIAL_INTERVAL", "0.35")),
    }

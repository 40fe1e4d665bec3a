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
    from ._credential import Provider

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://simulator.nbimages.local/v1"

# The model the Responses API's image tool uses when none is named (the SDK's ImageGeneration
# docs): the Images API and conversations then make the same pictures by default.
DEFAULT_IMAGE_MODEL = "gpt-image-2.6-sunburst"
DEFAULT_MODEL = "gpt-5"
VARIATION_SIZES = ("256x256", "512x512", "1024x1024")  # the retired variations endpoint's

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
FORMATS_WITH_ALPHA = frozenset({"png", "webp"})  # the SDK: transparent needs png or webp
EDIT_INPUT_FORMATS = frozenset({"png", "webp", "jpeg"})
WHOLE_FORMATS = frozenset({"gif", "svg"})  # output that arrives whole: no streaming, no partial images
GIF_FRAMES = (2, 16)  # frame_count, when output_format="gif"
SVG_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
MAX_SAFETY_IDENTIFIER = 128  # characters, as the Responses API documents it
VISION_INPUT_FORMATS = frozenset({"png", "webp", "jpeg", "gif"})


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
    key_provider: Provider | None = None  # an ``api_key`` given as a function: called for each request

    @property
    def display_url(self) -> str:
        """``base_url`` fit to show: a password or key in it is masked (requests use ``base_url``)."""
        from ._secrets import display_url

        return display_url(self.base_url)

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        key = "set" if self.api_key else "provider" if self.key_provider is not None else "none"
        auth = f", auth={self.azure.auth}" if self.azure is not None else ""
        return f"Backend(kind={self.kind!r}, base_url={self.display_url!r}, api_key={key}{auth})"


BACKEND_CHOICES = ("openai", "azure", "local")


def resolve_backend(api_key: str | Provider | None = None, base_url: str | None = None, backend: str | None = None,
                    *, azure: Mapping[str, Any] | None = None) -> Backend:
    """Where requests go: the first of these that applies.

    1. ``backend=`` (or ``NBIMAGES_BACKEND``): "local", "openai" or "azure".
    2. Azure, when an Azure argument is given (``azure``: ``azure_endpoint``, ``azure_deployment``,
       ``api_version``, ``azure_ad_token``, ``azure_ad_token_provider``).
    3. OpenAI (or a compatible server), when ``api_key`` (a key, or a function that makes one
       for each request) or ``base_url`` is given or ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set.
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
    key_provider = api_key if callable(api_key) else None
    key = None if key_provider else api_key or os.environ.get("OPENAI_API_KEY") or None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if backend == "local" or (backend is None and not (key or key_provider or base_url)):
        return Backend("local", LOCAL_BASE_URL, None)
    if backend == "openai" and not (key or key_provider or base_url):
        raise ConfigurationError(
            "NBIMAGES_BACKEND=openai needs an API key: set OPENAI_API_KEY (or pass api_key=...)"
        )
    url = (base_url or OPENAI_BASE_URL).rstrip("/")
    kind = "openai" if url == OPENAI_BASE_URL else "custom"
    return Backend(kind, url, key if isinstance(key, str) else None, key_provider=key_provider)


def _azure_chosen(api_key: str | Provider | None, base_url: str | None, azure: Mapping[str, Any]) -> bool:
    """Whether Azure is meant, ``backend`` being unset (steps 2 to 4 of `resolve_backend`)."""
    if azure:
        return True
    openai_setup = api_key or base_url or os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")
    return not openai_setup and bool(os.environ.get("AZURE_OPENAI_ENDPOINT"))


def _azure_backend(api_key: str | Provider | None, base_url: str | None, azure: Mapping[str, Any]) -> Backend:
    from . import _azure

    settings = _azure.resolve(api_key=api_key, base_url=base_url, **azure)
    return Backend("azure", settings.base_url, settings.api_key, settings)


def simulator_options() -> dict[str, float]:
    """Latency of the embedded simulator, so that streaming is visible in a notebook."""
    return {
        "latency": float(os.environ.get("NBIMAGES_SIM_LATENCY", "0.2")),
        "partial_interval": float(os.environ.get("NBIMAGES_SIM_PARTIAL_INTERVAL", "0.35")),
    }

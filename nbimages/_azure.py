"""Azure OpenAI as the official SDK's `AzureOpenAI` does it: settings, URLs, credentials.

`resolve` reads the arguments, then the SDK's environment variables (``AZURE_OPENAI_ENDPOINT``,
``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_AD_TOKEN``, ``OPENAI_API_VERSION``), with the SDK's
precedence and its error messages. `AzureSettings.url` puts a call where the SDK puts it, and
`AzureSettings.headers` makes each request's ``api-key`` or ``Authorization: Bearer`` header
(a token provider, or an ``api_key`` given as a function, is called for every request, as
the SDK calls it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from ._credential import Provider, bearer, current, current_async
from ._secrets import display_url
from .errors import ConfigurationError

__all__ = ["DEPLOYMENT_PATHS", "AzureSettings", "TokenProvider", "label", "resolve"]

TokenProvider = Provider

# The SDK's `_deployments_endpoints`, of the paths nbimages calls. Only these go under
# /deployments/{name}; /responses, /files and /images/variations do not, deployment or not.
DEPLOYMENT_PATHS = frozenset({"/images/generations", "/images/edits"})
# What `path_template` leaves unquoted in a path segment (the SDK quotes the model name with it).
_SEGMENT_SAFE = "!$&'()*+,;=:@"


class AzureSettings(NamedTuple):
    """Where an Azure client sends requests and how it signs them.

    ``base_url`` is the SDK's: ``{endpoint}/openai`` or ``{endpoint}/openai/deployments/{deployment}``
    (or the ``base_url`` given instead of an endpoint). At most one credential is set.
    """

    base_url: str
    endpoint: str | None
    deployment: str | None
    api_version: str
    api_key: str | None = None
    ad_token: str | None = None
    token_provider: TokenProvider | None = None
    key_provider: Provider | None = None  # an ``api_key`` given as a function

    @property
    def query(self) -> dict[str, str]:
        return {"api-version": self.api_version}

    def url(self, path: str, model: str | None) -> str:
        """The URL of a call to ``path`` (without the query), as the SDK's ``_build_request`` and
        ``_prepare_url`` make it: a model names the deployment when the client names none."""
        if self.endpoint and self.deployment and path not in DEPLOYMENT_PATHS:
            return f"{self.endpoint}/openai{path}"
        if path in DEPLOYMENT_PATHS and model and "/deployments" not in urlsplit(self.base_url).path:
            return f"{self.base_url}/deployments/{quote(model, safe=_SEGMENT_SAFE)}{path}"
        return self.base_url + path

    def headers(self) -> dict[str, str]:
        """The credential header of one request (a blocking client: the provider must return a string)."""
        provided = self._provided()
        if provided is None:
            return self._static_headers()
        provider, argument, header = provided
        return header(current(provider, argument))

    async def async_headers(self) -> dict[str, str]:
        """`headers`, for an asynchronous client: the provider may also be a coroutine function."""
        provided = self._provided()
        if provided is None:
            return self._static_headers()
        provider, argument, header = provided
        return header(await current_async(provider, argument))

    def _provided(self) -> tuple[Provider, str, Callable[[str], dict[str, str]]] | None:
        """The provider called for each request, its argument's name and the header it fills."""
        if self.token_provider is not None:
            return self.token_provider, "azure_ad_token_provider", bearer
        if self.key_provider is not None:
            return self.key_provider, "api_key", _api_key_header
        return None

    def _static_headers(self) -> dict[str, str]:
        if self.ad_token is not None:
            return bearer(self.ad_token)
        return _api_key_header(self.api_key) if self.api_key else {}

    def __repr__(self) -> str:  # never the credential
        shown = display_url(self.base_url)
        return f"AzureSettings(base_url={shown!r}, api_version={self.api_version!r}, auth={self.auth!r})"

    @property
    def auth(self) -> str:
        """Which credential signs the requests (its name, never its value)."""
        if self.token_provider is not None:
            return "azure_ad_token_provider"
        return "azure_ad_token" if self.ad_token is not None else "api_key"  # a key provider too


def resolve(
    *,
    api_key: str | Provider | None = None,
    base_url: str | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    azure_ad_token: str | None = None,
    azure_ad_token_provider: TokenProvider | None = None,
) -> AzureSettings:
    """Arguments first, then the environment; the checks in the SDK's order (credentials, API
    version, endpoint), each failure a `ConfigurationError` naming the argument and the variable."""
    key_provider = api_key if callable(api_key) else None
    fixed_key = api_key if isinstance(api_key, str) else None
    fixed_key, azure_ad_token = _credentials(fixed_key, azure_ad_token, azure_ad_token_provider, key_provider)
    api_version = api_version or os.environ.get("OPENAI_API_VERSION")
    if not api_version:
        raise ConfigurationError(
            "Must provide either the `api_version` argument or the `OPENAI_API_VERSION` environment variable"
        )
    endpoint, deployment, root = _where(base_url, azure_endpoint, azure_deployment)
    return AzureSettings(root, endpoint, deployment, api_version, fixed_key, azure_ad_token, azure_ad_token_provider,
                         key_provider)


def label(url: str) -> str:
    """What a status line shows of an Azure client: ``Azure OpenAI · myres.openai.azure.com``."""
    host = urlsplit(url).hostname
    return f"Azure OpenAI · {host}" if host else "Azure OpenAI"


def _credentials(
    api_key: str | None, ad_token: str | None, provider: TokenProvider | None, key_provider: Provider | None
) -> tuple[str | None, str | None]:
    """The SDK's `_resolve_azure_auth`: one explicit credential at most (a key, fixed or made by
    ``key_provider``, an AD token or a token provider); with none, the AD token of the
    environment before its key."""
    api_key, ad_token = api_key or None, ad_token or None
    given = [x for x in (api_key or key_provider, ad_token, provider) if x is not None]
    if len(given) > 1:
        raise ConfigurationError(
            "The `api_key`, `azure_ad_token` and `azure_ad_token_provider` arguments are mutually exclusive; "
            "Only one can be passed at a time"
        )
    if not given:
        ad_token = os.environ.get("AZURE_OPENAI_AD_TOKEN") or None
        api_key = None if ad_token else os.environ.get("AZURE_OPENAI_API_KEY") or None
        if api_key is None and ad_token is None:
            raise ConfigurationError(
                "Missing credentials. Please pass one of `api_key`, `azure_ad_token`, `azure_ad_token_provider`, "
                "or the `AZURE_OPENAI_API_KEY` or `AZURE_OPENAI_AD_TOKEN` environment variables."
            )
    return api_key, ad_token


def _where(base_url: str | None, endpoint: str | None, deployment: str | None) -> tuple[str | None, str | None, str]:
    """The endpoint, the deployment (kept only with an endpoint, as the SDK does) and the base URL."""
    if base_url is not None:
        if endpoint is not None:
            raise ConfigurationError("base_url and azure_endpoint are mutually exclusive")
        return None, None, base_url.rstrip("/")
    endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
    if not endpoint:
        raise ConfigurationError(
            "Must provide one of the `base_url` or `azure_endpoint` arguments, "
            "or the `AZURE_OPENAI_ENDPOINT` environment variable"
        )
    endpoint = endpoint.rstrip("/")
    if deployment:
        return endpoint, deployment, f"{endpoint}/openai/deployments/{deployment}"
    return endpoint, None, f"{endpoint}/openai"


def _api_key_header(key: str) -> dict[str, str]:
    return {"api-key": key}

"""Credentials made by a provider before every request, as the SDK calls them: an ``api_key``
given as a function (OpenAI and Azure) and Azure's ``azure_ad_token_provider``.

Every credential a provider makes is remembered as a secret (a server that echoes it back is
redacted) and checked: anything but a non-empty string is refused with the SDK's wording. A
blocking client cannot await: an async provider there is refused, naming `AsyncClient`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._secrets import remember_secret
from .errors import ConfigurationError

__all__ = ["Provider", "bearer", "current", "current_async"]

Provider = Callable[[], "str | Awaitable[str]"]


def current(provider: Provider, argument: str) -> str:
    """The credential ``provider`` makes now, for a blocking client (``argument``: its name, for errors)."""
    return _checked(provider(), argument)


async def current_async(provider: Provider, argument: str) -> str:
    """`current`, for an asynchronous client: the provider may also be a coroutine function."""
    made = provider()
    if inspect.isawaitable(made):
        made = await made
    return _checked(made, argument)


def bearer(credential: str) -> dict[str, str]:
    """The ``Authorization`` header of a key or token."""
    return {"Authorization": f"Bearer {credential}"}


def _checked(made: Any, argument: str) -> str:
    expected = f"Expected `{argument}` argument to return a non-empty string."
    if isinstance(made, str) and made:
        made = str.__str__(made)  # a str subclass's own methods never see the credential
        remember_secret(made)
        return made
    if inspect.isawaitable(made):  # only a blocking client gets one here
        if inspect.iscoroutine(made):
            made.close()  # never awaited: closed, so that Python does not warn about it
        raise ConfigurationError(
            f"{expected} It returned an awaitable: use nbimages.AsyncClient for an async `{argument}`.")
    raise ConfigurationError(expected)

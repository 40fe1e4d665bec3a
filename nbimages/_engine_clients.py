"""The run engines' own clients, made from the user's `Client` or `AsyncClient`.

Each has the user's settings, key, base URL (Azure too) and transport. A transport the user
gave (the simulator, a mock) is shared, never closed by the engine; one httpx makes by
default is replaced by a fresh one of the kind the engine needs:

- `async_twin` (the live engine): an `AsyncClient` with no retries of its own (the engine
  retries, as one run), every reply shown to a `RateGate` on the way in. A connection pool
  belongs to one event loop, and the engine runs its own.
- `blocking_twin` (the batch engine, in a thread of its own): a `Client`.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from ._rate_gate import RateGate
from ._retry import RetryPolicy
from .client import AsyncClient, Client

__all__ = ["async_twin", "blocking_twin"]

_C = TypeVar("_C", Client, AsyncClient)


class _Watched(httpx.AsyncBaseTransport):
    """Shows the status and headers of every reply to the gate."""

    def __init__(self, inner: httpx.AsyncBaseTransport, gate: RateGate, *, owned: bool) -> None:
        self.inner = inner
        self.gate = gate
        self.owned = owned

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.gate.observe(response.status_code, response.headers)
        return response

    async def aclose(self) -> None:
        if self.owned:
            await self.inner.aclose()


def async_twin(client: Client | AsyncClient, gate: RateGate) -> AsyncClient:
    """An `AsyncClient` like ``client``, without retries, watched by ``gate``; close it with ``aclose()``."""
    shared = _users_transport(client, httpx.AsyncBaseTransport)
    inner = shared if shared is not None else httpx.AsyncHTTPTransport()
    http = httpx.AsyncClient(transport=_Watched(inner, gate, owned=shared is None), timeout=client._timeout)
    twin = _twin(AsyncClient, client, http, owns_http=True)
    twin.retry = RetryPolicy(max_retries=0)
    return twin


def blocking_twin(client: Client | AsyncClient | None) -> tuple[Client, bool]:
    """A blocking `Client` with ``client``'s settings (None: ``Client()``), and whether it is ours to close."""
    if client is None:
        return Client(), True
    if isinstance(client, Client):
        return client, False
    shared = _users_transport(client, httpx.BaseTransport)
    http = httpx.Client(transport=shared, timeout=client._timeout)
    return _twin(Client, client, http, owns_http=shared is None), True


def _twin(cls: type[_C], client: Client | AsyncClient, http: Any, *, owns_http: bool) -> _C:
    twin = cls.__new__(cls)
    twin.__dict__.update(client.__dict__)  # backend, key, headers, endpoint, timeout: as they are
    twin._http = http
    twin._owns_http = owns_http
    return twin


def _users_transport(client: Client | AsyncClient, kind: type[Any]) -> Any:
    """The transport the user gave ``client``, if it is of ``kind``; None for one httpx made by default."""
    transport = getattr(client._http, "_transport", None)
    defaults = (httpx.HTTPTransport, httpx.AsyncHTTPTransport)
    if isinstance(transport, kind) and not isinstance(transport, defaults):
        return transport
    return None

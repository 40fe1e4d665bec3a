"""The live engine's own `AsyncClient`, made from the user's `Client` or `AsyncClient`.

It has the user's settings, key, base URL (Azure too) and transport, no retries of its own
(the engine retries, as one run), and every reply shown to a `RateGate` on the way in. A
transport httpx makes by default is replaced by a fresh `httpx.AsyncHTTPTransport`: a
connection pool belongs to one event loop, and the engine runs its own.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._rate_gate import RateGate
from ._retry import RetryPolicy
from .client import AsyncClient, Client

__all__ = ["async_twin"]


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
    twin = AsyncClient.__new__(AsyncClient)
    twin.__dict__.update(client.__dict__)  # backend, key, headers, endpoint, timeout: as they are
    twin.retry = RetryPolicy(max_retries=0)
    inner, owned = _transport_of(client._http)
    twin._http = httpx.AsyncClient(transport=_Watched(inner, gate, owned=owned), timeout=client._timeout)
    twin._owns_http = True
    return twin


def _transport_of(http: Any) -> tuple[httpx.AsyncBaseTransport, bool]:
    transport = getattr(http, "_transport", None)
    defaults = (httpx.HTTPTransport, httpx.AsyncHTTPTransport)
    if isinstance(transport, httpx.AsyncBaseTransport) and not isinstance(transport, defaults):
        return transport, False  # the simulator, a mock: shared with the user's client
    return httpx.AsyncHTTPTransport(), True

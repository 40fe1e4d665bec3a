"""``api_key`` given as a function, as the official SDK takes it: called before every request
(a retry too), awaited by `AsyncClient`, every key it makes kept out of what a server echoes;
a function that returns no key is refused before anything is sent. Compared with
`openai.OpenAI` and `openai.AzureOpenAI` against one simulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import nbimages
from nbimages._secrets import redact
from nbimages.errors import ConfigurationError

from _images import make_png

openai = pytest.importorskip("openai")

PICTURE = make_png((64, 64), (200, 30, 30))
VERSION = "2025-04-01-preview"


def counting(prefix: str) -> Callable[[], str]:
    """A key provider making ``prefix-1``, ``prefix-2``, ...: a new key for each request."""
    made: list[str] = []

    def provider() -> str:
        made.append(f"{prefix}-{len(made) + 1}")
        return made[-1]

    return provider


def test_the_key_is_made_before_every_request_as_the_sdk_does(sim_server: Any,
                                                              credentials_seen: list[dict[str, str]]) -> None:
    calls = (lambda c: c.images.generate(prompt="a fox", size="1024x1024", quality="low"),
             lambda c: c.images.edit(prompt="add a hat", image=PICTURE))
    with openai.OpenAI(api_key=counting("sk-sdk"), base_url=sim_server.url, max_retries=0) as sdk:
        for call in calls:
            call(sdk)
    sdk_seen = list(credentials_seen)
    credentials_seen.clear()
    with nbimages.Client(api_key=counting("sk-sdk"), base_url=sim_server.url, max_retries=0) as ours:
        assert ours.backend == "custom"
        ours.generate("a fox", size="1024x1024", quality="low")
        ours.edit("add a hat", PICTURE)
    assert credentials_seen == sdk_seen == [{"authorization": "Bearer sk-sdk-1"}, {"authorization": "Bearer sk-sdk-2"}]


def test_a_provider_alone_chooses_openai_and_never_shows_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NBIMAGES_BACKEND", "AZURE_OPENAI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    client = nbimages.Client(api_key=counting("temporary"))
    assert client.backend == "openai" and "api_key=provider" in repr(client._backend)
    assert "temporary-1" in redact("not yet made: temporary-1")  # nothing to hide until it is made
    assert client._auth() == {"Authorization": "Bearer temporary-1"}
    assert "temporary-1" not in redact("the server said: bad key temporary-1")
    client.close()


def test_a_retry_asks_for_a_new_key(sim_server: Any, credentials_seen: list[dict[str, str]]) -> None:
    sim_server.simulator.faults.add("status", status=429, retry_after_ms=1)
    with nbimages.Client(api_key=counting("sk-retry"), base_url=sim_server.url, max_retries=1) as client:
        client.generate("a fox", size="1024x1024", quality="low")
    assert credentials_seen == [{"authorization": "Bearer sk-retry-1"}, {"authorization": "Bearer sk-retry-2"}]


def test_the_async_client_awaits_an_async_provider(sim_server: Any, credentials_seen: list[dict[str, str]]) -> None:
    made = counting("sk-async")

    async def provider() -> str:
        return made()

    async def main() -> None:
        async with nbimages.AsyncClient(api_key=provider, base_url=sim_server.url, max_retries=0) as client:
            await client.generate("a fox", size="1024x1024", quality="low")
            stream = await client.generate("a fox", stream=True, partial_images=1)
            assert [type(e).__name__ async for e in stream] == ["PartialImage", "ImageCompleted"]

    asyncio.run(main())
    assert credentials_seen == [{"authorization": "Bearer sk-async-1"}, {"authorization": "Bearer sk-async-2"}]


@pytest.mark.parametrize("made", ["", None, 42])
def test_a_provider_that_makes_no_key_is_refused_before_sending(sim_server: Any, made: Any) -> None:
    with nbimages.Client(api_key=lambda: made, base_url=sim_server.url, max_retries=0) as client, \
            pytest.raises(ConfigurationError, match="Expected `api_key` argument to return a non-empty string"):
        client.generate("a fox", size="1024x1024", quality="low")
    assert sim_server.simulator.requests == []


def test_a_blocking_client_refuses_an_async_provider_naming_async_client(sim_server: Any) -> None:
    async def provider() -> str:
        return "sk-never"

    with nbimages.Client(api_key=provider, base_url=sim_server.url, max_retries=0) as client, \
            pytest.raises(ConfigurationError, match=r"nbimages\.AsyncClient"):
        client.generate("a fox", size="1024x1024", quality="low")
    assert sim_server.simulator.requests == []


def test_azure_takes_a_key_provider_as_the_sdk_does(sim_server: Any, credentials_seen: list[dict[str, str]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    endpoint = str(sim_server.url).removesuffix("/v1")
    with openai.AzureOpenAI(azure_endpoint=endpoint, api_version=VERSION, api_key=counting("az"),
                            max_retries=0) as sdk:
        sdk.images.generate(prompt="a fox", model="image-deployment", size="1024x1024", quality="low")
        sdk.images.generate(prompt="a fox", model="image-deployment", size="1024x1024", quality="low")
    sdk_seen = list(credentials_seen)
    credentials_seen.clear()
    with nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, api_key=counting("az"),
                         max_retries=0) as ours:
        ours.generate("a fox", model="image-deployment", size="1024x1024", quality="low")
        ours.generate("a fox", model="image-deployment", size="1024x1024", quality="low")
    assert credentials_seen == sdk_seen == [{"api-key": "az-1"}, {"api-key": "az-2"}]
    with pytest.raises(ConfigurationError, match="mutually exclusive"):
        nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, api_key=counting("az"), azure_ad_token="t")

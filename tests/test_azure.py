"""Azure OpenAI: `Client` and `AsyncClient` configured as `openai.AzureOpenAI` is, against the
simulator on a real socket at Azure's paths; what they send compared with what the SDK sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import nbimages
from nbimages.errors import APIError, ConfigurationError

from _images import make_png
from _notebook import Notebook, RecordingPublisher

openai = pytest.importorskip("openai")

AZURE_ENV = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN", "OPENAI_API_VERSION")
VERSION = "2025-04-01-preview"
KEY = "azure-key-5f3c0d9e8b7a6f5e4d3c"
TOKEN = "eyJ0eXAiOiJKV1Qi.azure-ad-token.c2lnbmF0dXJl"
PICTURE = make_png((64, 64), (200, 30, 30))


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def endpoint(sim_server: Any) -> str:
    """The simulator as an Azure resource: ``http://127.0.0.1:PORT`` (Azure's paths start at /openai)."""
    return str(sim_server.url).removesuffix("/v1")


def azure(endpoint: str, **kwargs: Any) -> nbimages.Client:
    kwargs.setdefault("api_key", KEY)
    return nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, max_retries=0, **kwargs)


def paths(sim_server: Any) -> list[tuple[str, str]]:
    return [(r.path, r.query.get("api-version", [""])[0]) for r in sim_server.simulator.requests]


# -- the client against the simulator at Azure's paths ---------------------------------------------------
def test_every_call_goes_where_the_sdk_sends_it(endpoint: str, sim_server: Any,
                                               credentials_seen: list[dict[str, str]]) -> None:
    with azure(endpoint) as client:
        assert client.backend == "azure" and client.base_url == f"{endpoint}/openai"
        [image] = client.generate("a red fox", model="image-deployment", size="1024x1024", quality="low")
        assert image.size == (1024, 1024)
        client.edit("add a hat", PICTURE, model="image-deployment")
        client.variations(PICTURE)
        assert client.respond("draw a fox", model="gpt-5", tools=[{"type": "image_generation"}]).images
        assert client.upload(PICTURE).startswith("file-")
    assert paths(sim_server) == [
        ("/openai/deployments/image-deployment/images/generations", VERSION),
        ("/openai/deployments/image-deployment/images/edits", VERSION),
        ("/openai/images/variations", VERSION),  # not a deployment endpoint for the SDK
        ("/openai/responses", VERSION),
        ("/openai/files", VERSION),
    ]
    assert credentials_seen == [{"api-key": KEY}] * 5


def test_a_deployment_holds_the_image_calls_only(endpoint: str, sim_server: Any) -> None:
    with azure(endpoint + "/", azure_deployment="pictures") as client:
        assert client.base_url == f"{endpoint}/openai/deployments/pictures"
        client.generate("a lighthouse", model="gpt-image-1.5", size="1024x1024", quality="low")
        list(client.edit("at night", PICTURE, stream=True, partial_images=1))
        client.describe(PICTURE, "what colour?")
    assert [p for p, _ in paths(sim_server)] == [
        "/openai/deployments/pictures/images/generations",
        "/openai/deployments/pictures/images/edits",
        "/openai/responses",
    ]


def test_the_async_client_awaits_a_token_provider_before_every_request(
        endpoint: str, sim_server: Any, credentials_seen: list[dict[str, str]]) -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        return f"{TOKEN}-{len(calls)}"

    async def main() -> None:
        async with nbimages.AsyncClient(azure_endpoint=endpoint, api_version=VERSION,
                                        azure_ad_token_provider=provider, max_retries=0) as client:
            await client.generate("a fox", model="image-deployment", size="1024x1024", quality="low")
            stream = await client.generate("a fox", model="image-deployment", stream=True, partial_images=1)
            assert [type(e).__name__ async for e in stream] == ["PartialImage", "ImageCompleted"]
            assert (await client.respond("hello", model="gpt-5")).output_text

    asyncio.run(main())
    assert credentials_seen == [{"authorization": f"Bearer {TOKEN}-{n}"} for n in (1, 2, 3)]
    assert paths(sim_server)[-1] == ("/openai/responses", VERSION)


def test_a_token_provider_is_called_again_for_a_retry(endpoint: str, sim_server: Any,
                                                      credentials_seen: list[dict[str, str]]) -> None:
    tokens = iter([f"{TOKEN}-first", f"{TOKEN}-second"])
    sim_server.simulator.faults.add("status", status=429, retry_after_ms=1)
    with nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, azure_ad_token_provider=lambda: next(tokens),
                         max_retries=1) as client:
        client.generate("a fox", model="image-deployment", size="1024x1024", quality="low")
    assert credentials_seen == [{"authorization": f"Bearer {TOKEN}-first"},
                                {"authorization": f"Bearer {TOKEN}-second"}]


def test_a_blocking_client_refuses_an_async_provider_before_sending(endpoint: str, sim_server: Any) -> None:
    async def provider() -> str:
        return TOKEN

    client = nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, azure_ad_token_provider=provider)
    with client, pytest.raises(ConfigurationError, match="AsyncClient"):
        client.generate("a fox")
    assert sim_server.simulator.requests == []


@pytest.mark.parametrize("bad", ["", None, 42])
def test_a_provider_must_return_a_token(endpoint: str, bad: Any) -> None:
    client = nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, azure_ad_token_provider=lambda: bad)
    with client, pytest.raises(ConfigurationError, match="non-empty string"):
        client.generate("a fox")


# -- settings: arguments, then the SDK's environment variables ---------------------------------------------
@pytest.mark.parametrize(
    ("env", "kwargs", "kind", "auth"),
    [
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "OPENAI_API_VERSION": VERSION}, {}, "azure", {"api-key": KEY}),
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "AZURE_OPENAI_AD_TOKEN": TOKEN, "OPENAI_API_VERSION": VERSION}, {}, "azure",
         {"Authorization": f"Bearer {TOKEN}"}),  # the AD token of the environment before its key
        ({"AZURE_OPENAI_AD_TOKEN": TOKEN, "OPENAI_API_VERSION": "env-version"},
         {"azure_endpoint": "https://res.openai.azure.com", "api_key": KEY, "api_version": VERSION}, "azure",
         {"api-key": KEY}),  # an argument before the environment
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "OPENAI_API_VERSION": VERSION, "OPENAI_API_KEY": "sk-openai-0123456789"}, {}, "openai", {}),
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "OPENAI_API_VERSION": VERSION}, {"base_url": "http://other.test/v1"}, "custom", {}),
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "OPENAI_API_VERSION": VERSION, "OPENAI_API_KEY": "sk-openai-0123456789", "NBIMAGES_BACKEND": "azure"},
         {}, "azure", {"api-key": KEY}),
        ({"AZURE_OPENAI_API_KEY": KEY, "OPENAI_API_VERSION": VERSION, "OPENAI_API_KEY": "sk-openai-0123456789"},
         {"azure_endpoint": "https://res.openai.azure.com"}, "azure", {"api-key": KEY}),
        ({"AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com", "AZURE_OPENAI_API_KEY": KEY,
          "OPENAI_API_VERSION": VERSION}, {"backend": "local"}, "local", {}),
    ],
)
def test_which_backend_and_which_credential(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                            kwargs: dict[str, Any], kind: str, auth: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with nbimages.Client(**kwargs) as client:
        assert client.backend == kind
        azure_settings = client._backend.azure
        assert (azure_settings.headers() if azure_settings else {}) == auth
        if kind == "azure":
            assert client.base_url == "https://res.openai.azure.com/openai"
            assert client._endpoint_params == {"api-version": VERSION}
            assert "Authorization" not in client._headers  # signed per request, never as OpenAI's bearer


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"azure_endpoint": "https://res.openai.azure.com", "api_version": VERSION},
         ["`api_key`", "`azure_ad_token`", "`azure_ad_token_provider`", "AZURE_OPENAI_API_KEY",
          "AZURE_OPENAI_AD_TOKEN"]),
        ({"azure_endpoint": "https://res.openai.azure.com", "api_key": KEY}, ["`api_version`", "OPENAI_API_VERSION"]),
        ({"api_version": VERSION, "api_key": KEY}, ["`azure_endpoint`", "AZURE_OPENAI_ENDPOINT"]),
        ({"azure_endpoint": "https://res.openai.azure.com", "api_version": VERSION, "api_key": KEY,
          "azure_ad_token": TOKEN}, ["mutually exclusive"]),
        ({"azure_endpoint": "https://res.openai.azure.com", "base_url": "https://res.openai.azure.com/openai",
          "api_version": VERSION, "api_key": KEY}, ["base_url and azure_endpoint are mutually exclusive"]),
        ({"backend": "azure"}, ["Missing credentials"]),
    ],
)
@pytest.mark.parametrize("client_class", [nbimages.Client, nbimages.AsyncClient])
def test_a_missing_setting_is_named_before_any_request(kwargs: dict[str, Any], names: list[str],
                                                       client_class: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        client_class(**kwargs)
    for name in names:
        assert name in str(caught.value)
    assert KEY not in str(caught.value) and TOKEN not in str(caught.value)


@pytest.mark.parametrize("azure_setting", [{"env": "https://res.openai.azure.com"}, {"arg": "https://res.openai.azure.com"}])
def test_the_simulator_notice_says_it_was_asked_for_when_azure_is_configured(
        azure_setting: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import nbimages.client as client_module

    monkeypatch.setattr(client_module, "_announced", False)
    if "env" in azure_setting:
        monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", azure_setting["env"])
    with nbimages.Client(backend="local", azure_endpoint=azure_setting.get("arg")) as client:
        assert client.backend == "local"
    assert "the local backend was chosen" in capsys.readouterr().err


def test_the_sdks_base_url_form_is_taken_too() -> None:
    settings = nbimages.Client(backend="azure", base_url="https://gw.example/openai", api_version=VERSION,
                               api_key=KEY)._backend.azure
    assert settings is not None and settings.endpoint is None
    assert settings.url("/images/generations", "dep") == "https://gw.example/openai/deployments/dep/images/generations"
    assert settings.url("/responses", "gpt-5") == "https://gw.example/openai/responses"


def test_the_model_of_a_deployment_path_is_quoted_as_the_sdk_quotes_it() -> None:
    settings = nbimages.Client(azure_endpoint="https://r.example", api_version=VERSION, api_key=KEY)._backend.azure
    assert settings is not None
    assert settings.url("/images/edits", "a b/c") == "https://r.example/openai/deployments/a%20b%2Fc/images/edits"


# -- the key never shows -------------------------------------------------------------------------------
def test_the_key_is_in_no_repr_error_or_status_line(endpoint: str, sim_server: Any) -> None:
    from nbimages.magics import _backend_label

    with azure(endpoint) as client:
        shown = [repr(client), repr(client._backend), repr(client._backend.azure), client.base_url,
                 str(_backend_label(client))]
        assert _backend_label(client) == "Azure OpenAI · 127.0.0.1"
        sim_server.simulator.faults.add("status", status=401, message=f"Access denied for key {KEY}")
        with pytest.raises(APIError) as caught:
            client.generate("a fox", model="image-deployment")
        shown += [str(caught.value), repr(caught.value), json.dumps(caught.value.body, default=str)]
    assert all(KEY not in text for text in shown), shown
    assert "[redacted]" in str(caught.value)


def test_tokens_of_a_provider_and_of_the_environment_are_redacted(endpoint: str, sim_server: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages._secrets import is_secret_key, redact

    fresh = "provider-made-token-7c1e2d3f4a5b"
    with nbimages.Client(azure_endpoint=endpoint, api_version=VERSION, azure_ad_token_provider=lambda: fresh,
                         max_retries=0) as client:
        sim_server.simulator.faults.add("status", status=403, message=f"token {fresh} has expired")
        with pytest.raises(APIError) as caught:
            client.generate("a fox", model="image-deployment")
    assert fresh not in str(caught.value)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-azure-key-0a1b2c3d")
    monkeypatch.setenv("AZURE_OPENAI_AD_TOKEN", "env-azure-token-0a1b2c3d")
    assert redact("env-azure-key-0a1b2c3d and env-azure-token-0a1b2c3d") == "[redacted] and [redacted]"
    assert is_secret_key("api-key") and is_secret_key("Authorization")


def test_the_studio_status_names_azure(endpoint: str) -> None:
    pytest.importorskip("anywidget")
    from nbimages.widgets.studio import Studio

    with azure(endpoint) as client:
        studio = Studio(client=client)
        assert studio.backend == "azure"
        job = type("Job", (), {"runner": type("Runner", (), {"options": {}})(), "started": 0.0})()
        status = studio._status(job, "asking")
    assert status.endswith("Azure OpenAI · 127.0.0.1") and KEY not in status


# -- the simulator at Azure's paths ----------------------------------------------------------------------
def test_the_simulator_wants_an_api_version_and_a_credential(endpoint: str) -> None:
    url = f"{endpoint}/openai/deployments/dep/images/generations"
    body = {"prompt": "a fox", "size": "1024x1024", "quality": "low"}
    no_version = httpx.post(url, json=body, headers={"api-key": KEY})
    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    no_key = httpx.post(url, params={"api-version": VERSION}, json=body)
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "401"
    for auth in ({"api-key": KEY}, {"Authorization": f"Bearer {TOKEN}"}):
        assert httpx.post(url, params={"api-version": VERSION}, json=body, headers=auth).status_code == 200
    v1 = httpx.post(f"{endpoint}/openai/v1/images/generations", json=body, headers={"api-key": KEY})
    assert v1.status_code == 200  # Azure's v1 API takes no api-version
    unknown = httpx.post(f"{endpoint}/openai/nothing-here", params={"api-version": VERSION}, headers={"api-key": KEY},
                         json={})
    assert unknown.status_code == 404


def test_the_deployment_is_the_model_when_the_body_names_none(endpoint: str) -> None:
    body = {"prompt": "a fox", "size": "1024x1024", "quality": "low"}
    headers, params = {"api-key": KEY}, {"api-version": VERSION}

    def picture(path: str, **extra: Any) -> str:
        reply = httpx.post(f"{endpoint}/openai{path}", params=params, headers=headers, json={**body, **extra})
        return str(reply.json()["data"][0]["b64_json"])

    by_deployment = picture("/deployments/gpt-image-1-mini/images/generations")
    assert by_deployment == picture("/images/generations", model="gpt-image-1-mini")
    assert by_deployment != picture("/images/generations")
    reply = httpx.post(f"{endpoint}/openai/deployments/gpt-5-mini/responses", params=params, headers=headers,
                       json={"input": "hello"})
    assert reply.json()["model"] == "gpt-5-mini"


def test_the_simulators_openai_paths_still_work(sim_server: Any) -> None:
    with nbimages.Client(api_key="sk-test-0123456789", base_url=sim_server.url, max_retries=0) as client:
        client.generate("a fox", size="1024x1024", quality="low")
        client.respond("hello", model="gpt-5")
    assert [p for p, _ in paths(sim_server)] == ["/v1/images/generations", "/v1/responses"]


# -- nbimages sends what openai.AzureOpenAI sends ------------------------------------------------------
def normalised(request: Any, credentials: dict[str, str]) -> dict[str, Any]:
    files = {name: sorted(f.data for f in parts) for name, parts in request.files.items()}
    return {"method": request.method, "path": request.path, "query": request.query, "credentials": credentials,
            "json": request.json, "form": request.form, "files": files}


def sent(server: Any, seen: list[dict[str, str]], call: Callable[[], Any]) -> dict[str, Any]:
    """What the server saw of ``call`` (refused or not: the request is what counts)."""
    before = len(server.simulator.requests)
    with contextlib.suppress(nbimages.NbImagesError, openai.OpenAIError):
        call()
    requests = server.simulator.requests[before:]
    assert len(requests) == 1, [r.path for r in requests]
    return normalised(requests[0], seen[-1])


SETUPS: dict[str, dict[str, Any]] = {
    "a key, no deployment": {"api_key": KEY},
    "an AD token and a deployment": {"azure_ad_token": TOKEN, "azure_deployment": "pictures"},
    "a token provider": {"azure_ad_token_provider": lambda: TOKEN},
}

CALLS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "generate": (
        lambda c: c.generate("a red fox", model="gpt-image-1.5", size="1024x1024", quality="low"),
        lambda s: s.images.generate(prompt="a red fox", model="gpt-image-1.5", size="1024x1024", quality="low"),
    ),
    "generate, streamed": (
        lambda c: c.generate("a sun", model="gpt-image-1.5", stream=True, partial_images=1).until_done(),
        lambda s: list(s.images.generate(prompt="a sun", model="gpt-image-1.5", stream=True, partial_images=1)),
    ),
    "edit": (
        lambda c: c.edit("add a hat", PICTURE, model="gpt-image-1.5", size="1024x1024"),
        lambda s: s.images.edit(prompt="add a hat", image=PICTURE, model="gpt-image-1.5", size="1024x1024"),
    ),
    "responses with the image tool": (
        lambda c: c.respond("draw a fox", model="gpt-5", tools=[{"type": "image_generation", "quality": "low"}]),
        lambda s: s.responses.create(model="gpt-5", input="draw a fox",
                                     tools=[{"type": "image_generation", "quality": "low"}]),
    ),
}


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("call", list(CALLS))
def test_the_request_is_azure_openais(setup: str, call: str, endpoint: str, sim_server: Any,
                                      credentials_seen: list[dict[str, str]]) -> None:
    options = {"azure_endpoint": endpoint, "api_version": VERSION, "max_retries": 0, **SETUPS[setup]}
    call_ours, call_sdk = CALLS[call]
    with nbimages.Client(**options) as ours, openai.AzureOpenAI(**options) as sdk:
        mine = sent(sim_server, credentials_seen, lambda: call_ours(ours))
        theirs = sent(sim_server, credentials_seen, lambda: call_sdk(sdk))
    assert mine == theirs
    assert mine["query"] == {"api-version": [VERSION]} and mine["credentials"]


# -- the magics, configured by the environment alone ---------------------------------------------------
@pytest.fixture
def azure_nb(shell: Any, endpoint: str, sim_server: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> Notebook:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", VERSION)
    monkeypatch.setenv("NBIMAGES_IMAGE_MODEL", "gpt-image-1.5")
    pub = RecordingPublisher(shell=shell)
    monkeypatch.setattr(shell, "display_pub", pub)
    capfd.readouterr()
    return Notebook(shell, pub, sim_server.simulator, capfd)


def test_the_magics_use_azure_from_the_environment(azure_nb: Notebook, sim_server: Any) -> None:
    outputs = azure_nb.imagine("--size 1024x1024 --quality low", "a lighthouse at dusk")
    assert azure_nb.magics.client.backend == "azure"
    assert outputs[-1].kind == "final"
    statuses = [o.text for o in outputs if o.kind in ("status", "partial")]
    assert statuses and all("Azure OpenAI · 127.0.0.1" in s for s in statuses)
    azure_nb.imagine("--continue --quality low", "now with a boat")
    assert [p for p, _ in paths(sim_server)] == ["/openai/deployments/gpt-image-1.5/images/generations",
                                                  "/openai/responses"]
    assert all(version == VERSION for _, version in paths(sim_server))
    shown = json.dumps([o.data for o in azure_nb.pub.outputs], default=str)
    assert KEY not in shown and KEY not in repr(azure_nb.magics.client)


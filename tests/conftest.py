"""Shared fixtures: images, SSE bytes, mock transports, the simulator, an IPython shell."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nbimages

from _images import make_png
from _notebook import Notebook, RecordingPublisher

SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "NBIMAGES_BACKEND")


def pytest_configure(config: pytest.Config) -> None:
    """In a source checkout, bring the widgets' ES modules (js/build/) up to date before any test
    module imports a widget or starts a kernel: importing never builds them (see static_file)."""
    script = Path(__file__).resolve().parent.parent / "js" / "build.py"
    if script.is_file():
        import importlib.util

        spec = importlib.util.spec_from_file_location("_nbimages_js_build", script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build()  # writes only what changed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: while a Playwright (sync API) is open, the main thread has a running
    event loop, so a later ``asyncio.run()`` or a second Playwright would refuse to start.
    Those with a Playwright of their own come before tests/browser, whose one lasts the session."""
    shared = Path(__file__).parent / "browser"

    def key(item: pytest.Item) -> tuple[bool, bool]:
        browser = item.get_closest_marker("browser") is not None
        return browser, browser and shared in item.path.parents

    items.sort(key=key)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No real key, no real URL; the store in a fresh folder; the simulator without delays."""
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path_factory.mktemp("nbimages-home")
    monkeypatch.setenv("NBIMAGES_HOME", str(home))
    monkeypatch.setenv("NBIMAGES_SIM_LATENCY", "0")
    monkeypatch.setenv("NBIMAGES_SIM_PARTIAL_INTERVAL", "0")
    return home


@pytest.fixture
def png() -> Callable[..., bytes]:
    """``png(size=(w, h), color=..., mode="RGB")`` -> PNG bytes."""
    return make_png


def sse(events: list[dict[str, Any]], *, event_lines: bool = True, newline: str = "\n") -> bytes:
    """Encode events as OpenAI does: ``event: <type>`` then ``data: <json>``, blank line."""
    out = []
    for event in events:
        head = f"event: {event.get('type')}{newline}" if event_lines else ""
        out.append(f"{head}data: {json.dumps(event)}{newline}{newline}")
    return "".join(out).encode()


@pytest.fixture
def mock_client() -> Iterator[Callable[..., nbimages.Client]]:
    """``mock_client(handler)`` -> a `Client` whose requests go to ``handler(request)``."""
    clients: list[nbimages.Client] = []

    def make(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> nbimages.Client:
        http = httpx.Client(transport=httpx.MockTransport(handler))
        client = nbimages.Client(api_key="sk-test", base_url="http://mock.test/v1", http_client=http, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client._http.close()


@pytest.fixture
def sim_transport() -> Any:
    from nbimages.local import LocalTransport

    return LocalTransport(latency=0.0, partial_interval=0.0)


@pytest.fixture
def simulator(sim_transport: Any) -> Any:
    """The in-process simulator behind `client` (its ``requests`` and ``faults``)."""
    return sim_transport.simulator


@pytest.fixture
def client(sim_transport: Any) -> Iterator[nbimages.Client]:
    """A `Client` talking to the in-process simulator through its httpx transport."""
    http = httpx.Client(transport=sim_transport)
    with nbimages.Client(base_url="http://simulator.test/v1", http_client=http, max_retries=2) as c:
        yield c
    http.close()


@pytest.fixture
def sim_server() -> Iterator[Any]:
    """The simulator on a real socket on 127.0.0.1 (``.url``, ``.simulator``)."""
    from nbimages.local import start_server

    with start_server(host="127.0.0.1", port=0, latency=0.0, partial_interval=0.0) as handle:
        yield handle


@pytest.fixture
def server() -> Iterator[Callable[..., Any]]:
    """``server(**simulator_options)``: a simulator of its own on 127.0.0.1 (``.url``, ``.simulator``);
    the many-images tests start one per option set."""
    from nbimages.local import start_server

    handles = []

    def start(**options: Any) -> Any:
        handle = start_server(host="127.0.0.1", port=0, latency=options.pop("latency", 0.0), partial_interval=0.0,
                              **options)
        handle.__enter__()
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.__exit__(None, None, None)


@pytest.fixture
def sim(server: Callable[..., Any]) -> Any:
    return server()


@pytest.fixture
def store(tmp_path: Path) -> nbimages.Store:
    """An empty store in a temporary folder."""
    return nbimages.Store(tmp_path / "store")


@pytest.fixture
def server_client(sim_server: Any) -> Iterator[nbimages.Client]:
    """A `Client` talking to the simulator over a real HTTP socket."""
    with nbimages.Client(api_key="sk-test", base_url=sim_server.url, max_retries=2) as c:
        yield c


@pytest.fixture
def ipshell(hermetic_env: Path) -> Iterator[Any]:
    """A real IPython shell with nbimages loaded, talking to the simulator."""
    from IPython.testing import globalipapp

    from nbimages.conversation import set_current_conversation

    globalipapp.start_ipython()  # returns the shell only the first time it is called
    shell = globalipapp.get_ipython()
    # The shell is shared by the whole session: nothing of another test's settings or conversation.
    shell.config.pop("Imagine", None)
    set_current_conversation(None)
    shell.run_line_magic("load_ext", "nbimages")
    yield shell
    shell.run_line_magic("unload_ext", "nbimages")
    shell.reset(new_session=False)  # leave it usable
    shell.config.pop("Imagine", None)
    set_current_conversation(None)


@pytest.fixture
def shell(ipshell: Any) -> Iterator[Any]:
    """The shell, without ``%config Imagine`` settings or a conversation left behind by other tests."""
    from nbimages.conversation import set_current_conversation

    ipshell.config.pop("Imagine", None)
    set_current_conversation(None)
    yield ipshell
    ipshell.config.pop("Imagine", None)


@pytest.fixture
def nb(shell: Any, sim_server: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> Notebook:
    ipshell = shell
    monkeypatch.setenv("OPENAI_BASE_URL", sim_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-magics-test-key")
    pub = RecordingPublisher(shell=ipshell)
    monkeypatch.setattr(ipshell, "display_pub", pub)
    capfd.readouterr()
    return Notebook(ipshell, pub, sim_server.simulator, capfd)


@pytest.fixture
def credentials_seen(sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The credential headers of each request the server answers (the simulator never records them)."""
    seen: list[dict[str, str]] = []
    handle = sim_server.simulator.handle

    def recording(method: str, path: str, headers: Any = None, body: bytes = b"", **kwargs: Any) -> Any:
        named = {str(k).lower(): str(v) for k, v in (headers or [])}
        seen.append({k: named[k] for k in ("api-key", "authorization") if k in named})
        return handle(method, path, headers, body, **kwargs)

    monkeypatch.setattr(sim_server.simulator, "handle", recording)
    return seen

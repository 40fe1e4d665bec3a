"""Browser tests: one JupyterLab and one Chromium for the whole session.

Each test opens its own notebook (and kernel) in a new page; ``notebook(name, cells)`` writes
it, opens it, waits for the kernel and runs all cells. Screenshots go to
test-artifacts/browser/<test>.png. The tests are skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from _lab import CHROMIUM, LabServer, Notebook, chromium, open_notebook, start_lab

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing (CI installs Debian's chromium)")
    for item in items:
        if item.get_closest_marker("browser") and HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = start_lab(tmp_path_factory.mktemp("jupyterlab"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    with chromium() as (_browser, context):
        yield context


@pytest.fixture
def notebook(lab: LabServer, browser_context: Any, request: pytest.FixtureRequest
             ) -> Callable[..., AbstractContextManager[Notebook]]:
    """``with notebook(cells, ui="lab"|"notebook", before_goto=None) as nb:`` -> a `Notebook`."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name) + ".ipynb"

    def open_(cells: list[str], **kwargs: Any) -> AbstractContextManager[Notebook]:
        kwargs.setdefault("failure_shot", ARTIFACTS / f"{name[:-len('.ipynb')]}_failed.png")
        return _timed(open_notebook(browser_context, lab, name, cells, **kwargs))

    return open_


@contextmanager
def _timed(opening: AbstractContextManager[Notebook]) -> Iterator[Notebook]:
    start = time.monotonic()
    with opening as nb:
        yield nb
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in nb.timings.items())
        print(f"[browser] {nb.path}: {phases}, test {time.monotonic() - start - sum(nb.timings.values()):.1f} s")


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """``shot(page_or_locator, suffix="")`` saves test-artifacts/browser/<test><suffix>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def save(target: Any, suffix: str = "") -> Path:
        path = ARTIFACTS / f"{base}{suffix}.png"
        target.screenshot(path=str(path))
        return path

    return save

"""The fault matrix: every failure the simulator can cause, over a real socket, for
generate / edit / respond, streamed and not, with exactly one expected outcome each.

Streamed cases also run through a `Conversation` with a `Store`: whatever completed image
the server sent before a failure is in the store, partials are kept as kind="partial",
and no turn is committed for a failed stream.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

import nbimages
from nbimages._requests import image_tool
from nbimages._retry import RetryPolicy
from nbimages.conversation import Conversation
from nbimages.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ContentPolicyError,
    RateLimitError,
    ServerError,
    StreamError,
)
from nbimages.store import Store

from _images import make_png

NbErrors = nbimages.NbImagesError
APIS = ("generate", "edit", "respond")
READ_TIMEOUT = 0.3
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.005)
IMAGE = {"quality": "low", "size": "256x256"}  # small: rendering dominates the run time
SOURCE = make_png((64, 64), (200, 30, 30))

# Index of the event right after the first partial image, per endpoint: Images API streams
# start with the partial; a Responses stream has five lifecycle events before it.
AFTER_FIRST_PARTIAL = {"generate": 1, "edit": 1, "respond": 6}
LAST_IMAGE_EVENT = {"generate": "image_generation.completed", "edit": "image_edit.completed",
                    "respond": "response.output_item.done"}


@dataclass(frozen=True)
class Ok:
    """Succeeded after ``requests`` attempts, in at least ``min_seconds`` (a server hint)."""

    requests: int
    min_seconds: float = 0.0


@dataclass(frozen=True)
class Fails:
    """Raised exactly ``error`` after ``requests`` attempts, carrying these images."""

    error: type[Exception]
    requests: int
    partials: int = 0
    images: int = 0
    code: str | None = None
    max_seconds: float | None = None
    says: str | None = None  # in the message


@dataclass(frozen=True)
class Case:
    id: str
    streamed: Ok | Fails | None  # None: does not apply
    unstreamed: Ok | Fails | None
    fault: dict[str, Any] | None = None  # kind + params for simulator.faults.add
    prompt: str = "a red fox in the snow"
    refused: bool = False  # connect to a closed port
    streamed_per_api: dict[str, Ok | Fails] = field(default_factory=dict)  # api -> streamed outcome

    def fault_for(self, api: str) -> dict[str, Any] | None:
        fault = self.fault
        if fault is None:
            return None
        fault = dict(fault)
        if fault.get("at_event") == "after_first_partial":
            fault["at_event"] = AFTER_FIRST_PARTIAL[api]
        if fault.get("after_type") == "last_image":
            fault["after_type"] = LAST_IMAGE_EVENT[api]
        return fault

    def expected(self, api: str, streamed: bool) -> Ok | Fails | None:
        if not streamed:
            return self.unstreamed
        return self.streamed_per_api.get(api, self.streamed)


CUT_BODY = Fails(APIConnectionError, 1, says="the connection to the server broke")  # a body cut in half is not retried: it may be charged
CASES = [
    Case("429-retry-after", Ok(2, 0.2), Ok(2, 0.2), {"kind": "status", "status": 429, "retry_after": 0.2}),
    Case("429-retry-after-ms", Ok(2, 0.15), Ok(2, 0.15), {"kind": "status", "status": 429, "retry_after_ms": 150}),
    Case("429-exhausted", Fails(RateLimitError, 3, code="rate_limit_exceeded"),
         Fails(RateLimitError, 3, code="rate_limit_exceeded"),
         {"kind": "status", "status": 429, "retry_after_ms": 1, "times": 3}),
    Case("500", Ok(2), Ok(2), {"kind": "status", "status": 500}),
    Case("502", Ok(2), Ok(2), {"kind": "status", "status": 502}),
    Case("503", Ok(2), Ok(2), {"kind": "status", "status": 503}),
    Case("503-exhausted", Fails(ServerError, 3), Fails(ServerError, 3), {"kind": "status", "status": 503, "times": 3}),
    Case("refused", Fails(APIConnectionError, 3, says="could not reach the server"),
         Fails(APIConnectionError, 3, says="could not reach the server"), refused=True),
    Case("drop-before-headers", Ok(2), Ok(2), {"kind": "drop"}),
    Case("drop-exhausted", Fails(APIConnectionError, 3, says="broke"), Fails(APIConnectionError, 3, says="broke"),
         {"kind": "drop", "times": 3}),
    Case("cut-after-0-partials", Fails(StreamError, 1, partials=0, code="stream_broken"), CUT_BODY,
         {"kind": "cut", "after_partials": 0}),
    Case("cut-after-1-partial", Fails(StreamError, 1, partials=1, code="stream_broken"), CUT_BODY,
         {"kind": "cut", "after_partials": 1}),
    Case("cut-after-2-partials", Fails(StreamError, 1, partials=2, code="stream_broken"), CUT_BODY,
         {"kind": "cut", "after_partials": 2}),
    # Images API: the completed image is the end of the result, so a bad ending loses nothing;
    # Responses API: the image is there but response.completed never came.
    Case("cut-after-final-image", Ok(1), None, {"kind": "cut", "after_type": "last_image"},
         streamed_per_api={"respond": Fails(StreamError, 1, partials=2, images=1, code="stream_broken")}),
    Case("malformed-event", Fails(StreamError, 1, partials=1, code="malformed_event"),
         Fails(APIError, 1, code="malformed_response"), {"kind": "malformed", "at_event": "after_first_partial"}),
    Case("error-event", Fails(StreamError, 1, partials=1, code="server_error"),
         Fails(APIError, 1, code="server_error"),
         {"kind": "error_event", "at_event": "after_first_partial", "code": "server_error"}),
    Case("error-event-nested", Fails(StreamError, 1, partials=1, code="server_error"), None,
         {"kind": "error_event", "at_event": "after_first_partial", "shape": "nested", "code": "server_error"}),
    Case("moderation-error-event", Fails(ContentPolicyError, 1, code="moderation_blocked"), None,
         {"kind": "error_event", "at_event": 0, "code": "moderation_blocked"}),
    Case("unknown-events", Ok(1), Ok(1), {"kind": "unknown_events", "split": True}),
    Case("stall-before-headers", Fails(APITimeoutError, 1, max_seconds=1.5),
         Fails(APITimeoutError, 1, max_seconds=1.5), {"kind": "stall", "seconds": 5}),
    Case("stall-mid-stream", Fails(StreamError, 1, partials=1, code="stream_broken", max_seconds=1.5), None,
         {"kind": "stall", "seconds": 5, "at_event": "after_first_partial"}),
    Case("401", Fails(AuthenticationError, 1, code="invalid_api_key"),
         Fails(AuthenticationError, 1, code="invalid_api_key"), {"kind": "status", "status": 401}),
    Case("400-moderation-blocked", Fails(ContentPolicyError, 1, code="moderation_blocked"),
         Fails(ContentPolicyError, 1, code="moderation_blocked"), prompt="a forbidden-content picture"),
]


def _params() -> Iterator[Any]:
    for case in CASES:
        for api in APIS:
            for streamed in (False, True):
                if case.expected(api, streamed) is not None:
                    mode = "stream" if streamed else "whole"
                    yield pytest.param(case, api, streamed, id=f"{case.id}-{api}-{mode}")


# -- plumbing ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """One simulator on a real socket for the whole matrix (each case queues its own fault)."""
    from nbimages.local import start_server

    with start_server(host="127.0.0.1", port=0, latency=0.0, partial_interval=0.0) as handle:
        yield handle


@pytest.fixture
def sim_server(server: Any) -> Iterator[Any]:
    server.simulator.faults.clear()
    yield server
    server.simulator.reset()


class Counted:
    """A `Client` over a real socket whose attempts are counted on the client side."""

    def __init__(self, base_url: str, *, read_timeout: float = 30.0, async_: bool = False) -> None:
        self.attempts = 0
        hooks = {"request": [self._count_async if async_ else self._count]}
        timeout = httpx.Timeout(read_timeout, connect=5.0)
        if async_:
            self.http: Any = httpx.AsyncClient(event_hooks=hooks, timeout=timeout)
            self.client: Any = nbimages.AsyncClient(api_key="sk-test-dummy", base_url=base_url,
                                                    http_client=self.http, timeout=timeout)
        else:
            self.http = httpx.Client(event_hooks=hooks, timeout=timeout)
            self.client = nbimages.Client(api_key="sk-test-dummy", base_url=base_url, http_client=self.http,
                                          timeout=timeout)
        self.client.retry = FAST_RETRY

    def _count(self, request: httpx.Request) -> None:
        self.attempts += 1

    async def _count_async(self, request: httpx.Request) -> None:
        self.attempts += 1


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def call(client: Any, api: str, prompt: str, streamed: bool) -> Any:
    partials = {"partial_images": 2} if streamed else {}
    if api == "generate":
        return client.generate(prompt, stream=streamed, **IMAGE, **partials)
    if api == "edit":
        return client.edit(prompt, SOURCE, stream=streamed, **IMAGE, **partials)
    return client.respond(prompt, tools=[image_tool(**IMAGE, **partials)], stream=streamed)


def run_client(client: Any, api: str, prompt: str, streamed: bool) -> Any:
    result = call(client, api, prompt, streamed)
    if streamed:
        result = result.until_done()
    return result


def run_conversation(conv: Conversation, api: str, prompt: str) -> Any:
    if api == "generate":
        turn_stream = conv.generate(prompt, stream=True, **IMAGE)
    elif api == "edit":
        turn_stream = conv.edit(prompt, SOURCE, stream=True, **IMAGE)
    else:
        turn_stream = conv.send(prompt, stream=True, **IMAGE)
    return turn_stream.until_done()


def result_images(result: Any) -> list[Any]:
    return list(result.images) if hasattr(result, "images") else list(result)


def check_error(exc: BaseException, expected: Fails) -> None:
    assert type(exc) is expected.error, repr(exc)
    if expected.code is not None:
        assert getattr(exc, "code", None) == expected.code, repr(exc)
    if expected.says is not None:
        assert expected.says in str(exc), str(exc)
    if isinstance(exc, StreamError):
        assert len(exc.partials) == expected.partials
        assert len(exc.images) == expected.images
        assert len({p.data for p in exc.partials}) == len(exc.partials)  # distinct previews
    else:
        assert expected.partials == expected.images == 0
    assert "sk-test-dummy" not in str(exc)


def timeout_for(case: Case) -> float:
    """A short read timeout only where a stall must trip it (rendering may take longer on CI)."""
    return READ_TIMEOUT if case.fault and case.fault["kind"] == "stall" else 30.0


def arm(case: Case, api: str, server: Any) -> str:
    """Queue the case's fault on the server; the base URL the client must use."""
    server.simulator.faults.clear()
    fault = case.fault_for(api)
    if fault is not None:
        server.simulator.faults.add(**fault)
    return closed_port_url() if case.refused else server.url


def served(case: Case, server: Any, before: int) -> int | None:
    return None if case.refused else len(server.simulator.requests) - before


# -- the matrix -------------------------------------------------------------------------------
@pytest.mark.parametrize(("case", "api", "streamed"), list(_params()))
def test_fault_matrix(case: Case, api: str, streamed: bool, sim_server: Any) -> None:
    expected = case.expected(api, streamed)
    assert expected is not None
    counted = Counted(arm(case, api, sim_server), read_timeout=timeout_for(case))
    before = len(sim_server.simulator.requests)
    started = time.perf_counter()
    try:
        if isinstance(expected, Ok):
            result = run_client(counted.client, api, case.prompt, streamed)
            elapsed = time.perf_counter() - started
            images = result_images(result)
            assert len(images) == 1 and images[0].width == 256
            assert elapsed >= expected.min_seconds
        else:
            with pytest.raises(NbErrors) as info:
                run_client(counted.client, api, case.prompt, streamed)
            elapsed = time.perf_counter() - started
            check_error(info.value, expected)
            if expected.max_seconds is not None:
                assert READ_TIMEOUT <= elapsed < expected.max_seconds
    finally:
        counted.client.close()
        counted.http.close()
    assert counted.attempts == expected.requests
    assert served(case, sim_server, before) in (None, expected.requests)
    assert len(sim_server.simulator.faults) == 0  # the fault was used up, not skipped


@pytest.mark.parametrize(("case", "api", "streamed"), [p for p in _params() if p.values[2]])
def test_fault_matrix_through_a_conversation(case: Case, api: str, streamed: bool, sim_server: Any,
                                             tmp_path: Path) -> None:
    """The same streamed faults through a Conversation: nothing completed is ever missing from the store."""
    expected = case.expected(api, streamed)
    assert expected is not None
    counted = Counted(arm(case, api, sim_server), read_timeout=timeout_for(case))
    store = Store(tmp_path / "home")
    conv = Conversation(counted.client, store=store)
    try:
        if isinstance(expected, Ok):
            turn = run_conversation(conv, api, case.prompt)
            assert conv.head is turn and turn.image is not None
            [stored] = store.list(kind="final")
            assert stored.path == turn.image.path and stored.path.read_bytes() == turn.image.data
            assert store.count(kind="partial") == 0
        else:
            with pytest.raises(NbErrors) as info:
                run_conversation(conv, api, case.prompt)
            check_error(info.value, expected)
            assert conv.head is None and conv.all_turns == []  # a failed stream commits no turn
            error = info.value
            finals = store.list(kind="final")
            assert len(finals) == expected.images
            if isinstance(error, StreamError):
                # every completed image the server sent is on disk, byte for byte
                assert sorted(f.path.read_bytes() for f in finals) == sorted(i.data for i in error.images)
                assert all(i.path is not None and i.path.exists() for i in error.images)
                partials = store.list(kind="partial")
                assert len(partials) == expected.partials
                assert {p.path for p in partials} == {p.path for p in error.partials}
    finally:
        counted.client.close()
        counted.http.close()
    assert counted.attempts == expected.requests


ASYNC_CASES = ("429-retry-after-ms", "503-exhausted", "drop-before-headers", "cut-after-1-partial",
               "cut-after-final-image", "malformed-event", "stall-before-headers", "stall-mid-stream", "refused")


@pytest.mark.parametrize(("case", "api", "streamed"),
                         [p for p in _params() if p.values[0].id in ASYNC_CASES and p.values[1] != "edit"])
def test_fault_matrix_async(case: Case, api: str, streamed: bool, sim_server: Any) -> None:
    """AsyncClient has its own send loop: the same outcomes."""
    expected = case.expected(api, streamed)
    assert expected is not None
    base_url = arm(case, api, sim_server)

    async def main() -> tuple[Any, int]:
        counted = Counted(base_url, read_timeout=timeout_for(case), async_=True)
        try:
            result = await call(counted.client, api, case.prompt, streamed)
            if streamed:
                result = await result.until_done()
            return result, counted.attempts
        except NbErrors as exc:
            return exc, counted.attempts
        finally:
            await counted.http.aclose()

    started = time.perf_counter()
    outcome, attempts = asyncio.run(main())
    elapsed = time.perf_counter() - started
    if isinstance(expected, Ok):
        assert not isinstance(outcome, BaseException), repr(outcome)
        assert len(result_images(outcome)) == 1
        assert elapsed >= expected.min_seconds
    else:
        check_error(outcome, expected)
    assert attempts == expected.requests


def test_every_fault_kind_is_in_the_matrix() -> None:
    from nbimages.local.faults import KINDS

    used = {case.fault["kind"] for case in CASES if case.fault}
    assert used == set(KINDS)

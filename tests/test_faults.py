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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from _images import header_only_png, make_png, truncated_png

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
PARTIAL_EVENT = {"generate": "image_generation.partial_image", "edit": "image_edit.partial_image",
                 "respond": "response.image_generation_call.partial_image"}
# Where each API puts an image's base64, per event type (and in an unstreamed reply): a tamper
# fault's "$image" stands for it.
IMAGE_FIELD = {"image_generation.partial_image": "b64_json", "image_edit.partial_image": "b64_json",
               "response.image_generation_call.partial_image": "partial_image_b64",
               "image_generation.completed": "b64_json", "image_edit.completed": "b64_json",
               "response.output_item.done": "item.result"}
UNSTREAMED_IMAGE_FIELD = {"generate": "data.0.b64_json", "edit": "data.0.b64_json", "respond": "output.0.result"}
NOT_AN_IMAGE = "aGVsbG8gd29ybGQ="  # "hello world", valid base64
HTML_PAGE = "<!doctype html><html><head><title>Sign in</title></head><body>Sign in to continue</body></html>"


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

    def fault_for(self, api: str, streamed: bool = True) -> dict[str, Any] | None:
        fault = self.fault
        if fault is None:
            return None
        fault = dict(fault)
        if fault.get("at_event") == "after_first_partial":
            fault["at_event"] = AFTER_FIRST_PARTIAL[api]
        if fault.get("after_type") == "last_image":
            fault["after_type"] = LAST_IMAGE_EVENT[api]
        if fault.get("at_type") in ("first_partial", "last_image"):
            fault["at_type"] = (PARTIAL_EVENT if fault["at_type"] == "first_partial" else LAST_IMAGE_EVENT)[api]
        if "$image" in fault.get("set", {}):
            where = IMAGE_FIELD[fault["at_type"]] if streamed else UNSTREAMED_IMAGE_FIELD[api]
            fault["set"] = {where: fault["set"]["$image"]}
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
    # A server that sends the wrong thing: said as such, never a KeyError or a frozen stream.
    Case("partial-not-base64", Fails(StreamError, 1, partials=0, code="malformed_event", says="not valid base64"),
         None, {"kind": "tamper", "at_type": "first_partial", "set": {"$image": "%%% not base64 %%%"}}),
    Case("partial-image-missing", Fails(StreamError, 1, partials=0, code="malformed_event", says="missing"),
         None, {"kind": "tamper", "at_type": "first_partial", "set": {"$image": None}}),
    Case("final-not-an-image", Fails(StreamError, 1, partials=2, code="malformed_event", says="not PNG"),
         Fails(APIError, 1, code="malformed_response", says="not PNG"),
         {"kind": "tamper", "at_type": "last_image", "set": {"$image": NOT_AN_IMAGE}}),
    Case("final-image-a-number", Fails(StreamError, 1, partials=2, code="malformed_event", says="a number"),
         Fails(APIError, 1, code="malformed_response", says="a number"),
         {"kind": "tamper", "at_type": "last_image", "set": {"$image": 12345}}),
    Case("optional-fields-mistyped", Ok(1), Ok(1),
         {"kind": "tamper", "set": {"partial_image_index": "one", "usage": "lots", "revised_prompt": 7,
                                    "output_index": [], "size": {"w": 1}}}),
    Case("redirect", Fails(APIError, 1, code="not_the_api", says="a redirect to https://login.example.com/"),
         Fails(APIError, 1, code="not_the_api", says="a redirect to https://login.example.com/"),
         {"kind": "reply", "status": 302, "headers": {"location": "https://login.example.com/"}}),
    Case("html-page", Fails(APIError, 1, code="not_the_api", says="an HTML page"),
         Fails(APIError, 1, code="not_the_api", says="an HTML page"),
         {"kind": "reply", "status": 200, "headers": {"content-type": "text/html; charset=utf-8"},
          "body": HTML_PAGE}),
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


def arm(case: Case, api: str, server: Any, streamed: bool = True) -> str:
    """Queue the case's fault on the server; the base URL the client must use."""
    server.simulator.faults.clear()
    fault = case.fault_for(api, streamed)
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
    counted = Counted(arm(case, api, sim_server, streamed), read_timeout=timeout_for(case))
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
    counted = Counted(arm(case, api, sim_server, streamed), read_timeout=timeout_for(case))
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
               "cut-after-final-image", "malformed-event", "stall-before-headers", "stall-mid-stream", "refused",
               "final-not-an-image", "redirect")


@pytest.mark.parametrize(("case", "api", "streamed"),
                         [p for p in _params() if p.values[0].id in ASYNC_CASES and p.values[1] != "edit"])
def test_fault_matrix_async(case: Case, api: str, streamed: bool, sim_server: Any) -> None:
    """AsyncClient has its own send loop: the same outcomes."""
    expected = case.expected(api, streamed)
    assert expected is not None
    base_url = arm(case, api, sim_server, streamed)

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


# -- results that are not images, and streams without bounds ---------------------------------------
def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("picture", "code", "says"), [
    (truncated_png(), "invalid_image", "does not decode"),  # a plausible header: only decoding finds it
    (header_only_png(20000, 20000), "malformed_event", "20000x20000 is larger"),
    (header_only_png(0, 0), "malformed_event", "an empty image (0x0)"),
], ids=["truncated", "bomb-20000x20000", "0x0"])
def test_a_final_image_that_is_not_usable_is_never_kept(api: str, picture: bytes, code: str, says: str,
                                                         sim_server: Any, tmp_path: Path) -> None:
    """Checked before it is committed: a StreamError that keeps the partials; no final image in the
    store, no turn, so re-running, %imagine_history and --continue never meet it."""
    fault = {"kind": "tamper", "at_type": LAST_IMAGE_EVENT[api], "set": {IMAGE_FIELD[LAST_IMAGE_EVENT[api]]: _b64(picture)}}
    sim_server.simulator.faults.add(**fault)
    store = Store(tmp_path / "home")
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        conv = Conversation(client, store=store)
        with pytest.raises(StreamError) as info:
            run_conversation(conv, api, "a red fox in the snow")
    error = info.value
    assert error.code == code and says in str(error)
    assert len(error.partials) == 2 and error.images == []
    assert all(p.path is not None and p.path.is_file() for p in error.partials)  # kept, as partials
    assert store.count(kind="final") == 0 and store.count(kind="partial") == 2
    assert conv.head is None and conv.all_turns == []


def test_an_unstreamed_result_that_does_not_decode_is_refused(sim_server: Any, tmp_path: Path) -> None:
    sim_server.simulator.faults.add("tamper", set={"data.0.b64_json": _b64(truncated_png())})
    store = Store(tmp_path / "home")
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        conv = Conversation(client, store=store)
        with pytest.raises(StreamError, match="not usable: the png data does not decode") as info:
            conv.generate("a red fox", **IMAGE)
        assert info.value.code == "invalid_image" and store.count(kind=None) == 0 and conv.head is None
        turn = conv.generate("a red fox", **IMAGE)  # the next request is fine
    assert turn.image is not None and turn.image.path is not None


def _stream_body(*events: dict[str, Any], raw: bytes = b"") -> str:
    import json

    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events) + raw
    return body.decode("latin-1")


PARTIAL = {"type": "image_generation.partial_image", "b64_json": _b64(make_png((32, 32))), "partial_image_index": 0}
COMPLETED = {"type": "image_generation.completed", "b64_json": _b64(make_png((32, 32), (0, 0, 255))),
             "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}


def _reply_stream(server: Any, body: str) -> None:
    server.simulator.faults.add("reply", headers={"content-type": "text/event-stream"}, body=body)


def test_an_oversized_event_ends_the_stream_and_keeps_what_came_before(sim_server: Any) -> None:
    import tracemalloc

    from nbimages.sse import MAX_EVENT_BYTES

    huge = b"data: {\"type\": \"image_generation.completed\", \"b64_json\": \"" + b"A" * (MAX_EVENT_BYTES + 1024)
    _reply_stream(sim_server, _stream_body(PARTIAL, raw=huge))
    tracemalloc.start()
    try:
        with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client, \
                pytest.raises(StreamError) as info:
            client.generate("a fox", stream=True, partial_images=1).until_done()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.code == "event_too_large" and len(info.value.partials) == 1
    assert peak < 3 * MAX_EVENT_BYTES  # the event is refused at the limit, not read to its end


def test_an_endless_run_of_partials_is_cut_off(sim_server: Any) -> None:
    from nbimages.events import MAX_STREAM_PARTIALS

    _reply_stream(sim_server, _stream_body(*[PARTIAL] * (MAX_STREAM_PARTIALS + 5), COMPLETED))
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client, \
            pytest.raises(StreamError, match=f"more than {MAX_STREAM_PARTIALS} partial images") as info:
        client.generate("a fox", stream=True, partial_images=3).until_done()
    assert info.value.code == "malformed_event" and len(info.value.partials) == MAX_STREAM_PARTIALS


def test_empty_data_lines_and_events_without_a_usable_type_are_skipped(sim_server: Any) -> None:
    """Legal SSE (an empty data: line dispatches nothing) and unknown shapes are not errors."""
    raw_events = ("data:\n\n" "data: \n\n" ": comment\n\n" 'data: {"no_type": 1}\n\n'
                  'data: {"type": 5}\n\n' 'data: {"type": ["a", "list"]}\n\n' 'data: [1, 2]\n\n')
    _reply_stream(sim_server, raw_events + _stream_body(PARTIAL, COMPLETED))
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        stream = client.generate("a fox", stream=True, partial_images=1)
        images = stream.until_done()
    assert len(images) == 1 and images[0].width == 32 and len(stream.partials) == 1


@pytest.mark.parametrize(("event", "says"), [
    ({"type": "response.output_text.delta", "delta": 42}, "'delta' is a number, not a string"),
    ({"type": "response.output_text.delta"}, "'delta' is missing"),
    ({"type": "response.completed", "response": "done"}, "'response' is a string, not an object"),
    ({"type": "response.completed", "response": {"output": {"not": "a list"}}}, "'output' is an object"),
    ({"type": "response.output_item.done", "item": [1]}, "'item' is a list, not an object"),
    ({"type": "response.created"}, "'response' is missing"),
])
def test_a_malformed_responses_event_is_a_stream_error(event: dict[str, Any], says: str, sim_server: Any) -> None:
    created = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    delta = {"type": "response.output_text.delta", "delta": "A fox "}
    events = (event,) if event["type"] == "response.created" else (created, delta, event)
    _reply_stream(sim_server, _stream_body(*events))
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client:
        stream = client.describe(make_png(), "what is it?", stream=True)
        with pytest.raises(StreamError, match="malformed") as info:
            stream.until_done()
    assert says in str(info.value) and info.value.code == "malformed_event"


def test_an_unstreamed_reply_is_read_up_to_a_limit(sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages import client as client_module

    monkeypatch.setattr(client_module, "MAX_REPLY_BYTES", 2**20)  # 1 MB instead of 512 MB, to keep the test quick
    sim_server.simulator.faults.add("reply", headers={"content-type": "application/json"},
                                    body='{"data": [{"b64_json": "' + "A" * (3 * 2**20) + '"}]}')
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client, \
            pytest.raises(APIError, match="larger than 1 MB") as info:
        client.generate("a fox", **IMAGE)
    assert info.value.code == "reply_too_large"


def test_a_huge_error_body_is_cut_and_still_reported(sim_server: Any) -> None:
    sim_server.simulator.faults.add("reply", status=400, headers={"content-type": "text/plain"},
                                    body="the gateway says no. " + "x" * (3 * 2**20))
    with nbimages.Client(api_key="sk-test-dummy", base_url=sim_server.url) as client, pytest.raises(APIError) as info:
        client.generate("a fox", **IMAGE)
    assert info.value.status == 400 and str(info.value).startswith("400: the gateway says no.")
    assert len(str(info.value)) < 1000

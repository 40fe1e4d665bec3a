"""The simulator's Batch API, Files API for batches, and rate limit, driven by the official SDK.

Batches run in a thread at the simulator's pace; these tests poll them as a client would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

openai = pytest.importorskip("openai")
from openai import OpenAI  # noqa: E402
from openai.types import Batch  # noqa: E402

from nbimages.local import RequestLimiter, Simulator, start_server  # noqa: E402
from nbimages.local import state as sim_state  # noqa: E402
from nbimages.local.ratelimit import duration  # noqa: E402

from _sim_fixtures import data_url, decode_image, scene_png  # noqa: E402

GENERATIONS = "/v1/images/generations"
TERMINAL = ("completed", "failed", "cancelled", "expired")


def request_line(custom_id: str, body: dict[str, Any], url: str = GENERATIONS) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def small(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": prompt, "size": "1024x1024", "quality": "low", **extra}


def jsonl(lines: list[Any]) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


def start_batch(client: OpenAI, lines: list[Any], endpoint: str = GENERATIONS, **params: Any) -> Batch:
    upload = client.files.create(file=("requests.jsonl", jsonl(lines)), purpose="batch")
    return client.batches.create(input_file_id=upload.id, endpoint=endpoint,  # type: ignore[arg-type]
                                 completion_window="24h", **params)


def wait(client: OpenAI, batch_id: str, until: Any = lambda b: b.status in TERMINAL,
         timeout: float = 30.0) -> tuple[Batch, list[str]]:
    """The batch once ``until`` holds, and every status seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if until(batch):
            return batch, seen
        assert time.monotonic() < deadline, f"batch still {batch.status}"
        time.sleep(0.01)


def records(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


@pytest.fixture
def server() -> Iterator[Any]:
    with start_server(batch_start_delay=0.02, batch_seconds_per_request=0.01) as handle:
        yield handle


@pytest.fixture
def slow_server() -> Iterator[Any]:
    """Batches slow enough to be caught validating and in progress, and to expire after 1.2 s."""
    with start_server(batch_start_delay=0.3, batch_seconds_per_request=0.05, batch_window=1.2) as handle:
        yield handle


@pytest.fixture
def client(server: Any) -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=server.url, max_retries=0) as c:
        yield c


@pytest.fixture
def slow_client(slow_server: Any) -> Iterator[OpenAI]:
    with OpenAI(api_key="sk-test", base_url=slow_server.url, max_retries=0) as c:
        yield c


# ----------------------------------------------------------------------------- running batches


def test_a_batch_of_generations_goes_through_its_statuses_to_images(client: OpenAI) -> None:
    batch = start_batch(client, [request_line(f"item-{i}", small(f"a lighthouse {i}")) for i in range(3)],
                        metadata={"run": "r1"})
    assert batch.status == "validating" and batch.metadata == {"run": "r1"}
    done, seen = wait(client, batch.id)
    assert seen[-1] == "completed" and "in_progress" in seen
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 3, 0)
    assert done.error_file_id is None and done.output_file_id
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert done.usage is not None and done.usage.output_tokens > 0
    out = records(client, done.output_file_id)
    assert sorted(r["custom_id"] for r in out) == ["item-0", "item-1", "item-2"]
    for r in out:
        assert r["id"].startswith("batch_req_") and r["error"] is None
        assert r["response"]["status_code"] == 200 and r["response"]["request_id"].startswith("req_")
        assert decode_image(r["response"]["body"]["data"][0]["b64_json"]).size == (1024, 1024)
    output = client.files.retrieve(done.output_file_id)
    assert output.purpose == "batch_output" and output.bytes == len(client.files.content(output.id).content)


def test_refused_requests_go_to_the_error_file_with_their_status(client: OpenAI) -> None:
    lines = [request_line("good", small("a boat")),
             request_line("blocked", small("forbidden-content here")),
             request_line("empty", small("")),
             request_line("streamed", small("a kite", stream=True))]
    done, _ = wait(client, start_batch(client, lines).id)
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 3)
    assert [r["custom_id"] for r in records(client, done.output_file_id)] == ["good"]
    errors = {r["custom_id"]: r["response"] for r in records(client, done.error_file_id)}
    assert errors["blocked"]["status_code"] == 400
    assert errors["blocked"]["body"]["error"]["code"] == "moderation_blocked"
    assert errors["empty"]["body"]["error"]["code"] == "empty_string"
    assert errors["streamed"]["body"]["error"]["param"] == "stream"


def test_an_edits_batch_takes_images_as_data_urls_and_file_ids(client: OpenAI) -> None:
    scene = scene_png((256, 256))
    uploaded = client.files.create(file=("scene.png", scene, "image/png"), purpose="vision")
    lines = [request_line("by-url", {"prompt": "add a star", "images": [{"image_url": data_url(scene)}]},
                          "/v1/images/edits"),
             request_line("by-file", {"prompt": "add a moon", "images": [{"file_id": uploaded.id}]},
                          "/v1/images/edits")]
    done, _ = wait(client, start_batch(client, lines, "/v1/images/edits").id)
    out = {r["custom_id"]: r["response"]["body"] for r in records(client, done.output_file_id)}
    assert done.status == "completed" and set(out) == {"by-url", "by-file"}
    assert decode_image(out["by-file"]["data"][0]["b64_json"]).size == (256, 256)


def test_a_responses_batch_calls_the_image_tool(client: OpenAI) -> None:
    body = {"model": "gpt-5", "input": "draw a fox", "tools": [{"type": "image_generation", "quality": "low"}]}
    done, _ = wait(client, start_batch(client, [request_line("fox", body, "/v1/responses")], "/v1/responses").id)
    [record] = records(client, done.output_file_id)
    calls = [o for o in record["response"]["body"]["output"] if o["type"] == "image_generation_call"]
    assert done.model == "gpt-5" and decode_image(calls[0]["result"]).size[0] > 0


# ----------------------------------------------------------------------------- invalid input files


def test_a_malformed_input_file_fails_the_batch_with_its_errors(client: OpenAI) -> None:
    lines = [request_line("a", small("one")), b"{not json", request_line("a", small("two")),
             request_line("b", small("three"), "/v1/responses"),
             {**request_line("c", small("four")), "method": "GET"},
             request_line("d", small("five", model="gpt-image-1-mini"))]
    done, seen = wait(client, start_batch(client, lines).id)
    assert seen[-1] == "failed" and done.failed_at and "in_progress" not in seen
    assert done.errors is not None and done.errors.data is not None
    found = [(e.line, e.code, e.param) for e in done.errors.data]
    assert found == [(2, "invalid_json_line", None), (3, "duplicate_custom_id", "custom_id"),
                     (4, "invalid_url", "url"), (5, "invalid_method", "method"),
                     (6, "mismatched_model", "body.model")]
    assert done.output_file_id is None and done.error_file_id is None


def test_an_empty_input_file_fails(client: OpenAI) -> None:
    done, _ = wait(client, start_batch(client, [b"", b"  "]).id)
    assert done.status == "failed" and done.errors and done.errors.data
    assert done.errors.data[0].code == "empty_file"


def test_creating_a_batch_checks_its_parameters(client: OpenAI) -> None:
    upload = client.files.create(file=("in.jsonl", jsonl([request_line("a", small("x"))])), purpose="batch")
    vision = client.files.create(file=("scene.png", scene_png((64, 64)), "image/png"), purpose="vision")
    refusals = [({"endpoint": "/v1/chat/completions"}, "endpoint"), ({"completion_window": "1h"}, "completion_window"),
                ({"input_file_id": vision.id}, "input_file_id"), ({"metadata": {"k": "v" * 513}}, "metadata")]
    for change, param in refusals:
        params = {"input_file_id": upload.id, "endpoint": GENERATIONS, "completion_window": "24h", **change}
        with pytest.raises(openai.BadRequestError) as caught:
            client.batches.create(**params)
        assert caught.value.param == param
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint=GENERATIONS, completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_a_batch_upload_must_be_jsonl(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("requests.json", b"{}"), purpose="batch")
    assert caught.value.code == "invalid_file_format"


# ----------------------------------------------------------------------------- cancel, expiry, list


def test_cancelling_keeps_what_ran_and_lists_what_did_not(slow_client: OpenAI) -> None:
    lines = [request_line(f"item-{i}", small(f"a tree {i}")) for i in range(8)]
    batch = start_batch(slow_client, lines)
    wait(slow_client, batch.id, lambda b: b.request_counts is not None and b.request_counts.completed >= 1)
    cancelling = slow_client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    done, _ = wait(slow_client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at and done.request_counts is not None
    ran = records(slow_client, done.output_file_id)
    skipped = records(slow_client, done.error_file_id)
    assert 1 <= len(ran) == done.request_counts.completed < 8
    assert {r["custom_id"] for r in ran} | {r["custom_id"] for r in skipped} == {f"item-{i}" for i in range(8)}
    assert all(r["response"] is None and r["error"]["code"] == "batch_cancelled" for r in skipped)
    with pytest.raises(openai.BadRequestError):
        slow_client.batches.cancel(batch.id)


def test_a_batch_cancelled_while_validating_runs_nothing(slow_client: OpenAI) -> None:
    batch = start_batch(slow_client, [request_line("a", small("x"))])
    assert slow_client.batches.cancel(batch.id).status == "cancelling"
    done, _ = wait(slow_client, batch.id)
    assert done.status == "cancelled" and done.output_file_id is None and done.in_progress_at is None


def test_a_batch_past_its_window_expires(slow_client: OpenAI) -> None:
    lines = [request_line(f"item-{i}", small(f"a hill {i}")) for i in range(40)]
    done, _ = wait(slow_client, start_batch(slow_client, lines).id)
    assert done.status == "expired" and done.expired_at
    skipped = records(slow_client, done.error_file_id)
    assert skipped and all(r["error"]["code"] == "batch_expired" for r in skipped)
    assert len(records(slow_client, done.output_file_id)) + len(skipped) == 40


def test_batches_are_listed_newest_first_a_page_at_a_time(client: OpenAI) -> None:
    ids = [start_batch(client, [request_line("a", small(f"a cloud {i}"))]).id for i in range(5)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    assert [b.id for b in client.batches.list(limit=2)] == ids[::-1]  # the SDK follows `after`
    assert [b.id for b in client.batches.list(after=ids[1])] == [ids[0]]
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=0)


# ----------------------------------------------------------------------------- files


def test_files_kept_on_disk_are_sent_back_whole_and_deleted(client: OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_state, "MEMORY_FILE_BYTES", 1000)
    lines = [request_line(f"item-{i}", small("a wave")) for i in range(3)]
    upload = client.files.create(file=("big.jsonl", jsonl(lines)), purpose="batch")
    assert client.files.content(upload.id).content == jsonl(lines)
    done, _ = wait(client, client.batches.create(input_file_id=upload.id, endpoint=GENERATIONS,
                                                 completion_window="24h").id)
    assert done.output_file_id and len(records(client, done.output_file_id)) == 3
    assert client.files.delete(upload.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.content(upload.id)


def test_reset_stops_running_batches_and_forgets_them(slow_server: Any, slow_client: OpenAI) -> None:
    batch = start_batch(slow_client, [request_line(f"i{i}", small("x")) for i in range(20)])
    slow_server.simulator.reset()
    with pytest.raises(openai.NotFoundError):
        slow_client.batches.retrieve(batch.id)
    assert slow_server.simulator.batches.page({})["data"] == []


# ----------------------------------------------------------------------------- rate limits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_is_a_token_bucket_refilling_over_the_minute() -> None:
    clock = Clock()
    limiter = RequestLimiter(60, burst=2, clock=clock)
    first, second, third = limiter.admit(), limiter.admit(), limiter.admit()
    assert (first.allowed, first.remaining, second.allowed, second.remaining) == (True, 1, True, 0)
    assert not third.allowed and third.retry_after == pytest.approx(1.0)
    assert dict(third.error().headers)["retry-after"] == "1"
    assert dict(third.error().headers)["retry-after-ms"] == "1000"
    clock.now += 1.0
    assert limiter.admit().allowed and not limiter.admit().allowed
    clock.now += 10.0
    assert limiter.admit().reset == pytest.approx(1.0)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (0.02, "20ms"), (1, "1s"), (8.64, "8.64s"),
                                               (360, "6m0s"), (90.5, "1m30.5s"), (3600, "1h0m0s")])
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_the_limit_covers_image_and_responses_requests_only() -> None:
    sim = Simulator(rpm_limit=1)
    transport = httpx.MockTransport(lambda r: _answer(sim, r))
    with httpx.Client(transport=transport, base_url="http://sim/v1") as http:
        assert http.post("/images/generations", json=small("a")).status_code == 200
        refused = http.post("/responses", json={"model": "gpt-5", "input": "hi"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
        assert http.get("/models").status_code == 200 and "x-ratelimit-limit-requests" not in http.get("/models").headers
        assert http.post("/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"}).status_code == 200
    assert sim.rate_limited == 1
    sim.reset()
    assert sim.rate_limited == 0


def test_batches_are_not_rate_limited() -> None:
    with start_server(rpm_limit=1) as server, OpenAI(api_key="sk-test", base_url=server.url, max_retries=0) as c:
        done, _ = wait(c, start_batch(c, [request_line(f"i{i}", small("x")) for i in range(3)]).id)
        assert done.status == "completed" and server.simulator.rate_limited == 0


def _answer(sim: Simulator, request: httpx.Request) -> httpx.Response:
    resp = sim.handle(request.method, request.url.path, list(request.headers.multi_items()), request.read(),
                      query=request.url.query.decode())
    return httpx.Response(resp.status, headers=resp.headers, content=resp.body)

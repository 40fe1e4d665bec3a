"""generate_many(via="batch") against the simulator's Batch API over a real HTTP socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import nbimages
from nbimages import _batch, _run_records
from nbimages._run_items import prepare_items
from nbimages.store import Store, read_provenance

from _notebook import Notebook

PRICED = {"model": "gpt-image-1.5", "quality": "low", "size": "1024x1024"}
KEY = "sk-test-batch-0123456789"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batch.BatchEngine, "poll_interval", 0.05)
    monkeypatch.setattr(_batch.BatchEngine, "max_poll_interval", 0.2)


_clients: list[nbimages.Client] = []


@pytest.fixture(autouse=True)
def closed_clients() -> Iterator[None]:
    """The clients a test made, closed after it (the engine keeps the user's client open)."""
    yield
    while _clients:
        _clients.pop().close()


def client_of(handle: Any) -> nbimages.Client:
    client = nbimages.Client(api_key=KEY, base_url=handle.url)
    _clients.append(client)
    return client


def batch_run(handle: Any, items: Any, store: Store, **kwargs: Any) -> nbimages.Run:
    kwargs.setdefault("progress", False)
    return nbimages.generate_many(items, via="batch", client=client_of(handle), store=store, **kwargs)


def batches_of(handle: Any) -> list[dict[str, Any]]:
    """Every batch the server holds, oldest first."""
    reply = httpx.get(f"{handle.url}/batches", params={"limit": 100}, headers={"Authorization": f"Bearer {KEY}"})
    return list(reversed(reply.json()["data"]))


def input_lines(handle: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
    reply = httpx.get(f"{handle.url}/files/{batch['input_file_id']}/content", headers={"Authorization": f"Bearer {KEY}"})
    return [json.loads(line) for line in reply.text.splitlines() if line.strip()]


def test_a_batch_run_completes_with_images_in_item_order_and_their_provenance(sim: Any, store: Store) -> None:
    prompts = ["a red kite", "a blue kite", "a green kite"]
    run = batch_run(sim, prompts, store, **PRICED).wait(30)
    assert run.status == "completed" and run.errors == {} and run.counts["done"] == 3
    assert run.batch_id and run.batch_id.startswith("batch_")
    assert [img.prompt for img in run.images] == prompts  # type: ignore[union-attr]
    for index, image in enumerate(run.images):
        assert image is not None and image.path is not None and image.path.is_file()
        prov = read_provenance(image.path)
        assert prov is not None
        tag = prov["params"]["run"]
        assert tag["id"] == run.id and tag["item"] == index and tag["batch_id"] == run.batch_id
        assert tag["custom_id"] == f"{run.id}-{index}" and tag["params"]["prompt"] == prompts[index]
    [batch] = batches_of(sim)
    assert batch["endpoint"] == "/v1/images/generations" and batch["completion_window"] == "24h"
    assert batch["metadata"] == {"nbimages_run": run.id}
    assert [line["custom_id"] for line in input_lines(sim, batch)] == [f"{run.id}-{i}" for i in range(3)]
    assert not sim.simulator.requests or all("/images/" not in r.path for r in sim.simulator.requests)
    record = _run_records.read_record(store.home, run.id)
    assert record["status"] == "completed" and record["batch_id"] == run.batch_id
    assert record["batches"][0]["custom_ids"] == {f"{run.id}-{i}": i for i in range(3)}
    assert record["batches"][0]["collected"] is True


def test_a_dropped_download_of_the_results_is_read_again_at_the_next_poll(sim: Any, store: Store) -> None:
    # The output file's download fails more often than the client retries: the batch stays to collect.
    sim.simulator.faults.add("status", times=3, method="GET", path="/content", status=503, message="Try again.")
    run = batch_run(sim, ["a red kite", "a blue kite"], store, **PRICED).wait(30)
    assert run.status == "completed" and run.errors == {} and run.counts["done"] == 2
    assert all(image is not None and image.path is not None for image in run.images)


def test_a_refused_item_lands_in_errors_and_the_others_are_done(sim: Any, store: Store) -> None:
    run = batch_run(sim, ["a lake", "forbidden-content lake", "a pond"], store).wait(30)
    assert run.status == "completed" and set(run.errors) == {1}
    error = run.errors[1]
    assert isinstance(error, nbimages.ContentPolicyError) and error.code == "moderation_blocked"
    assert error.status == 400 and error.request_id
    assert run.images[0] is not None and run.images[1] is None and run.images[2] is not None


def test_the_input_file_is_written_a_line_at_a_time(tmp_path: Path, png: Callable[..., bytes]) -> None:
    """1,000 edits, each with its picture as a data URL: the file is large, the memory is not."""
    import random

    from PIL import Image as PIL

    pixels = PIL.frombytes("RGB", (48, 48), random.Random(1).randbytes(48 * 48 * 3))
    photo = tmp_path / "photo.png"
    pixels.save(photo)
    items = prepare_items([{"prompt": f"a photo, version {i}", "image": photo} for i in range(1000)], {},
                          backend="custom", base_url="http://x")
    tracemalloc.start()
    try:
        written = 0
        for part in _batch.write_parts("run_test", items, str(tmp_path)):
            written += part.size
            assert part.path.stat().st_size == part.size
            part.path.unlink()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written > 8 * 2**20  # each line holds its picture
    assert peak < written / 20, (peak, written)


def test_a_run_larger_than_a_file_allows_is_split_into_batches(sim: Any, store: Store,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batch, "MAX_REQUESTS", 3)
    prompts = [f"a shell, number {i}" for i in range(7)]
    run = batch_run(sim, prompts, store).wait(30)
    assert run.status == "completed" and run.errors == {}
    assert [img.prompt for img in run.images] == prompts  # type: ignore[union-attr]
    batches = batches_of(sim)
    assert [b["request_counts"]["total"] for b in batches] == [3, 3, 1]
    assert [b["id"] for b in run.batches] == [b["id"] for b in batches] and run.batch_id == batches[0]["id"]
    ids = [read_provenance(img.path)["params"]["run"]["batch_id"] for img in run.images]  # type: ignore[union-attr,index]
    assert ids == [batches[0]["id"]] * 3 + [batches[1]["id"]] * 3 + [batches[2]["id"]]


def test_a_file_is_split_at_its_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_batch, "MAX_FILE_BYTES", 600)
    items = prepare_items([f"a lamp, number {i}" for i in range(10)], {}, backend="custom", base_url="http://x")
    parts = list(_batch.write_parts("run_test", items, str(tmp_path)))
    assert len(parts) > 1 and all(p.size <= 600 for p in parts)
    assert sorted(i for p in parts for i in p.custom_ids.values()) == list(range(10))
    lines = [json.loads(line) for p in parts for line in p.path.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == [f"run_test-{i}" for i in range(10)]


def test_one_batch_per_endpoint_and_model_with_edits_as_json(sim: Any, store: Store,
                                                              png: Callable[..., bytes]) -> None:
    photo = png(size=(64, 64), color=(10, 200, 30))
    items = [{"prompt": "a cloud"}, {"prompt": "add a bird", "image": photo},
             {"prompt": "a cloud", "model": "gpt-image-1-mini"}, {"prompt": "a rain cloud"}]
    run = batch_run(sim, items, store).wait(30)
    assert run.status == "completed" and run.errors == {}, run.errors
    batches = batches_of(sim)
    assert sorted((b["endpoint"], b["request_counts"]["total"]) for b in batches) == [
        ("/v1/images/edits", 1), ("/v1/images/generations", 1), ("/v1/images/generations", 2)]
    edit_batch = next(b for b in batches if b["endpoint"] == "/v1/images/edits")
    [line] = input_lines(sim, edit_batch)
    assert line["body"]["images"][0]["image_url"].startswith("data:image/png;base64,")
    assert run.images[1].params["endpoint"] == "images/edits"  # type: ignore[union-attr]
    assert run.images[2].model == "gpt-image-1-mini"  # type: ignore[union-attr]


def test_running_again_sends_only_what_the_store_lacks(sim: Any, store: Store) -> None:
    first = batch_run(sim, ["a fern", "a moss"], store, **PRICED).wait(30)
    again = batch_run(sim, ["a fern", "a moss", "a lichen"], store, **PRICED).wait(30)
    assert first.errors == {} and again.errors == {} and again.counts["reused"] == 2
    assert again.estimate is not None and again.estimate.items == 1
    second = batches_of(sim)[1]
    assert [line["body"]["prompt"] for line in input_lines(sim, second)] == ["a lichen"]
    assert again.images[0].path == first.images[0].path  # type: ignore[union-attr]
    third = batch_run(sim, ["a fern", "a moss", "a lichen"], store, **PRICED).wait(30)
    assert third.counts["reused"] == 3 and len(batches_of(sim)) == 2


def test_the_ledger_and_the_estimate_say_half_the_live_price(sim: Any, store: Store) -> None:
    live = nbimages.generate_many(["a live owl", "a live hawk"], client=client_of(sim), store=store,
                                  progress=False, **PRICED).wait(30)
    live_cost = store.usage_summary()[0]["estimated_cost_usd"]
    batch = batch_run(sim, ["a batch owl", "a batch hawk"], store, **PRICED).wait(30)
    assert live.errors == {} and batch.errors == {}
    assert live.estimate is not None and batch.estimate is not None
    assert batch.estimate.usd == pytest.approx(live.estimate.usd / 2)  # type: ignore[operator]
    total = store.usage_summary()[0]["estimated_cost_usd"]
    assert total - live_cost == pytest.approx(live_cost / 2)
    import sqlite3

    with sqlite3.connect(store.home / "index.sqlite") as conn:
        endpoints = [row[0] for row in conn.execute("SELECT endpoint FROM usage ORDER BY time")]
    assert endpoints[-2:] == ["batch:images/generations"] * 2 and not endpoints[0].startswith("batch:")


def test_cancel_keeps_what_ran_and_leaves_the_rest_pending(server: Callable[..., Any], store: Store) -> None:
    sim = server(batch_seconds_per_request=0.15)
    run = batch_run(sim, [f"a bead, number {i}" for i in range(12)], store)
    deadline = time.monotonic() + 20
    while not (batches_of(sim) and batches_of(sim)[0]["request_counts"]["completed"] >= 2):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run.cancel()
    run.wait(20)
    assert run.status == "cancelled" and run.errors == {}
    counts = run.counts
    assert 2 <= counts["done"] < 12 and counts["pending"] == 12 - counts["done"]
    assert batches_of(sim)[0]["status"] == "cancelled"
    record = _run_records.read_record(store.home, run.id)
    assert record["status"] == "cancelled" and record["batches"][0]["status"] == "cancelled"


def test_a_failed_batch_fails_its_items_with_the_reason(sim: Any, store: Store,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    original = _batch.request_line
    monkeypatch.setattr(_batch, "request_line", lambda cid, item: original(cid, item).replace(b'"POST"', b'"GET"'))
    run = batch_run(sim, ["a door", "a gate"], store).wait(30)
    assert set(run.errors) == {0, 1} and "POST" in str(run.errors[0])


def test_an_async_client_works_too(sim: Any, store: Store) -> None:
    client = nbimages.AsyncClient(api_key=KEY, base_url=sim.url)
    run = nbimages.generate_many(["a quiet bay"], via="batch", client=client, store=store, progress=False).wait(30)
    assert run.errors == {} and run.images[0] is not None


def test_a_new_process_reattaches_and_collects_the_batch(server: Callable[..., Any], store: Store) -> None:
    """The first kernel stops as soon as its batch exists; a second one, later, collects it."""
    sim = server(batch_start_delay=0.3)
    env = {**os.environ, "OPENAI_BASE_URL": sim.url, "OPENAI_API_KEY": KEY}
    submit = (
        "import os, sys, time, nbimages\n"
        "run = nbimages.generate_many(['a comet', 'forbidden-content comet', 'a moon'], via='batch',"
        " store=nbimages.Store(sys.argv[1]), progress=False)\n"
        "while not run.batch_id: time.sleep(0.01)\n"
        "print(run.id, flush=True)\n"
        "os._exit(0)\n"
    )
    run_id = subprocess.run([sys.executable, "-c", submit, str(store.home)], env=env, capture_output=True,
                            text=True, check=True, timeout=60).stdout.strip()
    record = _run_records.read_record(store.home, run_id)
    assert record["status"] == "running" and record["batches"][0]["collected"] is False
    assert len(record["batches"][0]["custom_ids"]) == 3
    assert nbimages.runs(store)[0].id == run_id and nbimages.runs(store)[0].status == "running"
    collect = (
        "import json, sys, nbimages, nbimages._batch\n"
        "nbimages._batch.BatchEngine.poll_interval = 0.05\n"
        "run = nbimages.Run.load(sys.argv[1], nbimages.Store(sys.argv[2])).wait(30)\n"
        "print(json.dumps({'status': run.status, 'counts': run.counts, 'errors': {k: str(v) for k, v in"
        " run.errors.items()}, 'paths': [str(i.path) if i else None for i in run.images]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", collect, run_id, str(store.home)], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["status"] == "completed" and seen["counts"]["done"] == 2 and "moderation_blocked" in seen["errors"]["1"]
    prov = read_provenance(Path(seen["paths"][2]))
    assert prov is not None and prov["prompt"] == "a moon"
    assert prov["params"]["run"]["batch_id"] == record["batch_id"]
    assert prov["params"]["run"]["custom_id"] == f"{run_id}-2"
    loaded = nbimages.Run.load(run_id, store)
    assert loaded.status == "completed" and loaded.counts["done"] == 2


def test_reattaching_to_a_run_stopped_before_its_batch_existed_fails_its_items(sim: Any, store: Store) -> None:
    run = batch_run(sim, ["a hill", "a dale"], store).wait(30)
    record = _run_records.read_record(store.home, run.id)
    record.update(status="running", batch_id=None, batches=[])
    for item in record["items"]:
        item["images"] = []
    _run_records.write_record(store.home, record)
    loaded = nbimages.Run.load(run.id, store).wait(30)
    assert loaded.status == "completed" and set(loaded.errors) == {0, 1}
    assert "run generate_many again" in str(loaded.errors[0])


def test_the_official_sdk_reads_the_same_batch(sim: Any, store: Store) -> None:
    openai = pytest.importorskip("openai")
    run = batch_run(sim, ["a tern", "a gull"], store).wait(30)
    batch = openai.OpenAI(api_key=KEY, base_url=sim.url).batches.retrieve(run.batch_id)
    assert batch.status == "completed" and batch.metadata == {"nbimages_run": run.id}
    assert batch.request_counts is not None and batch.request_counts.completed == 2


def test_the_magic_via_batch_fills_its_contact_sheet_in(nb: Notebook) -> None:
    outputs = nb.run("%%imagine_many --via batch -o r\na paper boat\na paper plane\nforbidden-content paper\n")
    run = nb.shell.user_ns["r"]
    assert isinstance(run, nbimages.Run) and run.via == "batch"
    run.wait(30)
    time.sleep(0.4)
    shown = [o for o in nb.pub.outputs if o.meta.get("run_id") == run.id]
    assert shown and shown[0] in outputs and len({o.display_id for o in shown}) == 1
    assert "0 of 3 done" in shown[0].html
    last = shown[-1]
    assert "2 of 3 done" in last.html and "1 failed" in last.html and len(last.images()) == 2
    assert "<b>ContentPolicyError</b>" in last.html
    assert nb.requests("/batches") and not nb.requests("/images/generations")

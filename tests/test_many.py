"""generate_many, sweep, Run and runs against the simulator over a real HTTP socket."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import nbimages
from nbimages import _run_records
from nbimages.store import Store, read_provenance

PRICED = {"model": "gpt-image-1.5", "quality": "low", "size": "1024x1024"}


def client_of(handle: Any) -> nbimages.Client:
    return nbimages.Client(api_key="sk-test-many-0123456789", base_url=handle.url)


def image_requests(handle: Any) -> list[Any]:
    return [r for r in handle.simulator.requests if r.path.endswith(("/images/generations", "/images/edits"))]


def many(handle: Any, items: Any, store: Store, **kwargs: Any) -> nbimages.Run:
    kwargs.setdefault("progress", False)
    return nbimages.generate_many(items, client=client_of(handle), store=store, **kwargs)


def count_in_flight(handle: Any, hold: float) -> dict[str, int]:
    """Make the simulator hold each request ``hold`` seconds, counting those it holds at once."""
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()
    original = handle.simulator.handle

    def handle_counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(hold)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    handle.simulator.handle = handle_counted
    return seen


# -- sweep ---------------------------------------------------------------------------------------
def test_sweep_is_the_product_first_axis_slowest_and_remembers_its_values() -> None:
    points = nbimages.sweep(prompt=["a cat", "a dog"], quality=["low", "medium", "high"])
    assert [(p["prompt"], p["quality"]) for p in points] == [
        ("a cat", "low"), ("a cat", "medium"), ("a cat", "high"),
        ("a dog", "low"), ("a dog", "medium"), ("a dog", "high")]
    assert points[4].axes == {"prompt": "a dog", "quality": "medium"}
    assert nbimages.sweep(prompt="one", n=[1, 2]) == [{"prompt": "one", "n": 1}, {"prompt": "one", "n": 2}]


def test_sweep_refuses_an_empty_axis() -> None:
    with pytest.raises(nbimages.InvalidInputError, match="quality"):
        nbimages.sweep(prompt="x", quality=[])


# -- a live run --------------------------------------------------------------------------------
def test_images_come_back_in_item_order_and_are_stored_with_the_run(sim: Any, store: Store) -> None:
    prompts = [f"a lighthouse, take {i}" for i in range(6)]
    run = many(sim, prompts, store, quality="low").wait(30)
    assert run.status == "completed" and run.errors == {}
    assert [img.prompt for img in run.images] == prompts
    assert run.counts == {"total": 6, "done": 6, "reused": 0, "failed": 0, "pending": 0}
    assert run.batch_id is None and run.id.startswith("run_")
    prov = read_provenance(run.images[3].path)
    assert prov["params"]["run"]["id"] == run.id
    assert prov["params"]["run"]["item"] == 3
    assert prov["params"]["run"]["params"]["prompt"] == prompts[3]
    assert prov["params"]["quality"] == "low"


def test_generate_many_returns_at_once_and_wait_blocks(server: Callable[..., Any], store: Store) -> None:
    slow = server(latency=0.5)
    started = time.monotonic()
    run = many(slow, ["a", "b"], store)
    assert time.monotonic() - started < 0.4
    assert run.status == "running"
    with pytest.raises(TimeoutError):
        run.wait(0.05)
    assert run.wait(10) is run and run.status == "completed"


def test_one_refused_prompt_fails_only_its_item(sim: Any, store: Store) -> None:
    run = many(sim, ["a red fox", "forbidden-content here", "a blue jay"], store).wait(30)
    assert run.status == "completed"
    assert run.images[1] is None
    assert run.images[0] is not None and run.images[2] is not None
    assert isinstance(run.errors[1], nbimages.ContentPolicyError)
    assert run.counts["failed"] == 1 and run.counts["done"] == 2


def test_dict_items_take_defaults_and_make_edits(sim: Any, store: Store, png: Callable[..., bytes]) -> None:
    picture = png(size=(64, 64))
    items = [{"prompt": "a cat", "quality": "high"}, {"prompt": "add a hat", "image": picture}]
    run = many(sim, items, store, quality="low").wait(30)
    assert run.errors == {}
    bodies = sorted(image_requests(sim), key=lambda r: r.path)
    assert bodies[0].path.endswith("/images/edits") and bodies[1].json["quality"] == "high"
    assert run.items[1]["quality"] == "low"
    record = _run_records.read_record(store.home, run.id)
    assert record["items"][1]["params"]["image"]["sha256"]  # an input image is kept as its digest


def test_the_client_may_be_an_async_client(sim: Any, store: Store) -> None:
    client = nbimages.AsyncClient(api_key="sk-test", base_url=sim.url)
    run = nbimages.generate_many(["a", "b"], client=client, store=store, progress=False).wait(30)
    assert run.errors == {} and len(image_requests(sim)) == 2


def test_never_more_requests_in_flight_than_the_concurrency(sim: Any, store: Store) -> None:
    seen = count_in_flight(sim, hold=0.15)
    run = many(sim, [f"p{i}" for i in range(9)], store, concurrency=3).wait(30)
    assert run.errors == {}
    assert seen["most"] == 3


def test_the_default_concurrency_is_four(sim: Any, store: Store) -> None:
    seen = count_in_flight(sim, hold=0.15)
    many(sim, [f"p{i}" for i in range(10)], store).wait(30)
    assert seen["most"] == 4


def test_a_429_pauses_the_whole_run_for_its_retry_after(sim: Any, store: Store) -> None:
    count_in_flight(sim, hold=0.05)
    sim.simulator.faults.add("status", status=429, retry_after=1, path="/images/generations", times=1)
    started = time.time()
    run = many(sim, [f"p{i}" for i in range(8)], store, concurrency=4).wait(30)
    assert run.errors == {} and run.counts["done"] == 8
    times = sorted(r.time for r in image_requests(sim))
    assert len(times) == 9  # the refused request was made again, once
    first = times[0]
    during_pause = [t for t in times if first + 0.3 < t < first + 0.95]
    assert during_pause == [], [round(t - first, 2) for t in times]
    assert time.time() - started >= 1.0


def test_rate_limit_headers_slow_the_run_before_the_limit(server: Callable[..., Any], store: Store) -> None:
    limited = server(rpm_limit=120, rpm_burst=3)  # 2 requests a second, 3 at once
    started = time.monotonic()
    run = many(limited, [f"p{i}" for i in range(7)], store, concurrency=4).wait(30)
    elapsed = time.monotonic() - started
    assert run.errors == {}
    assert limited.simulator.rate_limited <= 1  # paced by the headers, not by 429s
    assert elapsed >= 1.5  # four more after the burst, at 2 a second


def test_a_rate_limited_run_finishes_every_item(server: Callable[..., Any], store: Store) -> None:
    limited = server(rpm_limit=600, rpm_burst=2)
    run = many(limited, [f"p{i}" for i in range(8)], store, concurrency=4).wait(30)
    assert run.counts["done"] == 8
    assert limited.simulator.rate_limited <= 2


def test_cancel_stops_requests_in_flight_within_a_second(server: Callable[..., Any], store: Store) -> None:
    slow = server(latency=5.0)
    run = many(slow, [f"p{i}" for i in range(6)], store, concurrency=3)
    time.sleep(0.3)
    started = time.monotonic()
    run.cancel()
    run.wait(2)
    assert time.monotonic() - started < 1.0
    assert run.status == "cancelled"
    assert run.images == [None] * 6
    assert len(image_requests(slow)) == 3
    assert _run_records.read_record(store.home, run.id)["status"] == "cancelled"


def test_running_it_again_requests_only_what_is_missing(sim: Any, store: Store) -> None:
    items = nbimages.sweep(prompt=["a boat", "forbidden-content boat", "a kite"], quality=["low", "high"])
    first = many(sim, items, store).wait(30)
    assert first.counts["failed"] == 2 and len(image_requests(sim)) == 6
    second = many(sim, items, store).wait(30)
    assert len(image_requests(sim)) == 8  # the two that failed, asked again
    assert second.counts == {"total": 6, "done": 4, "reused": 4, "failed": 2, "pending": 0}
    assert [i.path if i else None for i in second.images] == [i.path if i else None for i in first.images]


def test_imagine_and_generate_many_share_the_replay_cache(nb: Any) -> None:
    nb.imagine("--quality low --size 1024x1024", "a teapot on a shelf")
    before = len(nb.requests("/images/generations"))
    run = nbimages.generate_many(["a teapot on a shelf"], client=nb.magics.client, store=nb.magics.store,
                                 quality="low", size="1024x1024", progress=False).wait(30)
    assert run.counts["reused"] == 1
    assert len(nb.requests("/images/generations")) == before


# -- before any request ---------------------------------------------------------------------------
def test_max_cost_refuses_before_any_request(sim: Any, store: Store) -> None:
    with pytest.raises(nbimages.InvalidInputError) as caught:
        many(sim, ["a", "b", "c"], store, max_cost=0.01, **PRICED)
    message = str(caught.value)
    assert "max_cost=0.01" in message and "$0.03" in message and "3 requests" in message
    assert sim.simulator.requests == []
    assert not (store.home / "runs").exists()


def test_the_estimate_is_on_the_run_and_max_cost_above_it_starts(sim: Any, store: Store) -> None:
    run = many(sim, ["a", "b"], store, max_cost=1.0, **PRICED).wait(30)
    assert run.estimate is not None and run.estimate.usd == pytest.approx(0.018)
    assert "$0.02" in str(run.estimate)


def test_an_unknown_price_is_said_and_refused_with_max_cost(sim: Any, store: Store) -> None:
    with pytest.raises(nbimages.InvalidInputError, match="no published price"):
        many(sim, ["a"], store, max_cost=5.0)
    assert sim.simulator.requests == []
    run = many(sim, ["a"], store).wait(30)
    assert run.estimate is not None and run.estimate.usd is None
    assert "cost unknown" in str(run.estimate)


def test_a_bad_item_is_refused_before_any_request_naming_it(sim: Any, store: Store) -> None:
    items = ["fine", {"prompt": "also fine"}, {"prompt": "x", "quality": "hgih"}]
    with pytest.raises(nbimages.InvalidInputError, match=r"items\[2\]\.quality"):
        many(sim, items, store)
    with pytest.raises(nbimages.InvalidInputError, match=r"items\[1\]\.prompt"):
        many(sim, ["ok", {"size": "1024x1024"}], store)
    with pytest.raises(nbimages.InvalidInputError, match=r"items\[0\]"):
        many(sim, [42], store)
    with pytest.raises(nbimages.InvalidInputError, match="concurrency"):
        many(sim, ["ok"], store, concurrency=0)
    assert sim.simulator.requests == []


def test_an_unknown_via_is_refused_before_anything(sim: Any, store: Store) -> None:
    with pytest.raises(nbimages.InvalidInputError) as caught:
        many(sim, ["a"], store, via="carrier-pigeon")
    assert caught.value.param == "via" and "'live' or 'batch'" in str(caught.value)
    with pytest.raises(nbimages.NbImagesError):
        many(sim, ["a"], store, via="batches")
    assert sim.simulator.requests == [] and not (store.home / "runs").exists()


def test_a_table_of_records_works_without_pandas(sim: Any, store: Store) -> None:
    class Frame:  # what generate_many reads of a pandas DataFrame
        columns = ("prompt", "quality")

        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [{"prompt": "a", "quality": "low"}, {"prompt": "b", "quality": float("nan")}]

    run = many(sim, Frame(), store).wait(30)
    assert run.errors == {} and run.items[1] == {"prompt": "b"}


# -- records, reattaching ---------------------------------------------------------------------------
def test_the_record_is_written_before_the_first_request(server: Callable[..., Any], store: Store) -> None:
    slow = server(latency=1.0)
    run = many(slow, ["a", "b"], store)
    record = json.loads((store.home / "runs" / f"{run.id}.json").read_text())
    assert record["status"] == "running" and record["via"] == "live"
    assert [i["params"]["prompt"] for i in record["items"]] == ["a", "b"]
    assert "sk-test-many" not in json.dumps(record)
    run.wait(10)
    record = _run_records.read_record(store.home, run.id)
    assert record["status"] == "completed"
    assert all(len(item["images"]) == 1 for item in record["items"])


def test_run_load_in_a_new_process_sees_the_run_and_its_images(sim: Any, store: Store) -> None:
    run = many(sim, ["a pear", "forbidden-content pear"], store).wait(30)
    code = (
        "import json, sys, nbimages\n"
        "run = nbimages.Run.load(sys.argv[1], nbimages.Store(sys.argv[2]))\n"
        "print(json.dumps({'status': run.status, 'counts': run.counts, 'errors': {k: str(v) for k, v in run.errors.items()},"
        " 'paths': [str(i.path) if i else None for i in run.images],"
        " 'ids': [r.id for r in nbimages.runs(nbimages.Store(sys.argv[2]))]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, run.id, str(store.home)], capture_output=True, text=True,
                         check=True, timeout=60)
    seen = json.loads(out.stdout)
    assert seen["status"] == "completed" and seen["counts"]["done"] == 1 and seen["counts"]["failed"] == 1
    assert seen["paths"][0] == str(run.images[0].path) and seen["paths"][1] is None
    assert "moderation_blocked" in seen["errors"]["1"]
    assert seen["ids"] == [run.id]


def test_runs_lists_pending_batches_first_then_the_newest(sim: Any, store: Store) -> None:
    older = many(sim, ["a"], store).wait(30)
    time.sleep(0.01)
    newer = many(sim, ["b"], store).wait(30)
    batch = {"id": "run_20200101-000000-abcdef", "created_ts": 1.0, "via": "batch", "status": "running",
             "batch_id": "batch_1", "items": [{"params": {"prompt": "c"}, "images": [], "error": None}]}
    _run_records.write_record(store.home, batch)
    found = nbimages.runs(store)
    assert [r.id for r in found] == [batch["id"], newer.id, older.id]
    assert found[0].batch_id == "batch_1" and found[1].done == 1
    assert found[1].load().images[0].path == newer.images[0].path


def test_a_live_run_whose_process_ended_loads_as_interrupted(store: Store) -> None:
    record = {"id": "run_20200101-000000-000001", "created_ts": 1.0, "via": "live", "status": "running",
              "pid": 2**22 + 12345, "host": __import__("socket").gethostname(),
              "items": [{"params": {"prompt": "a"}, "images": [], "error": None}]}
    _run_records.write_record(store.home, record)
    run = nbimages.Run.load(record["id"], store)
    assert run.status == "interrupted" and run.counts["pending"] == 1
    assert run.wait(0) is run


def test_load_says_which_runs_exist(store: Store) -> None:
    with pytest.raises(KeyError, match="no run"):
        nbimages.Run.load("run_20200101-000000-ffffff", store)
    with pytest.raises(nbimages.InvalidInputError, match="run_id"):
        nbimages.Run.load("../../etc/passwd", store)


# -- the contact sheet --------------------------------------------------------------------------
def test_two_swept_axes_make_an_xy_grid_with_escaped_labels(sim: Any, store: Store) -> None:
    items = nbimages.sweep(prompt=["a <b>bold</b> cat", "forbidden-content"], quality=["low", "high"])
    run = many(sim, items, store).wait(30)
    data, meta = run._repr_mimebundle_()
    html = data["text/html"]
    assert meta["nbimages"]["kind"] == "run" and meta["nbimages"]["axes"] == ["prompt", "quality"]
    assert "<table" in html and "prompt ↓ · quality →" in html
    assert html.index(">low</th>") < html.index(">high</th>")
    assert "a &lt;b&gt;bold&lt;/b&gt; cat" in html and "<b>bold</b>" not in html
    assert html.count("<img") == 2
    assert html.count("<b>ContentPolicyError</b>") == 2
    assert "2 of 4 done" in data["text/plain"] and "[2] ContentPolicyError" in data["text/plain"]


def test_one_axis_wraps_thumbnails_labelled_by_its_values(sim: Any, store: Store) -> None:
    run = many(sim, nbimages.sweep(prompt="a fern", size=["1024x1024", "1536x1024"]), store).wait(30)
    html = run._repr_mimebundle_()[0]["text/html"]
    assert "<table" not in html and "size=1024x1024" in html and "size=1536x1024" in html
    assert "a fern" not in html.split("<img")[0]  # the prompt is the same everywhere: not a label


def test_the_terminal_shows_a_progress_bar(sim: Any, store: Store, capsys: Any) -> None:
    many(sim, ["a", "b"], store, progress=True).wait(30)
    time.sleep(0.05)
    err = capsys.readouterr().err
    assert "[##############################]" in err and "2 of 2 done" in err and err.endswith("\n")

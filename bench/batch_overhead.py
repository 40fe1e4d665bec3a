"""Batch overhead: what a kernel spends to build, upload and collect a 1,000-item batch.

A fresh interpreter (a stand-in for the kernel) runs ``generate_many([...], via="batch")``
of 1,000 small images (the simulator's 1024x1024 low-quality pictures, ~20 KB each) with
the store in a temporary folder, against ``nbimages serve`` in another process (its batch
pace a few milliseconds a request), up to ``run.wait()``: the JSONL written, uploaded,
the batch polled, its output file downloaded, every image decoded, saved and recorded.

- kernel CPU time (``time.process_time``: every thread of the interpreter) against the
  same 1,000 items made live (``via="live"``): what the batch costs the kernel beyond the
  requests themselves (information: the batch waits, the live run does not);
- memory, in separate runs after a warm-up and a ``gc.collect()`` (tracemalloc slows
  allocation and adds its own RSS): tracemalloc's peak during the run, and the RSS growth,
  against the encoded sizes of the images the run holds (the run keeps every result:
  the floor is 1.0). The JSONL and the output file are streamed: never whole in memory.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from bench._common import Config, Row, clean_env, python, simulator_server

ROWS = (
    "batch_overhead: kernel CPU vs live",
    "batch_overhead: memory (tracemalloc peak)",
    "batch_overhead: memory (RSS)",
)
PROMPT = "a small square tile"
OPTIONS = {"model": "gpt-image-1-mini", "size": "1024x1024", "quality": "low"}


def rss() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def child(url: str, total: int, via: str, trace: bool) -> None:
    """Runs in the fresh interpreter; prints one JSON line."""
    import gc
    import time
    import tracemalloc

    import nbimages
    import nbimages._batch

    nbimages._batch.BatchEngine.poll_interval = 0.1
    client = nbimages.Client(api_key="sk-bench", base_url=url, max_retries=0)
    with tempfile.TemporaryDirectory() as warm:  # imports, the connection, the store's first write
        nbimages.generate_many(["warm up"], via=via, client=client, store=nbimages.Store(warm), progress=False,
                               **OPTIONS).wait()
    store = nbimages.Store(tempfile.mkdtemp())
    gc.collect()
    before = rss()
    if trace:
        tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    run = nbimages.generate_many([PROMPT] * total, via=via, client=client, store=store, progress=False, **OPTIONS)
    run.wait()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.collect()
    current, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
    after = rss()
    images = [img for img in run.images if img is not None]
    assert len(images) == total and not run.errors, run.errors
    print(json.dumps({"encoded": sum(len(img.data) for img in images), "cpu": cpu, "wall": wall,  # type: ignore[union-attr]
                      "rss_delta": after - before, "traced_current": current, "traced_peak": peak,
                      "batches": len(run.batches)}))


def _measure(url: str, total: int, via: str, trace: bool) -> dict:
    with tempfile.TemporaryDirectory() as home:
        code = f"from bench.batch_overhead import child; child({url!r}, {total}, {via!r}, {trace})"
        return json.loads(python(code, clean_env(NBIMAGES_HOME=home)).strip().splitlines()[-1])


def run(config: Config) -> list[Row]:
    total = config.pick(1000, 50)
    pace = ("--batch-start-delay", "0.02", "--batch-seconds-per-request", "0.001")
    with simulator_server(latency=0.0, options=pace) as url:
        traced = _measure(url, total, "batch", True)
        resident = _measure(url, total, "batch", False)
        live = _measure(url, total, "live", False)
    setting = (f"{total} x {OPTIONS['size']} {OPTIONS['quality']}, {traced['encoded'] / total / 1024:.0f} KiB "
               f"per image, {resident['batches']} batch")
    return [
        Row(ROWS[0], resident["cpu"], live["cpu"], "s", None, "info", "live run, same items",
            raw={"batch_cpu": round(resident["cpu"], 3), "batch_wall": round(resident["wall"], 3),
                 "live_cpu": round(live["cpu"], 3), "live_wall": round(live["wall"], 3)}, note=setting),
        Row(ROWS[1], traced["traced_peak"], traced["encoded"], "B", 1.3, "<= 1.3", "encoded results",
            raw={k: traced[k] for k in ("traced_peak", "traced_current", "encoded")}),
        # Information, as in `memory`: RSS also counts the allocator's slack and fixed costs (SQLite's
        # page cache, the HTTP client, thread stacks) that weigh on a total of only ~20 MB.
        Row(ROWS[2], resident["rss_delta"], resident["encoded"], "B", None, "info", "encoded results",
            raw={"rss_delta": resident["rss_delta"], "encoded": resident["encoded"]}),
    ]


if __name__ == "__main__":
    sys.exit("run through `python -m bench --only batch_overhead`")

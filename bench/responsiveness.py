"""Responsiveness: how long a trivial cell takes while background jobs stream into the same kernel.

A real python3 kernel (jupyter_client) talks to ``nbimages serve`` in its own process, which
pauses between partial images as the API does. Four ``%%imagine --no-wait --new`` cells start
four jobs that stream 1024x1024 partial images side by side (each partial decoded, shrunk to
its preview and published from its worker thread); meanwhile a trivial cell is executed again
and again, timed from the execute request to its reply, as a front end sees it. The same cell
is then timed once the jobs have ended: the anchor of the second row.

Rows: the p95 while the jobs stream against a 50 ms budget (a cell that answers within that
feels immediate); and against the same cell in the idle kernel.
"""

from __future__ import annotations

import queue
import statistics
import subprocess
import tempfile
import time
from typing import Any

from bench._common import Config, Row, clean_env, rounded, simulator_server

ROWS = (
    "responsiveness: cell p95 while 4 jobs stream",
    "responsiveness: vs the same cell, jobs ended",
)
BUDGET = 0.050
JOBS = 4
TRIVIAL = "_nbimages_bench = 1 + 1"
PAUSE = 0.02  # between timed cells: the samples spread over the jobs' whole stream


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]


class _Kernel:
    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, stderr=subprocess.DEVNULL)  # its start-up warnings are not results
        self.client = self.manager.blocking_client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.kinds: list[str] = []  # the nbimages kinds of the display messages seen so far

    def execute(self, code: str) -> float:
        """Seconds from the execute request to its reply."""
        start = time.perf_counter()
        msg_id = self.client.execute(code)
        while True:
            reply = self.client.get_shell_msg(timeout=120)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        took = time.perf_counter() - start
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{code.splitlines()[0]!r} failed: {reply['content'].get('evalue')}")
        return took

    def drain(self) -> None:
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=0)
            except queue.Empty:
                return
            meta = (msg["content"].get("metadata") or {}).get("nbimages") or {}
            if msg["msg_type"] in ("display_data", "update_display_data") and meta.get("kind"):
                self.kinds.append("error" if meta.get("error") else meta["kind"])
            if msg["msg_type"] == "error":
                raise RuntimeError(f"the kernel raised {msg['content'].get('ename')}")

    def ended_jobs(self) -> int:
        self.drain()
        return self.kinds.count("final") + self.kinds.count("error")

    def stop(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)


def _measure(url: str, home: str, partials: int, idle_samples: int) -> dict[str, Any]:
    kernel = _Kernel(clean_env(OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench", NBIMAGES_HOME=home))
    try:
        kernel.execute("%load_ext nbimages")
        kernel.execute("%%imagine --size 1024x1024 --partial-images 1\nwarming up: imports and the first request")
        for _ in range(5):
            kernel.execute(TRIVIAL)
        kernel.drain()
        kernel.kinds.clear()
        for i in range(JOBS):
            kernel.execute(f"%%imagine --no-wait --new --fresh --size 1024x1024 --partial-images {partials}\n"
                           f"a lighthouse on a rocky coast, variation {i}")
        busy: list[float] = []
        while kernel.ended_jobs() < JOBS:
            busy.append(kernel.execute(TRIVIAL))
            time.sleep(PAUSE)
        partials_seen = kernel.kinds.count("partial")
        if kernel.kinds.count("final") != JOBS:
            raise RuntimeError(f"not every job made its image: {kernel.kinds}")
        idle = []
        for _ in range(idle_samples):
            idle.append(kernel.execute(TRIVIAL))
            time.sleep(PAUSE)
        return {"busy": busy, "idle": idle, "partials": partials_seen}
    finally:
        kernel.stop()


def run(config: Config) -> list[Row]:
    # Real partials arrive seconds apart; 0.6 s keeps four jobs' partials overlapping in a short run.
    latency, interval, partials = config.pick((1.0, 0.6, 3), (0.3, 0.3, 2))
    with tempfile.TemporaryDirectory() as home, \
            simulator_server(latency=latency, partial_interval=interval, home=home) as url:
        got = _measure(url, home, partials, idle_samples=config.pick(100, 30))
    busy, idle = got["busy"], got["idle"]
    value, anchor = p95(busy), p95(idle)
    raw = {"busy_p95": round(value, 5), "busy_median": round(statistics.median(busy), 5), "busy_max": round(max(busy), 5),
           "idle_p95": round(anchor, 5), "samples": [len(busy), len(idle)], "partials_received": got["partials"],
           "busy": rounded(sorted(busy)[-5:], 5)}
    setting = (f"{JOBS} jobs x {partials} partials of 1024x1024 + final, server latency {latency} s, "
               f"{interval} s between partials; {len(busy)} timed cells while they streamed")
    return [
        Row(ROWS[0], value, BUDGET, "s", 1.0, "≤ 50 ms", "50 ms budget", raw=raw, note=setting),
        Row(ROWS[1], value, anchor, "s", None, "info", "jobs ended", raw={"idle_p95": raw["idle_p95"]}),
    ]

"""Throughput under a rate limit: 200 images through a simulator that allows R requests a minute.

The simulator (an HTTP server in a thread of this process, on a real socket) enforces
``rpm_limit=R`` with a small burst (R/60: one second's worth), as OpenAI may enforce a
per-minute limit over shorter periods; a request over it gets a 429 with ``retry-after``
and the ``x-ratelimit-*`` headers.

- nbimages: ``generate_many`` (the live engine, concurrency 8, one rate gate for the run),
  timed to ``run.wait()``, against the ideal (N - burst) / R; and how many requests it sent per image
  (1.0 = no 429 at all; the target, 1.05, is a 429 share of at most 5 %).
- anchor: ``asyncio.gather`` over ``AsyncOpenAI`` with a semaphore of the same size, the
  SDK retrying each 429 itself, honouring ``retry-after``: its time and its 429s. With the
  SDK's default 2 retries most requests run out of them (three quarters of the images are
  lost in a first trial), so the anchor allows `SDK_RETRIES`, enough to get every image;
  the images it still lost are reported.

All requests use one prompt, so that the simulator serves its cached rendering: what is
measured is the pacing, not the server's drawing.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from typing import Any

from bench._common import Config, Row

ROWS = (
    "throughput: generate_many vs ideal N/R",
    "throughput: requests per image (429s)",
    "throughput: vs AsyncOpenAI same limit",
)
PROMPT = "a paper lantern on a string"
OPTIONS = {"model": "gpt-image-1.5", "size": "1024x1024", "quality": "low"}
CONCURRENCY = 8
SDK_RETRIES = 50


def nbimages_run(url: str, total: int) -> float:
    import nbimages

    with tempfile.TemporaryDirectory() as home, nbimages.Client(api_key="sk-bench", base_url=url) as client:
        start = time.perf_counter()
        run = nbimages.generate_many([PROMPT] * total, client=client, store=nbimages.Store(home),
                                     concurrency=CONCURRENCY, progress=False, **OPTIONS)
        run.wait()
        seconds = time.perf_counter() - start
        if run.errors:
            raise AssertionError(f"{len(run.errors)} items failed: {next(iter(run.errors.values()))}")
        return seconds


async def sdk_gather(url: str, total: int) -> tuple[float, int]:
    """Seconds, and images not received (a request that ran out of retries)."""
    import openai

    async with openai.AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=SDK_RETRIES) as client:
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def one() -> bool:
            async with semaphore:
                try:
                    await client.images.generate(prompt=PROMPT, **OPTIONS)  # type: ignore[arg-type]
                except openai.RateLimitError:
                    return False
                return True

        start = time.perf_counter()
        got = await asyncio.gather(*(one() for _ in range(total)))
        return time.perf_counter() - start, got.count(False)


def measured(rpm: int, burst: int, fn: Any) -> tuple[Any, int, int]:
    """What ``fn(url)`` returns against a fresh rate-limited server, its 429s and its requests."""
    from nbimages.local import start_server

    with start_server(rpm_limit=rpm, rpm_burst=burst) as handle:
        result = fn(handle.url)
        made = [r for r in handle.simulator.requests if r.path.endswith("/images/generations")]
        return result, handle.simulator.rate_limited, len(made)


def run(config: Config) -> list[Row]:
    total, rpm = config.pick((200, 300), (20, 600))
    burst = max(1, rpm // 60)
    # N / R, less the burst the bucket lets through at once: the fastest any client can finish.
    ideal = (total - burst) / rpm * 60
    ours, ours_429, ours_requests = measured(rpm, burst, lambda url: nbimages_run(url, total))
    (sdk, sdk_lost), sdk_429, sdk_requests = measured(rpm, burst, lambda url: asyncio.run(sdk_gather(url, total)))
    setting = f"{total} images, {rpm} requests/min (burst {burst}), concurrency {CONCURRENCY}"
    numbers = {"nbimages_s": round(ours, 3), "ideal_s": ideal, "nbimages_429": ours_429,
               "nbimages_requests": ours_requests, "sdk_s": round(sdk, 3), "sdk_429": sdk_429,
               "sdk_requests": sdk_requests, "sdk_images_lost": sdk_lost}
    return [
        Row(ROWS[0], ours, ideal, "s", 1.1, "<= 1.1", f"({total} - {burst} burst) / {rpm} per min", raw=numbers, note=setting),
        Row(ROWS[1], ours_requests / total, 1.0, "", 1.05, "<= 1.05 (429s <= 5 %)", "one per image",
            raw={"nbimages_429": ours_429, "nbimages_requests": ours_requests}),
        Row(ROWS[2], ours, sdk, "s", None, "info", f"AsyncOpenAI @{CONCURRENCY}",
            raw={"sdk_s": numbers["sdk_s"], "sdk_429": sdk_429, "sdk_requests": sdk_requests,
                 "sdk_images_lost": sdk_lost},
            note=f"the SDK's own retries (up to {SDK_RETRIES}, honouring retry-after); images lost = requests "
                 "out of retries"),
    ]

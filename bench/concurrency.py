"""Concurrency: 32 generations, 8 at a time, against a simulator with a fixed latency.

The simulator runs as ``python -m nbimages serve --latency L`` in its own process, so what
is measured is the client's own cost on top of the server's latency. All requests use the
same prompt, so the simulator serves its cached rendering and encoding (before it cached the
encoded PNG, its encoder alone put the floor at 1.2-1.3x the ideal) and is not the bottleneck; a raw
``httpx.AsyncClient`` posting the same requests (no parsing, no decoding) is measured too,
to show how much of any gap is the server's.

Rows: nbimages' ``AsyncClient`` with an ``asyncio.Semaphore(8)`` against the ideal
(latency x 32/8); against the ``openai`` SDK in a plain sequential loop; and, for fairness,
against ``AsyncOpenAI`` with the same semaphore.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench._common import Config, Row, median, rounded, simulator_server

ROWS = (
    "concurrency: AsyncClient vs ideal",
    "concurrency: vs raw httpx (server floor)",
    "concurrency: vs SDK sequential loop",
    "concurrency: vs AsyncOpenAI same limit",
)
PROMPT = "a lighthouse on a rocky coast at dusk"
OPTIONS = {"size": "1024x1024", "quality": "low"}
MODEL = "gpt-image-1.5"


async def _gather(total: int, limit: int, one: Callable[[], Awaitable[bytes]]) -> float:
    semaphore = asyncio.Semaphore(limit)

    async def guarded() -> bytes:
        async with semaphore:
            return await one()

    start = time.perf_counter()
    results = await asyncio.gather(*(guarded() for _ in range(total)))
    seconds = time.perf_counter() - start
    if not all(r[:8] == b"\x89PNG\r\n\x1a\n" for r in results):
        raise AssertionError("a generation did not return a PNG")
    return seconds


async def nbimages_async(url: str, total: int, limit: int, repeats: int) -> list[float]:
    import nbimages

    async with nbimages.AsyncClient(api_key="sk-bench", base_url=url, max_retries=0) as client:

        async def one() -> bytes:
            images = await client.generate(PROMPT, model=MODEL, **OPTIONS)
            return images[0].data

        await one()  # connect and warm up once
        return [await _gather(total, limit, one) for _ in range(repeats)]


async def sdk_async(url: str, total: int, limit: int, repeats: int) -> list[float]:
    import openai

    async with openai.AsyncOpenAI(api_key="sk-bench", base_url=url, max_retries=0) as client:

        async def one() -> bytes:
            result = await client.images.generate(prompt=PROMPT, model=MODEL, **OPTIONS)  # type: ignore[arg-type]
            return base64.b64decode(result.data[0].b64_json or "")

        await one()
        return [await _gather(total, limit, one) for _ in range(repeats)]


async def raw_async(url: str, total: int, limit: int, repeats: int) -> list[float]:
    import httpx

    body = {"prompt": PROMPT, "model": MODEL, **OPTIONS}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": "Bearer sk-bench"}) as client:

        async def one() -> bytes:
            response = await client.post("/images/generations", json=body)
            response.raise_for_status()
            return b"\x89PNG\r\n\x1a\n"  # not decoded: this is the server's floor

        await one()
        return [await _gather(total, limit, one) for _ in range(repeats)]


def sdk_sequential(url: str, total: int) -> float:
    import openai

    with openai.OpenAI(api_key="sk-bench", base_url=url, max_retries=0) as client:
        client.images.generate(prompt=PROMPT, model=MODEL, **OPTIONS)  # type: ignore[arg-type]
        start = time.perf_counter()
        for _ in range(total):
            result = client.images.generate(prompt=PROMPT, model=MODEL, **OPTIONS)  # type: ignore[arg-type]
            base64.b64decode(result.data[0].b64_json or "")
        return time.perf_counter() - start


def run(config: Config) -> list[Row]:
    # Real generations take 10-60 s; 1 s keeps the run short while what the simulator does per
    # request (one at a time under its GIL, on the same cores as the client) stays small.
    latency = config.pick(1.0, 0.1)
    total, limit = config.pick((32, 8), (8, 4))
    repeats = config.pick(3, 1)
    ideal = latency * total / limit
    with simulator_server(latency=latency) as url:
        ours = asyncio.run(nbimages_async(url, total, limit, repeats))
        raw = asyncio.run(raw_async(url, total, limit, repeats))
        sdk_conc = asyncio.run(sdk_async(url, total, limit, repeats))
        sdk_seq = [sdk_sequential(url, total)]  # ~latency x total: once is enough
    value = median(ours)
    numbers: dict[str, Any] = {
        "nbimages": rounded(ours, 4), "raw_httpx": rounded(raw, 4), "ideal": ideal,
        "sdk_async": rounded(sdk_conc, 4), "sdk_sequential": rounded(sdk_seq, 4),
    }
    setting = f"{total} x {OPTIONS['size']} {OPTIONS['quality']}, latency {latency} s, concurrency {limit}"
    return [
        Row(ROWS[0], value, ideal, "s", 1.2, "<= 1.2", f"latency x {total // limit}", raw=numbers, note=setting),
        Row(ROWS[1], value, median(raw), "s", None, "info", "httpx, no parsing", raw={"raw_httpx": numbers["raw_httpx"]},
            note="what the server alone allows: the gap to the ideal that both share is the server's"),
        Row(ROWS[2], value, median(sdk_seq), "s", None, "info", "SDK sequential", raw={"sdk_sequential": numbers["sdk_sequential"]}),
        Row(ROWS[3], value, median(sdk_conc), "s", None, "info", f"AsyncOpenAI @{limit}", raw={"sdk_async": numbers["sdk_async"]}),
    ]

"""LocalTransport: the offline simulator in-process through httpx (sync and async), with
its pacing, latency and broken connections."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nbimages.local import FaultPlan, LocalTransport, Simulator

from _sim_client import BASE, gen


@pytest.fixture
def transport() -> LocalTransport:
    return LocalTransport()


@pytest.fixture
def client(transport: LocalTransport) -> Iterator[httpx.Client]:
    with httpx.Client(transport=transport, base_url=BASE,
                      headers={"authorization": "Bearer sk-secret-123"}) as c:
        yield c



# ----------------------------------------------------------------------------- basics


def test_import_is_cheap() -> None:
    code = ("import sys, nbimages.local; "
            "bad = [m for m in ('PIL', 'httpx', 'PIL.Image') if m in sys.modules]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_public_api() -> None:
    import nbimages.local as local

    assert sorted(local.__all__) == local.__all__
    for name in local.__all__:
        assert getattr(local, name) is not None
    t = LocalTransport(latency=0.1, partial_interval=0.2)
    assert isinstance(t, httpx.BaseTransport) and isinstance(t, httpx.AsyncBaseTransport)
    assert isinstance(t.simulator, Simulator) and isinstance(t.simulator.faults, FaultPlan)
    sim = Simulator()
    assert LocalTransport(simulator=sim).simulator is sim


def test_url_response_format_in_transport_is_data_url(client: httpx.Client) -> None:
    body = gen(client, response_format="url").json()
    url = body["data"][0]["url"]
    assert url.startswith("data:image/png;base64,") and "b64_json" not in body["data"][0]


# ----------------------------------------------------------------------------- pacing


def test_partials_arrive_spaced_in_time() -> None:
    t = LocalTransport(partial_interval=0.15)
    with httpx.Client(transport=t, base_url=BASE) as c:
        stamps = []
        start = time.monotonic()
        with c.stream("POST", "/images/generations",
                      json={"prompt": "a moon", "stream": True, "partial_images": 2,
                            "size": "256x256"}) as r:
            assert time.monotonic() - start < 0.15  # headers come before the events
            for line in r.iter_lines():
                if line.startswith("data: "):
                    stamps.append(time.monotonic() - start)
    assert len(stamps) == 3
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(g >= 0.13 for g in gaps), gaps


def test_latency_delays_headers() -> None:
    with httpx.Client(transport=LocalTransport(latency=0.2), base_url=BASE) as c:
        start = time.monotonic()
        c.get("/models")
        assert time.monotonic() - start >= 0.19


def test_async_client_streams_spaced() -> None:
    async def main() -> tuple[list[float], dict[str, Any]]:
        t = LocalTransport(partial_interval=0.1)
        async with httpx.AsyncClient(transport=t, base_url=BASE) as c:
            r = await c.post("/images/generations", json={"prompt": "x", "size": "256x256"})
            stamps: list[float] = []
            start = time.monotonic()
            async with c.stream("POST", "/images/generations",
                                json={"prompt": "a star", "stream": True,
                                      "partial_images": 2, "size": "256x256"}) as s:
                async for line in s.aiter_lines():
                    if line.startswith("data: "):
                        stamps.append(time.monotonic() - start)
            return stamps, r.json()

    stamps, body = asyncio.run(main())
    assert body["data"][0]["b64_json"]
    assert len(stamps) == 3 and stamps[2] - stamps[0] >= 0.18


def test_async_concurrent_requests() -> None:
    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=LocalTransport(), base_url=BASE) as c:
            rs = await asyncio.gather(*[c.post("/images/generations",
                                               json={"prompt": f"a circle {i}",
                                                     "size": "256x256"}) for i in range(4)])
            return [r.status_code for r in rs]

    assert asyncio.run(main()) == [200] * 4


# ----------------------------------------------------------------------------- broken connections


def test_fault_drop(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("drop")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        gen(client)
    assert gen(client).status_code == 200
    assert len(transport.simulator.requests) == 2


def test_fault_cut(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("cut", after_events=2)
    received = []
    with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", "/images/generations",
                       json={"prompt": "x", "stream": True, "partial_images": 3,
                             "size": "256x256"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                received.append(json.loads(line[6:])["type"])
    assert received == ["image_generation.partial_image"] * 2
    transport.simulator.faults.add("cut")
    with pytest.raises(httpx.RemoteProtocolError):
        gen(client)  # a non-streamed body cut in half


def test_fault_stall_before_headers(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("stall", seconds=0.3)
    start = time.monotonic()
    assert gen(client).status_code == 200
    assert time.monotonic() - start >= 0.28
    # a stall longer than the client's read timeout ends in a ReadTimeout, capped
    transport.simulator.faults.add("stall", seconds=30)
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        client.post("/images/generations", json={"prompt": "x"}, timeout=0.2)
    assert time.monotonic() - start < 2


def test_fault_stall_mid_stream(client: httpx.Client, transport: LocalTransport) -> None:
    transport.simulator.faults.add("stall", seconds=0.3, at_event=1)
    stamps = []
    start = time.monotonic()
    with client.stream("POST", "/images/generations",
                       json={"prompt": "x", "stream": True, "partial_images": 1,
                             "size": "256x256"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                stamps.append(time.monotonic() - start)
    assert stamps[1] - stamps[0] >= 0.28
    transport.simulator.faults.add("stall", seconds=30, at_event=1)
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout), client.stream("POST", "/images/generations", timeout=0.3,
                       json={"prompt": "x", "stream": True, "partial_images": 1,
                             "size": "256x256"}) as r:
        for _ in r.iter_lines():
            pass
    assert time.monotonic() - start < 3


def test_faults_async_transport() -> None:
    async def main() -> list[str]:
        t = LocalTransport()
        seen = []
        async with httpx.AsyncClient(transport=t, base_url=BASE) as c:
            t.simulator.faults.add("drop")
            try:
                await c.get("/models")
            except httpx.RemoteProtocolError:
                seen.append("drop")
            t.simulator.faults.add("cut", after_events=1)
            try:
                async with c.stream("POST", "/images/generations",
                                    json={"prompt": "x", "stream": True, "partial_images": 2,
                                          "size": "256x256"}) as r:
                    async for _ in r.aiter_lines():
                        pass
            except httpx.RemoteProtocolError:
                seen.append("cut")
            t.simulator.faults.add("stall", seconds=30)
            try:
                await c.get("/models", timeout=0.2)
            except httpx.ReadTimeout:
                seen.append("stall")
        return seen

    assert asyncio.run(main()) == ["drop", "cut", "stall"]

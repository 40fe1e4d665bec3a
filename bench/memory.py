"""Memory: what a kernel holds for a conversation of 50 images, against their encoded size.

A fresh interpreter (a stand-in for the kernel) runs a `Conversation` of streamed turns
(the ``%%imagine --continue`` path: ``send(..., stream=True)``, two partial images each)
against ``nbimages serve`` in another process, with the store in a temporary folder. After a
warm-up turn in a throw-away conversation, memory is measured before and after the 50
turns, with a ``gc.collect()`` on each side, in two separate runs (tracemalloc slows
allocation and adds its own RSS):

- tracemalloc: Python-allocated memory still live (current) and at the worst moment (peak);
- RSS: the process's resident set growth (what the OS sees; allocator slack included).

The anchor is the sum of the encoded sizes of the images the conversation holds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from bench._common import Config, Row, clean_env, python, simulator_server

ROWS = ("memory: conversation (tracemalloc)", "memory: conversation (RSS)")
PROMPTS = ("a quiet harbour at dawn", "now add a red boat", "add gulls in the sky", "make it stormy",
           "add a lighthouse", "add a cat on the pier", "make it night with a full moon")


def rss() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def child(url: str, turns: int, size: str, trace: bool) -> None:
    """Runs in the fresh interpreter; prints one JSON line."""
    import gc
    import tracemalloc

    import nbimages
    from nbimages.conversation import Conversation

    client = nbimages.Client(api_key="sk-bench", base_url=url, max_retries=0)
    options = {"size": size, "quality": "low"}
    warm = Conversation(client)
    warm.send("warm up", stream=True, **options).until_done()
    store = type(warm.store).__name__ if warm.store is not None else "none"
    del warm
    conv = Conversation(client)
    gc.collect()
    before = rss()
    if trace:
        tracemalloc.start()
    for i in range(turns):
        conv.send(PROMPTS[i % len(PROMPTS)], stream=True, **options).until_done()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
    after = rss()
    images = [img for turn in conv.all_turns for img in turn.images]
    assert len(images) == turns, f"expected {turns} images, the conversation holds {len(images)}"
    assert all(img.width == int(size.split("x")[0]) for img in images)
    print(json.dumps({
        "encoded": sum(len(img.data) for img in images), "images": len(images), "rss_delta": after - before,
        "traced_current": current, "traced_peak": peak, "store": store,
    }))


def _measure(url: str, home: str, turns: int, size: str, trace: bool) -> dict:
    code = f"from bench.memory import child; child({url!r}, {turns}, {size!r}, {trace})"
    return json.loads(python(code, clean_env(NBIMAGES_HOME=home)).strip().splitlines()[-1])


def run(config: Config) -> list[Row]:
    turns = config.pick(50, 5)
    size = "1024x1024"
    with tempfile.TemporaryDirectory() as home, simulator_server(latency=0.0, home=home) as url:
        traced = _measure(url, home, turns, size, trace=True)
        resident = _measure(url, home, turns, size, trace=False)
    encoded = traced["encoded"]
    per_image = encoded / traced["images"]
    note = f"{turns} streamed turns of {size}, {per_image / 1024:.0f} KiB per image, store: {traced['store']}"
    return [
        Row(ROWS[0], traced["traced_current"], encoded, "B", 1.3, "<= 1.3", "encoded sizes",
            raw={"traced_current": traced["traced_current"], "traced_peak": traced["traced_peak"], "encoded": encoded},
            note=note),
        Row(ROWS[1], resident["rss_delta"], resident["encoded"], "B", 1.3, "<= 1.3", "encoded sizes",
            raw={"rss_delta": resident["rss_delta"], "encoded": resident["encoded"]}),
    ]


if __name__ == "__main__":
    sys.exit("run through `python -m bench --only memory`")

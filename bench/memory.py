"""Memory: what a kernel holds for a conversation of 50 images, against their encoded size.

A fresh interpreter (a stand-in for the kernel) runs a `Conversation` of 50 streamed turns
with the store in a temporary folder, against a server in another process:

- API-sized images (the rows with targets): ``generate(..., stream=True)`` against
  ``bench._sse_server``, three 1024x1024 partial PNGs and a 2 MB final PNG per turn (what
  the API sends), so a leaked partial or a kept copy of the stream would show;
- the offline simulator (for information): the ``%%imagine --continue`` path,
  ``send(..., stream=True)`` with two partials, against ``nbimages serve``; its flat images
  are ~35 KB, so the per-turn bookkeeping weighs more.

After a warm-up turn in a throw-away conversation, memory is measured before and after the
turns, with a ``gc.collect()`` on each side, in separate runs (tracemalloc slows allocation
and adds its own RSS):

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
from bench._kernel import sse_server

ROWS = ("memory: conversation (tracemalloc)", "memory: conversation (RSS)",
        "memory: simulator images (tracemalloc)")
PROMPTS = ("a quiet harbour at dawn", "now add a red boat", "add gulls in the sky", "make it stormy",
           "add a lighthouse", "add a cat on the pier", "make it night with a full moon")


def rss() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def child(url: str, turns: int, size: str, trace: bool, method: str = "send") -> None:
    """Runs in the fresh interpreter; prints one JSON line."""
    import gc
    import tracemalloc

    import nbimages
    from nbimages.conversation import Conversation

    client = nbimages.Client(api_key="sk-bench", base_url=url, max_retries=0)
    options = {"size": size, "quality": "low" if method == "send" else "high",
               "partial_images": 2 if method == "send" else 3}
    warm = Conversation(client)
    getattr(warm, method)("warm up", stream=True, **options).until_done()
    store = type(warm.store).__name__ if warm.store is not None else "none"
    del warm
    conv = Conversation(client)
    gc.collect()
    before = rss()
    if trace:
        tracemalloc.start()
    for i in range(turns):
        getattr(conv, method)(f"{PROMPTS[i % len(PROMPTS)]} ({i})", stream=True, **options).until_done()
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


def _measure(url: str, home: str, turns: int, size: str, trace: bool, method: str, **env: str) -> dict:
    code = f"from bench.memory import child; child({url!r}, {turns}, {size!r}, {trace}, {method!r})"
    return json.loads(python(code, clean_env(NBIMAGES_HOME=home, **env)).strip().splitlines()[-1])


def run(config: Config) -> list[Row]:
    turns = config.pick(50, 5)
    size = "1024x1024"
    with tempfile.TemporaryDirectory() as home, sse_server(1024, 1024, pause=0.0) as url:
        env = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-bench"}
        traced = _measure(url, home, turns, size, True, "generate", **env)
        resident = _measure(url, home, turns, size, False, "generate", **env)
    with tempfile.TemporaryDirectory() as home, simulator_server(latency=0.0, home=home) as url:
        local = _measure(url, home, turns, size, True, "send")

    def note(result: dict, what: str) -> str:
        per_image = result["encoded"] / result["images"]
        return f"{turns} streamed turns, {what} of {size}, {per_image / 1024:.0f} KiB per image, store: {result['store']}"

    return [
        Row(ROWS[0], traced["traced_current"], traced["encoded"], "B", 1.3, "<= 1.3", "encoded sizes",
            raw={k: traced[k] for k in ("traced_current", "traced_peak", "encoded")},
            note=note(traced, "API-sized PNGs")),
        Row(ROWS[1], resident["rss_delta"], resident["encoded"], "B", 1.3, "<= 1.3", "encoded sizes",
            raw={"rss_delta": resident["rss_delta"], "encoded": resident["encoded"]}),
        Row(ROWS[2], local["traced_current"], local["encoded"], "B", None, "info", "encoded sizes",
            raw={k: local[k] for k in ("traced_current", "traced_peak", "encoded")},
            note=note(local, "simulator images (Responses API)")),
    ]


if __name__ == "__main__":
    sys.exit("run through `python -m bench --only memory`")

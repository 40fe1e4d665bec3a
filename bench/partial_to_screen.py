"""Partial to screen: from a partial image's last byte on the socket to the update leaving the kernel.

A recorded stream (three 1024x1024 partial PNGs, then the final image) is served over a
real socket by ``bench._sse_server``, which notes when it handed each event's last byte to
the socket (``perf_counter``, the same monotonic clock in every process on Linux). A fresh
interpreter then, against that server:

- runs ``%%imagine`` in a real IPython shell whose display publisher serializes every
  update as ipykernel would (`bench._kernel`): the time is when the ``update_display_data``
  carrying partial *k* is ready for the socket;
- drives a `Studio` (``generate`` then ``wait``) whose comm serializes its messages the same
  way: the time is when the binary ``image`` message carrying partial *k* is ready;
- iterates ``Client.generate(stream=True)`` alone: when the `PartialImage` is in hand (the
  part of both numbers that is the transport and the decoding, reported, not a row);
- reads the same stream with ``http.client`` and decodes each event with ``json.loads`` and
  ``base64.b64decode``: the floor any Python client pays for the same bytes (reported too).

The server pauses between events, so every partial is measured on its own, not queued
behind the previous one. The anchor is the 10 ms budget itself.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from typing import Any

from bench._common import Config, Row, clean_env, median, python, rounded
from bench._kernel import sse_server

ROWS = ("partial to screen: %%imagine display", "partial to screen: Studio message")
SIZE = (1024, 1024)
PAUSE = 0.15  # between events: each partial is handled before the next arrives
BUDGET = 0.010
PROMPT = "a red panda chef in a busy kitchen"


def _is_partial_display(sent: Any) -> int | None:
    meta = sent.content.get("metadata", {}).get("nbimages", {})
    return meta.get("index") if meta.get("kind") == "partial" else None


def _is_partial_message(sent: Any) -> int | None:
    data = sent.content.get("data", {})
    body = data.get("content") if data.get("method") == "custom" else None
    if isinstance(body, dict) and body.get("type") == "image" and body.get("final") is False:
        return body.get("index")
    return None


def child(url: str, runs: int) -> None:
    """Runs in a fresh interpreter: prints {"magic": [...], "studio": [...], ...} as one JSON line."""
    from IPython.core.interactiveshell import InteractiveShell

    import nbimages

    from bench._kernel import install_comm_recorder, install_display_recorder, marks

    size = f"{SIZE[0]}x{SIZE[1]}"
    shell = InteractiveShell.instance()
    displays = install_display_recorder(shell)
    shell.run_line_magic("load_ext", "nbimages")
    wires = install_comm_recorder()

    seen: dict[str, list[list[tuple[int, float]]]] = {"magic": [], "studio": [], "client": [], "floor": []}
    for run in range(runs):
        start = len(displays.sent)
        shell.run_cell_magic("imagine", f"--size {size} --quality high --partial-images 3 --fresh",
                             f"{PROMPT}, take {run}")
        sent = displays.sent[start:]
        kinds = [s.content.get("metadata", {}).get("nbimages", {}).get("kind") for s in sent]
        if kinds[-1:] != ["final"]:
            raise AssertionError(f"%%imagine did not finish with the final image: {kinds} {sent[-1].content['data']}")
        seen["magic"].append([(i, s.at) for s in sent if (i := _is_partial_display(s)) is not None])

    try:
        from nbimages.widgets.studio import Studio

        studio = Studio(client=nbimages.Client(max_retries=0))
        studio.size, studio.quality, studio.partial_images = size, "high", 3
        path = "Studio"
    except Exception as exc:  # the Studio is optional here: fall back to its wire format
        studio, path = None, f"_wire.send_image (Studio unavailable: {type(exc).__name__}: {exc})"
    for run in range(runs):
        start = len(wires.sent)
        if studio is not None:
            studio.generate(f"{PROMPT}, studio take {run}")
            studio.wait(120)
            if studio.last_error is not None:
                raise AssertionError(f"Studio failed: {studio.last_error!r}")
        else:
            _send_without_studio(f"{PROMPT}, wire take {run}")
        seen["studio"].append([(i, s.at) for s in wires.sent[start:] if (i := _is_partial_message(s)) is not None])

    client = nbimages.Client(max_retries=0)
    for run in range(runs):
        got = []
        for event in client.generate(f"{PROMPT}, client take {run}", size=size, quality="high",
                                     partial_images=3, stream=True):
            if isinstance(event, nbimages.PartialImage):
                got.append((event.index, time.perf_counter()))
        seen["client"].append(got)

    seen["floor"] += [_floor_pass(url, f"{PROMPT}, floor take {run}") for run in range(runs)]

    served = marks(url)
    out: dict[str, Any] = {"path": path}
    order = ["magic", "studio", "client", "floor"]  # the order the server saw the requests in
    for n, name in enumerate(order):
        latencies = []
        for run, events in enumerate(seen[name]):
            if sorted(i for i, _ in events) != [0, 1, 2]:
                raise AssertionError(f"{name}: expected partials 0, 1, 2 in run {run}, got {events}")
            sent_at = served[n * runs + run]
            latencies += [at - sent_at[index] for index, at in events]
        out[name] = latencies
    print(json.dumps(out))


def _floor_pass(url: str, prompt: str) -> list[tuple[int, float]]:
    """The stream read with the standard library: one line per event, json.loads, b64decode."""
    import base64
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port)
    body = json.dumps({"prompt": prompt, "size": f"{SIZE[0]}x{SIZE[1]}", "partial_images": 3, "stream": True})
    conn.request("POST", f"{where.path}/images/generations", body=body, headers={"Content-Type": "application/json"})
    got = []
    with conn.getresponse() as response:
        for line in response:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                base64.b64decode(event["b64_json"])
                if "partial_image_index" in event:
                    got.append((event["partial_image_index"], time.perf_counter()))
    conn.close()
    return got


def _send_without_studio(prompt: str) -> None:
    import ipywidgets

    import nbimages
    from nbimages.widgets._wire import preview_bytes, send_image

    widget = ipywidgets.Widget()
    for event in nbimages.Client(max_retries=0).generate(prompt, size=f"{SIZE[0]}x{SIZE[1]}", quality="high",
                                                         partial_images=3, stream=True):
        if isinstance(event, nbimages.PartialImage):
            data, mime = preview_bytes(event.image)
            send_image(widget, "preview", data, mime, final=False, index=event.index)


def run(config: Config) -> list[Row]:
    runs = config.pick(5, 1)
    with tempfile.TemporaryDirectory() as home, sse_server(*SIZE, pause=PAUSE) as url:
        env = clean_env(NBIMAGES_HOME=home, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
        code = f"from bench.partial_to_screen import child; child({url!r}, {runs})"
        result = json.loads(python(code, env, timeout=600).strip().splitlines()[-1])
    transport, floor = result["client"], result["floor"]

    def row(name: str, key: str, note: str) -> Row:
        values = result[key]
        return Row(
            name, median(values), BUDGET, "s", 1.0, "< 10 ms", "10 ms budget",
            raw={key: rounded(values), "max": round(max(values), 6),
                 "stdev": round(statistics.pstdev(values), 6), "event_in_hand": rounded(transport),
                 "floor_in_hand": rounded(floor)},
            note=note + f"; of which the event in hand: nbimages {median(transport) * 1000:.1f} ms, "
                        f"stdlib floor {median(floor) * 1000:.1f} ms",
        )

    parts = f"{len(result['magic'])} partials of {SIZE[0]}x{SIZE[1]}"
    return [
        row(ROWS[0], "magic", f"{parts}, real IPython shell, update_display_data serialized"),
        row(ROWS[1], "studio", f"{parts}, via {result['path']}, comm message serialized"),
    ]

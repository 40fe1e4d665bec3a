"""Widget wire: the bytes a `Studio` puts on its comm per partial image, against the image itself.

A fresh interpreter drives a `Studio` against the recorded stream (three 1024x1024 partial
PNGs of 1.2-1.8 MB and a final image, served over a real socket by ``bench._sse_server``).
Its comm serializes every message as ipykernel does (`bench._kernel`: signed JSON frames
plus binary buffers). A partial image costs the binary ``image`` message that carries it
and every other message sent before the next image (the status line's state update): all
of it is counted, frames and buffers. The anchor is the size of the partial image as the
API sent it (decoded from base64). The final image is reported the same way, with what
follows it (history, thumbnail, caption), for information.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from bench._common import Config, Row, clean_env, python
from bench._kernel import sse_server

ROWS = ("widget wire: per partial image", "widget wire: per final image")
SIZE = (1024, 1024)


def child(runs: int) -> None:
    """Runs in a fresh interpreter: prints the per-image wire bytes as one JSON line."""
    import nbimages
    from nbimages.widgets.studio import Studio

    from bench._kernel import install_comm_recorder

    wires = install_comm_recorder()
    studio = Studio(client=nbimages.Client(max_retries=0))
    studio.size, studio.quality, studio.partial_images = f"{SIZE[0]}x{SIZE[1]}", "high", 3
    partials: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    for run in range(runs):
        start = len(wires.sent)
        studio.generate(f"a red panda chef in a busy kitchen, take {run}")
        studio.wait(120)
        if studio.last_error is not None:
            raise AssertionError(f"Studio failed: {studio.last_error!r}")
        sent = wires.sent[start:]
        images = [n for n, s in enumerate(sent) if s.content.get("data", {}).get("method") == "custom"
                  and s.content["data"]["content"].get("type") == "image"]
        shown = studio.partials  # in the order they arrived: partial k is shown[k]
        for k, n in enumerate(images):
            body = sent[n].content["data"]["content"]
            if body.get("parts", 1) != 1:
                raise AssertionError("an image was split into parts: count them together")
            end = images[k + 1] if k + 1 < len(images) else len(sent)
            wire = sum(s.wire_bytes for s in sent[n:end])
            if body["final"]:
                image = studio.image
                assert image is not None
                finals.append({"wire": wire, "image": image.nbytes, "messages": end - n,
                               "image_message": sent[n].wire_bytes})
            else:
                image = shown[body["index"]]
                if sent[n].buffer_bytes != image.nbytes:
                    raise AssertionError(f"partial {body['index']} went out as {sent[n].buffer_bytes} bytes, "
                                         f"the image has {image.nbytes}: it was re-encoded")
                partials.append({"wire": wire, "image": image.nbytes, "messages": end - n,
                                 "image_message": sent[n].wire_bytes})
        if len(partials) != 3 * (run + 1) or len(finals) != run + 1:
            raise AssertionError(f"expected 3 partial messages and a final one per run, got {len(partials)}, {len(finals)}")
    print(json.dumps({"partials": partials, "finals": finals}))


def run(config: Config) -> list[Row]:
    runs = config.pick(3, 1)
    with tempfile.TemporaryDirectory() as home, sse_server(*SIZE, pause=0.0) as url:
        env = clean_env(NBIMAGES_HOME=home, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-bench")
        code = f"from bench.widget_wire import child; child({runs})"
        result = json.loads(python(code, env, timeout=600).strip().splitlines()[-1])

    def row(name: str, items: list[dict[str, Any]], target: float | None, target_text: str, what: str) -> Row:
        wire, image = sum(i["wire"] for i in items), sum(i["image"] for i in items)
        overhead = [i["wire"] - i["image"] for i in items]
        return Row(
            name, wire / len(items), image / len(items), "B", target, target_text, "the image's own bytes",
            raw={"wire": [i["wire"] for i in items], "image": [i["image"] for i in items],
                 "overhead": overhead, "messages": [i["messages"] for i in items]},
            note=f"{len(items)} {what}; {min(overhead)}-{max(overhead)} bytes of JSON frames per image",
        )

    return [
        row(ROWS[0], result["partials"], 1.05, "<= 1.05", "partial images of 1024x1024 (image + status messages)"),
        row(ROWS[1], result["finals"], None, "info", "final images (image, history, thumbnail, caption)"),
    ]

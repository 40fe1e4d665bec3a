"""Page-side helpers for the nbimages widgets: `data-nbimages` hooks, a preview recorder,
canvas coordinates, and the kernel websocket frames carrying images."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from _lab import ws_parts


def hook(name: str, within: str = "") -> str:
    """CSS selector of the element a widget view tags with ``data-nbimages="name"``."""
    inner = f'[data-nbimages="{name}"]'
    return f'[data-nbimages="{within}"] {inner}' if within else inner


# Records every image the Studio preview puts on screen, in order, with its size once decoded.
WATCH_PREVIEW = """(selector) => {
  const img = document.querySelector(selector);
  window.__nbiPreviews = [];
  const record = () => {
    const seq = Number(img.dataset.seq || 0);
    const list = window.__nbiPreviews;
    if (seq === 0 || (list.length && list[list.length - 1].seq === seq)) return;
    list.push({ seq, kind: img.dataset.kind, index: img.dataset.index ?? '',
                naturalWidth: img.naturalWidth, complete: img.complete, t: performance.now() });
  };
  new MutationObserver(record).observe(img, { attributes: true, attributeFilter: ['data-seq', 'data-kind'] });
}"""


def watch_preview(page: Any) -> None:
    page.wait_for_selector(hook("preview"), state="attached")
    page.evaluate(WATCH_PREVIEW, hook("preview"))


def previews(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("() => window.__nbiPreviews"))


def wait_final(page: Any, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until ``count`` final images were recorded since `watch_preview`; return the records."""
    page.wait_for_function(
        "(n) => window.__nbiPreviews.filter((p) => p.kind === 'final').length >= n",
        arg=count, timeout=timeout * 1000, polling=50,
    )
    return previews(page)


def slow_studio_cell(partial_interval: float, partial_images: int = 2) -> str:
    """A cell making ``studio``: a Studio whose simulator waits ``partial_interval`` seconds
    before each partial image, so that a key or a click surely lands while a run streams."""
    return f"""
import httpx
from nbimages import Client
from nbimages.local import LocalTransport
from nbimages.widgets import Studio
transport = LocalTransport(latency=0.2, partial_interval={partial_interval})
slow = Client(base_url="http://simulator.test/v1", http_client=httpx.Client(transport=transport))
studio = Studio(client=slow)
studio.partial_images = {partial_images}
studio
"""


def generate_in_kernel(nb: Any, code: str) -> list[dict[str, Any]]:
    """Run ``code`` (a ``studio.generate(...)``) in the kernel; wait for the final image on
    screen and the Studio idle; return the previews shown."""
    watch_preview(nb.page)
    nb.execute(code)
    shown = wait_final(nb.page)
    nb.wait_value("not studio.busy")
    return shown


PAINTER_SIZE = (1536, 1024)


def painter_cell(brush: int) -> str:
    """A cell making a MaskPainter over a 1536x1024 photo, with ``alpha_at(points)`` to read its mask."""
    width, height = PAINTER_SIZE
    return f"""
import numpy as np
from nbimages import Client
from nbimages.widgets import MaskPainter
with Client() as c:
    photo = c.generate("a sunflower field under a blue sky", size="{width}x{height}")[0]
painter = MaskPainter(photo, brush_size={brush})

def alpha_at(points):
    alpha = np.asarray(painter.mask.to_pil().convert("RGBA"))[..., 3]
    return [int(alpha[y, x]) for x, y in points]

painter
"""


def canvas_point(box: dict[str, float], size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) on a canvas of ``size`` shown in ``box``."""
    width, height = size
    return box["x"] + x * box["width"] / width, box["y"] + y * box["height"] / height


def stroke(page: Any, points: list[tuple[float, float]], steps: int = 8) -> None:
    """A left-button drag through ``points`` (page coordinates), as a hand would do it."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=steps)
    page.mouse.up()


@dataclass
class ImageFrame:
    """One websocket frame carrying an image message of a widget."""

    frame_bytes: int
    buffer_bytes: int
    data: dict[str, Any]


def image_frames(frames: list[bytes | str], slot: str) -> list[ImageFrame]:
    """Comm messages ``{"type": "image", "slot": slot}`` among received kernel websocket frames."""
    found = []
    for payload in frames:
        parts = ws_parts(payload)
        if parts is None or parts[0] != "iopub" or len(parts[1]) < 5:
            continue
        header, content = json.loads(parts[1][0]), parts[1][3]
        if header.get("msg_type") != "comm_msg":
            continue
        data = json.loads(content).get("data", {})
        if data.get("method") == "custom":
            data = data.get("content", {})
        if data.get("type") == "image" and data.get("slot") == slot:
            found.append(ImageFrame(len(payload), sum(len(b) for b in parts[1][4:]), data))
    return found

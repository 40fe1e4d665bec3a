"""The harness itself, with a tiny widget defined in the notebook: every kernel-side update of a
binary trait reaches the page in order, page clicks reach the kernel, frames can be read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from _lab import record_frames, ws_parts

pytestmark = pytest.mark.browser

TINY_WIDGET = '''
import anywidget, traitlets, io
from PIL import Image as PIL

class Tiny(anywidget.AnyWidget):
    _esm = """
    export default { render({ model, el }) {
      const img = document.createElement('img');
      img.dataset.probe = 'img';
      const button = document.createElement('button');
      button.dataset.probe = 'button';
      button.textContent = 'click';
      button.onclick = () => { model.set('clicks', model.get('clicks') + 1); model.save_changes(); };
      const show = () => {
        const v = model.get('png');
        if (!v || v.byteLength === 0) return;
        const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        img.onload = () => { img.dataset.seq = String(model.get('seq')); };
        img.src = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
      };
      model.on('change:png', show); show();
      el.append(img, button);
    } };
    """
    png = traitlets.Bytes(b"").tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)
    clicks = traitlets.Int(0).tag(sync=True)

def png(color, size=(96, 64)):
    buffer = io.BytesIO()
    PIL.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()

tiny = Tiny()
tiny
'''


def test_tiny_widget_round_trip(notebook: Any, shot: Any) -> None:
    frames: list[bytes | str] = []
    with notebook([TINY_WIDGET], before_goto=record_frames(frames)) as nb:
        page = nb.page
        page.wait_for_selector("img[data-probe=img]", state="attached")
        page.evaluate("""() => {
            window.__seen = [];
            const img = document.querySelector('img[data-probe=img]');
            new MutationObserver(() => window.__seen.push(img.dataset.seq))
              .observe(img, { attributes: true, attributeFilter: ['data-seq'] });
        }""")
        nb.execute("import time\nfor i, c in enumerate(['red', 'green', 'blue'], 1):\n"
                   "    tiny.seq = i; tiny.png = png(c); time.sleep(0.15)")
        page.wait_for_function("() => window.__seen.length >= 3 && window.__seen.at(-1) === '3'")
        assert page.evaluate("() => window.__seen") == ["1", "2", "3"]
        assert page.evaluate("() => document.querySelector('img[data-probe=img]').naturalWidth") == 96
        page.click("button[data-probe=button]")
        page.click("button[data-probe=button]")
        assert nb.wait_value("tiny.clicks == 2 and tiny.clicks") == 2
        shot(page)

    # The Bytes trait arrives as a binary buffer of a comm_msg in a v1 websocket frame.
    buffers = []
    for payload in frames:
        parts = ws_parts(payload)
        if parts and parts[0] == "iopub" and len(parts[1]) > 4:
            header = json.loads(parts[1][0])
            if header["msg_type"] == "comm_msg":
                buffers.extend(parts[1][4:])
    assert any(b.startswith(b"\x89PNG") for b in buffers)

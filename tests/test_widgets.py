"""Widgets driven through their message handlers, with the real simulator behind them.

A test plays the view: it sends the custom messages the ES module sends
(``{"action": ...}`` plus binary buffers) and state updates, through ipywidgets' own
``_handle_msg``; everything the kernel sends back is captured by wrapping ``_send``.
The browser side is covered by tests/browser/.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

import nbimages
from nbimages.local import LocalTransport

pytest.importorskip("anywidget")

from nbimages.widgets import (
    Gallery,
    MaskPainter,
    Studio,
    _wire,
)

SENTINEL = "sk-SENTINEL-0123456789abcdefSECRET"
FIVE_MB = 5 * 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


# -- playing the view ------------------------------------------------------------------------
class Wire:
    """Everything a widget sends: state updates and custom messages, with their buffers."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        self.on_custom: Any = None
        self._lock = threading.Lock()
        original = widget._send

        def capture(msg: dict[str, Any], buffers: list[Any] | None = None) -> None:
            data = [bytes(b) for b in buffers or []]
            with self._lock:
                self.messages.append((msg, data))
            if msg.get("method") == "custom" and self.on_custom is not None:
                self.on_custom(msg["content"], data)
            original(msg, buffers)

        widget._send = capture

    def custom(self, **match: Any) -> list[tuple[dict[str, Any], list[bytes]]]:
        with self._lock:
            found = [(m["content"], b) for m, b in self.messages if m.get("method") == "custom"]
        return [(c, b) for c, b in found if all(c.get(k) == v for k, v in match.items())]

    def updates(self) -> list[tuple[dict[str, Any], list[bytes]]]:
        with self._lock:
            return [(m, b) for m, b in self.messages if m.get("method") == "update"]

    @staticmethod
    def size(msg: dict[str, Any], buffers: list[bytes]) -> int:
        return len(json.dumps(msg, default=str)) + sum(len(b) for b in buffers)

    def sizes(self) -> list[int]:
        with self._lock:
            return [self.size(m, b) for m, b in self.messages]


def view_sends(widget: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    """A custom message from the view, through ipywidgets' message handling."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []})


def view_sets(widget: Any, **state: Any) -> None:
    """A state change made in the view (a pager click, a slider)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def png_bytes(pil: Any) -> bytes:
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture
def secret_transport() -> LocalTransport:
    return LocalTransport(latency=0, partial_interval=0)


@pytest.fixture
def secret_client(secret_transport: LocalTransport) -> Iterator[nbimages.Client]:
    """A client holding a sentinel API key, talking to the in-process simulator."""
    http = httpx.Client(transport=secret_transport, base_url="http://simulator.test/v1")
    with nbimages.Client(api_key=SENTINEL, http_client=http) as client:
        yield client
    http.close()


@pytest.fixture
def studio(secret_client: nbimages.Client) -> Iterator[Studio]:
    widget = Studio(client=secret_client)
    yield widget
    widget.cancel()
    widget.wait(5)
    widget.close()


@pytest.fixture
def picture(client: nbimages.Client) -> nbimages.Image:
    return client.generate("a forest lake", size="1536x1024", quality="low")[0]


# -- Studio ------------------------------------------------------------------------------------
def test_partials_travel_as_binary_messages_with_their_own_bytes(studio: Studio) -> None:
    wire = Wire(studio)
    view_sends(studio, {"action": "generate", "prompt": "a red panda chef"})
    turn = studio.wait(10)

    assert turn is not None and studio.error == ""
    previews = wire.custom(type="image", slot="preview")
    kinds = [(c["final"], c["index"]) for c, _ in previews]
    assert kinds == [(False, 0), (False, 1), (True, None)]
    assert len(studio.partials) == 2
    for (content, buffers), partial in zip(previews, studio.partials):
        assert buffers == [partial.data]  # the partial's own bytes, not re-encoded
        assert content["mime"] == "image/png" and content["total"] == 2
        ratio = Wire.size({"method": "custom", "content": content}, buffers) / partial.nbytes
        assert ratio < 1.03, ratio
    assert previews[-1][1] == [studio.image.data]
    # no image ever travels in synced state: only the small thumbnail may
    updates = wire.updates()
    assert updates
    for msg, buffers in updates:
        assert all(path == ["thumbnail"] for path in msg.get("buffer_paths", []))
        assert sum(map(len, buffers)) < min(32_000, studio.partials[0].nbytes)


def test_state_holds_only_a_small_thumbnail(studio: Studio) -> None:
    studio.generate("a red panda chef")
    studio.wait(10)

    from PIL import Image as PIL

    with PIL.open(io.BytesIO(studio.thumbnail)) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= 256
    state = studio.get_state()
    byte_traits = {k for k, v in state.items() if isinstance(v, (bytes, memoryview))}
    assert byte_traits == {"thumbnail"}
    assert len(studio.thumbnail) < min(32_000, studio.image.nbytes // 4)
    text = json.dumps({k: v for k, v in state.items() if k not in byte_traits | {"_esm", "_css"}})
    assert len(text) < 8_000


def test_image_is_stored_before_it_is_shown(studio: Studio) -> None:
    store = studio.conversation.store
    assert store is not None
    counts: list[int] = []
    wire = Wire(studio)
    wire.on_custom = lambda content, _: content.get("final") and counts.append(store.count())
    studio.generate("a lighthouse at dusk")
    studio.wait(10)

    assert counts == [1]  # on disk and indexed when the final preview went out
    assert studio.image is not None and studio.image.path is not None and studio.image.path.is_file()
    assert store.list()[0].id in studio.image.path.name


def test_no_message_above_five_megabytes_and_large_previews_are_downscaled() -> None:
    import os

    from PIL import Image as PIL

    noise = PIL.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    big = nbimages.Image(png_bytes(noise))
    assert big.nbytes > FIVE_MB  # a preview sent as is would break the limit

    data, mime = _wire.preview_bytes(big)
    assert mime == "image/webp" and len(data) < big.nbytes  # never re-encoded upward
    with PIL.open(io.BytesIO(data)) as shown:
        assert max(shown.size) <= _wire.PREVIEW_MAX_SIDE

    class Sink:
        sent: ClassVar[list[tuple[dict[str, Any], list[Any]]]] = []

        def send(self, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
            self.sent.append((content, list(buffers or [])))

    sink = Sink()
    _wire.send_image(sink, "raw", big.data, "image/png")  # even raw bytes are split
    assert len(sink.sent) > 1
    assert all(len(json.dumps(c)) + sum(len(b) for b in bufs) < FIVE_MB for c, bufs in sink.sent)
    assert b"".join(bytes(b[0]) for _, b in sink.sent) == big.data
    assert {c["parts"] for c, _ in sink.sent} == {len(sink.sent)}


def test_whole_run_keeps_every_message_small(studio: Studio) -> None:
    wire = Wire(studio)
    view_sends(studio, {"action": "hello"})
    studio.size = "1536x1024"
    studio.generate("a wide mountain panorama")
    studio.wait(10)
    studio.refine("now add a rainbow")
    studio.wait(10)

    assert studio.error == "" and len(studio.history) == 2
    assert max(wire.sizes()) < FIVE_MB
    assert len(wire.custom(type="image", final=True)) == 2


@pytest.mark.parametrize("over", ["transport", "socket"])
def test_cancel_closes_the_stream_within_half_a_second_and_keeps_partials(over: str, request: pytest.FixtureRequest) -> None:
    if over == "socket":
        server = request.getfixturevalue("sim_server")
        simulator = server.simulator
        client = nbimages.Client(api_key=SENTINEL, base_url=server.url)
        request.addfinalizer(client.close)
    else:
        simulator = request.getfixturevalue("secret_transport").simulator
        client = request.getfixturevalue("secret_client")
    simulator.faults.add("stall", seconds=20, at_event=2)  # after two partial images, nothing comes
    studio = Studio(client=client)
    request.addfinalizer(studio.close)
    wire = Wire(studio)
    studio.generate("a slow painting")
    wait_until(lambda: len(studio.partials) == 2 and len(wire.custom(type="image")) == 2)
    assert studio.busy and studio.running

    started = time.monotonic()
    view_sends(studio, {"action": "cancel"})
    studio.wait(0.5)
    elapsed = time.monotonic() - started

    assert not studio.running, "the worker is still reading the stream or its connection is open"
    assert elapsed < 0.5
    assert not studio.busy and studio.error == "" and studio.last_error is None
    assert len(studio.partials) == 2
    assert re.fullmatch(r"Cancelled after \d+\.\d s: the last partial image stays on screen but is not added "
                        r"to the history", studio.status), studio.status
    assert studio.caption == ""  # not the caption of the image before
    assert studio.conversation.all_turns == []  # an interrupted stream is not a turn
    assert len(wire.custom(type="image")) == 2  # nothing after the cancel
    # and the widget works again at once (the fault was for one request)
    studio.generate("a quick one")
    assert studio.wait(10) is not None


def test_errors_are_one_escaped_line_in_the_widget(studio: Studio) -> None:
    studio.generate("forbidden-content")
    studio.wait(10)

    assert isinstance(studio.last_error, nbimages.ContentPolicyError)
    assert studio.error.startswith("ContentPolicyError") and "\n" not in studio.error
    assert not studio.busy and studio.status.startswith("Failed")

    view_sends(studio, {"action": "generate", "prompt": "   "})  # bad input from the view
    assert studio.error.startswith("InvalidInputError") and "prompt" in studio.error
    view_sends(studio, {"action": "refine", "prompt": "now add a canoe"})  # nothing to refine yet
    assert "generate one" in studio.error and "\n" not in studio.error


def test_error_lines_carry_the_hint_the_notebook_shows(studio: Studio) -> None:
    from nbimages.display import error_bundle
    from nbimages.errors import describe_error

    studio.generate("forbidden-content")
    studio.wait(10)
    exc = studio.last_error
    assert isinstance(exc, nbimages.ContentPolicyError)
    assert studio.error == str(describe_error(exc)) and studio.error.endswith(" — " + exc.hint)
    assert error_bundle(exc)[0]["text/plain"] == "nbimages: " + studio.error  # one formatter for both

    view_sends(studio, {"action": "generate", "prompt": "   "})  # caught in the kernel before any request
    assert studio.error.startswith("InvalidInputError: prompt=") and studio.error.endswith(" — nothing was sent")


def test_a_broken_stream_keeps_its_partial_and_says_so(studio: Studio, secret_transport: LocalTransport) -> None:
    secret_transport.simulator.faults.add("cut", after_partials=1)
    wire = Wire(studio)
    studio.generate("a red panda chef")
    assert studio.wait(10) is None

    assert isinstance(studio.last_error, nbimages.StreamError)
    assert studio.error.startswith("StreamError") and "\n" not in studio.error
    assert len(studio.partials) == 1
    assert [c["final"] for c, _ in wire.custom(type="image", slot="preview")] == [False]  # the partial stays shown
    assert studio.history == [] and not studio.busy
    assert re.fullmatch(r"Failed after \d+\.\d s: the last partial image stays on screen but is not added "
                        r"to the history", studio.status), studio.status
    assert studio.caption == ""  # not the caption of some other picture

    # A refused prompt produced nothing: the preview must not keep the earlier run's partial.
    studio.generate("a forbidden-content poster")
    assert studio.wait(10) is None and studio.error.startswith("ContentPolicyError")
    assert wire.custom()[-1] == ({"type": "preview-clear"}, [])
    assert studio.caption == ""
    wire.messages.clear()
    view_sends(studio, {"action": "hello"})  # a new view shows nothing either
    assert wire.custom(type="image", slot="preview") == []


def test_a_server_error_gives_its_request_id_until_the_next_error_or_run(studio: Studio) -> None:
    studio.generate("forbidden-content")
    studio.wait(10)
    exc = studio.last_error
    assert isinstance(exc, nbimages.ContentPolicyError) and exc.request_id
    assert studio.error_request_id == exc.request_id and f"[request {exc.request_id}]" in studio.error

    view_sends(studio, {"action": "generate", "prompt": "   "})  # another error, from no request
    assert studio.error.startswith("InvalidInputError") and studio.error_request_id == ""
    studio.generate("forbidden-content")
    studio.wait(10)
    assert studio.error_request_id.startswith("req_")
    studio.generate("a red panda chef")
    assert studio.error_request_id == ""  # gone with its error as the next run starts
    assert studio.wait(10) is not None


def test_a_refused_prompt_shows_the_current_image_again_without_a_badge(studio: Studio) -> None:
    studio.generate("a red panda chef")
    turn = studio.wait(10)
    assert turn is not None
    wire = Wire(studio)
    studio.generate("a forbidden-content poster")
    assert studio.wait(10) is None and studio.error.startswith("ContentPolicyError")

    (content, buffers), = wire.custom(type="image", slot="preview")
    assert (content["final"], content["badge"], buffers) == (True, False, [turn.image.data])
    assert studio.caption == (turn.image.revised_prompt or turn.image.prompt)
    wire.messages.clear()
    view_sends(studio, {"action": "hello"})
    (content, _), = wire.custom(type="image", slot="preview")
    assert content["badge"] is False


def test_the_boxes_show_the_prompt_used_from_python(studio: Studio) -> None:
    studio.generate("a red panda chef")
    assert studio.prompt == "a red panda chef"  # the box, not empty beside its picture
    assert studio.wait(10) is not None and studio.image.prompt == "a red panda chef"
    with pytest.raises(nbimages.InvalidInputError):
        studio.generate("   ")
    assert studio.prompt == "a red panda chef"  # refused before anything ran: the box is untouched

    studio.refine("now add a canoe")
    assert studio.followup == "now add a canoe"
    assert studio.wait(10) is not None and studio.followup == ""  # done: emptied
    studio.refine("now add forbidden-content")
    assert studio.wait(10) is None and studio.error.startswith("ContentPolicyError")
    assert studio.followup == "now add forbidden-content"  # refused: kept to be edited


def test_error_text_is_one_line_and_bounded() -> None:
    from nbimages.widgets._base import one_line

    line = one_line(RuntimeError("<img src=x onerror=alert(1)>\n" + "x" * 1000))
    assert "\n" not in line and len(line) <= 330
    assert line.startswith("Unexpected error: RuntimeError: <img")  # kept as text; the view sets textContent
    long = one_line(nbimages.BadRequestError("x" * 1000, status=400))
    assert long.endswith("... — check the options and inputs (%%imagine? lists them)")  # cut, the hint kept


def test_refine_history_checkout_and_branch(studio: Studio) -> None:
    wire = Wire(studio)
    studio.generate("a serene forest lake at sunrise")
    first = studio.wait(10)
    view_sends(studio, {"action": "refine", "prompt": "now add a canoe"})
    second = studio.wait(10)
    assert first is not None and second is not None and second.parent is first
    assert second.api == "responses" and studio.image is second.image
    assert [h["id"] for h in studio.history] == [first.id, second.id] and studio.head == second.id

    view_sends(studio, {"action": "checkout", "id": first.id})
    assert studio.head == first.id and studio.image is first.image
    assert wire.custom(type="image", slot="preview")[-1][1] == [first.image.data]  # the preview went back

    studio.refine("now add a heron")
    third = studio.wait(10)
    assert third is not None and third.parent is first  # a branch from the first image
    in_line = {h["id"]: h["in_line"] for h in studio.history}
    assert in_line == {first.id: True, second.id: False, third.id: True}
    thumbs = wire.custom(type="history-thumbs")
    assert sorted(item["id"] for c, _ in thumbs for item in c["items"]) == [first.id, second.id, third.id]


def test_a_run_clears_the_caption_and_history_items_say_what_they_show(studio: Studio) -> None:
    wire = Wire(studio)
    studio.size = "1536x1024"
    studio.generate("a forest lake")
    studio.wait()
    assert studio.caption
    studio.refine("now add a canoe")
    assert studio.caption == "" and wire.custom(type="run", kind="refine")  # at once, before any partial
    studio.wait()
    wait_until(lambda: not studio.busy)
    first = studio.conversation.turns[0]
    studio.checkout(first)
    assert studio.status.startswith(f"{first.image.model} · 1536×1024 · image 1 of 2"), studio.status
    assert " s" not in studio.status.replace("simulator", "")


def test_a_new_view_gets_the_preview_and_history_again(studio: Studio) -> None:
    studio.generate("a red panda chef")
    studio.wait(10)
    wire = Wire(studio)
    view_sends(studio, {"action": "hello"})

    preview = wire.custom(type="image", slot="preview")
    assert len(preview) == 1 and preview[0][0]["final"] is True and preview[0][1] == [studio.image.data]
    assert len(wire.custom(type="history-thumbs")) == 1


def test_no_secret_in_state_messages_or_fallback(studio: Studio, secret_client: nbimages.Client) -> None:
    assert secret_client._backend.api_key == SENTINEL  # the sentinel really is the key in use
    wire = Wire(studio)
    view_sends(studio, {"action": "hello"})
    studio.generate("a red panda chef")
    studio.wait(10)
    studio.generate("forbidden-content")
    studio.wait(10)

    blobs = [json.dumps(studio.get_state(), default=lambda b: base64.b64encode(bytes(b)).decode())]
    blobs += [json.dumps(m, default=str) for m, _ in wire.messages]
    blobs += [str(studio._repr_mimebundle_()), repr(studio), studio.error]
    for blob in blobs:
        assert "SENTINEL" not in blob
    assert not any(SENTINEL.encode() in b for _, buffers in wire.messages for b in buffers)


def test_static_fallback_is_a_png_and_text(studio: Studio) -> None:
    studio.generate("a red panda chef")
    studio.wait(10)
    data, _ = studio._repr_mimebundle_()

    from PIL import Image as PIL

    assert "application/vnd.jupyter.widget-view+json" in data
    assert "Studio" in data["text/plain"]
    with PIL.open(io.BytesIO(base64.b64decode(data["image/png"]))) as png:
        assert png.format == "PNG" and max(png.size) <= 256


def test_studio_options_reach_the_request(studio: Studio, secret_transport: LocalTransport) -> None:
    view_sets(studio, size="1536x1024", quality="low", partial_images=1)
    studio.generate("a wide shot")
    studio.wait(10)

    body = secret_transport.simulator.requests[-1].json
    assert (body["size"], body["quality"], body["partial_images"]) == ("1536x1024", "low", 1)
    assert len(studio.partials) == 1 and (studio.image.width, studio.image.height) == (1536, 1024)


def test_studio_takes_todays_options_and_a_gif_arrives_whole(studio: Studio,
                                                               secret_transport: LocalTransport) -> None:
    studio.safety_identifier = "user-7a1c"
    view_sets(studio, model="gpt-image-2.5-flare", size="1536x864", quality="xhigh", complexity="high",
              output_format="gif", frame_count=4, partial_images=2)
    studio.generate("a spinning coin")
    studio.wait(10)
    assert studio.last_error is None, studio.last_error
    body = secret_transport.simulator.requests[-1].json
    assert {k: body.get(k) for k in ("model", "size", "quality", "complexity", "output_format", "frame_count",
                                     "safety_identifier")} == {
        "model": "gpt-image-2.5-flare", "size": "1536x864", "quality": "xhigh", "complexity": "high",
        "output_format": "gif", "frame_count": 4, "safety_identifier": "user-7a1c"}
    assert "stream" not in body and "partial_images" not in body  # a GIF arrives whole
    assert studio.image.format == "gif" and studio.image.frame_count == 4 and studio.partials == []


def test_studio_menus_follow_the_model(studio: Studio) -> None:
    view_sets(studio, model="gpt-image-2.5-sunburst", size="2048x1152", quality="max")
    assert "2048x1152" in studio.sizes and "max" in studio.qualities
    view_sets(studio, model="gpt-image-1.5")  # fixed sizes, no xhigh/max: those choices go back to auto
    assert studio.sizes == ["auto", "1024x1024", "1536x1024", "1024x1536"]
    assert "max" not in studio.qualities and (studio.size, studio.quality) == ("auto", "auto")
    view_sets(studio, model="")  # the default model: the SDK documents no rule, so every choice is offered
    assert "3840x2160" in studio.sizes and "xhigh" in studio.qualities


def test_studio_refuses_a_bad_option_when_it_is_set(studio: Studio) -> None:
    for name, value in (("complexity", "hgih"), ("output_format", "pgn"), ("safety_identifier", "x" * 200)):
        with pytest.raises(nbimages.InvalidInputError) as info:
            setattr(studio, name, value)
        assert info.value.param == name


def test_studio_status_has_one_clock_and_says_the_phase(studio: Studio) -> None:
    seen: list[str] = []
    studio.observe(lambda change: seen.append(change["new"]), names="status")
    view_sets(studio, partial_images=2)
    studio.generate("a quiet harbour")
    studio.wait(10)
    running, done = seen[:-1], seen[-1]
    assert running and not any(re.search(r"\d\.\d s", s) for s in running), seen  # the view's clock ticks
    assert "waiting for the first image" in running[0] and any("partial 2 of 2" in s for s in running), seen
    assert re.search(r"done in \d+\.\d s", done), done


def test_one_generation_at_a_time(studio: Studio, secret_transport: LocalTransport) -> None:
    secret_transport.simulator.faults.add("stall", seconds=20, at_event=1)
    studio.generate("first")
    wait_until(lambda: len(studio.partials) == 1)
    view_sends(studio, {"action": "generate", "prompt": "second"})

    assert "one generation at a time" in studio.error and studio.busy
    with pytest.raises(nbimages.InvalidInputError):
        studio.checkout(1)
    studio.cancel()


# -- MaskPainter -------------------------------------------------------------------------------
def painted_layer(size: tuple[int, int], box: tuple[int, int, int, int], soft_edge: bool = False) -> bytes:
    """What the view sends: an RGBA PNG of the canvas, opaque where painted."""
    from PIL import Image as PIL

    layer = PIL.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 45, 110, 255), box)
    if soft_edge:  # antialiased border pixels, half transparent: not painted
        left, top, _right, bottom = box
        layer.paste((255, 45, 110, 100), (left - 1, top, left, bottom))
    return png_bytes(layer)


def test_mask_is_transparent_where_painted_and_the_image_size(picture: nbimages.Image) -> None:
    import numpy as np

    painter = MaskPainter(picture)
    wire = Wire(painter)
    view_sends(painter, {"action": "hello"})
    backdrop = wire.custom(type="image", slot="backdrop")
    assert backdrop[0][1] == [picture.data] and backdrop[0][0]["width"] == 1536

    box = (100, 200, 400, 300)
    view_sends(painter, {"action": "mask"}, [painted_layer((1536, 1024), box, soft_edge=True)])

    mask = painter.mask
    assert isinstance(mask, nbimages.Image) and mask.format == "png"
    assert (mask.width, mask.height) == (picture.width, picture.height)
    alpha = np.asarray(mask.to_pil().convert("RGBA"))[..., 3]
    expected = np.full((1024, 1536), 255, np.uint8)
    expected[200:300, 100:400] = 0
    assert (alpha == expected).all()
    assert painter.painted.sum() == 300 * 100
    assert painter.painted_fraction == round(300 * 100 / (1536 * 1024), 4)
    assert painter.mask_version == 1 and painter.error == ""
    assert max(wire.sizes()) < FIVE_MB


def test_mask_from_the_view_must_match_the_image(picture: nbimages.Image) -> None:
    painter = MaskPainter(picture)
    view_sends(painter, {"action": "mask"}, [painted_layer((768, 512), (0, 0, 10, 10))])

    assert painter.error.startswith("InvalidInputError") and "1536x1024" in painter.error
    assert painter.mask_version == 0 and not painter.painted.any()


def test_invert_clear_and_set_painted(picture: nbimages.Image) -> None:
    import numpy as np

    painter = MaskPainter(picture)
    wire = Wire(painter)
    area = np.zeros((1024, 1536), bool)
    area[:512] = True
    painter.set_painted(area)
    assert painter.painted_fraction == 0.5
    painter.invert()
    assert (painter.painted == ~area).all()
    sent = wire.custom(type="image", slot="mask")[-1][1][0]  # what the views are told: 255 = painted
    from PIL import Image as PIL

    with PIL.open(io.BytesIO(sent)) as grey:
        assert grey.size == (1536, 1024) and grey.getpixel((0, 0)) == 0 and grey.getpixel((0, 1000)) == 255
    painter.clear()
    assert painter.painted_fraction == 0 and not painter.painted.any()
    painter.set_painted(nbimages.mask_from_box(picture, (0, 0, 10, 10)))
    assert painter.painted.sum() == 100
    with pytest.raises(nbimages.InvalidInputError):
        painter.set_painted(np.zeros((10, 10), bool))


def test_edit_pastes_the_original_back_outside_the_mask(picture: nbimages.Image, client: nbimages.Client,
                                                      simulator: Any) -> None:
    import numpy as np

    painter = MaskPainter(picture)
    view_sends(painter, {"action": "mask"}, [painted_layer((1536, 1024), (600, 300, 900, 600))])
    before = len(simulator.requests)
    [result] = painter.edit("add a canoe", client=client)

    request = simulator.requests[before]
    assert request.path.endswith("/images/edits")
    assert request.files["mask"][0].data == painter.mask.data  # the painter's mask, as painted
    assert (result.width, result.height) == (1536, 1024)
    assert result.params["pasted_outside_mask"] is True and result.path is not None  # stored
    assert "pasted back outside the mask" in painter.caption
    out = np.asarray(result.to_pil().convert("RGB")).astype(int)
    orig = np.asarray(picture.to_pil().convert("RGB")).astype(int)
    keep = ~painter.painted
    assert (out[keep] == orig[keep]).all()
    assert (out[painter.painted] != orig[painter.painted]).any()  # the edit did something


def test_edit_results_show_beside_the_input_and_continue_from_there(picture: nbimages.Image,
                                                                  client: nbimages.Client) -> None:
    painter = MaskPainter(picture)
    wire = Wire(painter)
    view_sends(painter, {"action": "mask"}, [painted_layer((1536, 1024), (600, 300, 900, 600))])
    results = painter.edit("add a canoe", client=client, store=False)

    assert results == painter.results and len(results) == 1
    [(shown, [data])] = wire.custom(type="image", slot="result")
    assert shown["total"] == 1 and data[:4] in (b"\x89PNG", b"RIFF")
    data_html, _ = results._repr_mimebundle_()  # thumbnails, not [<nbimages.Image ...>]
    assert "<img" in data_html["text/html"] and "nbimages.Image" not in data_html["text/plain"]

    view_sends(painter, {"action": "hello"})  # a new view sees the comparison too
    assert len(wire.custom(type="image", slot="result")) == 2
    view_sends(painter, {"action": "continue"})
    assert painter.image is results[0] and painter.painted_pixels == 0 and painter.error == ""
    assert wire.custom(type="result-clear")
    assert wire.custom(type="image", slot="backdrop")[-1][0]["width"] == results[0].width
    assert wire.custom(type="image", slot="mask")  # the views drop the old painting

    with pytest.raises(nbimages.InvalidInputError):
        MaskPainter(picture).continue_from_result()  # no edit yet


def test_use_paints_on_another_image_of_another_size(picture: nbimages.Image) -> None:
    from PIL import Image as PIL

    painter = MaskPainter(picture)
    painter.set_painted(nbimages.mask_from_box(picture, (0, 0, 10, 10)))
    painter.use(PIL.new("RGB", (640, 480), (10, 20, 30)))
    assert (painter.width, painter.height) == (640, 480)
    assert painter.painted.shape == (480, 640) and not painter.painted.any()
    assert (painter.mask.width, painter.mask.height) == (640, 480)
    assert (painter.markup.width, painter.markup.height) == (640, 480)


def test_paste_back_repairs_a_model_that_drifts_outside_the_mask(picture: nbimages.Image,
                                                                sim_transport: Any) -> None:
    """Real models may touch pixels outside the mask; the simulator does not, so a wrapper adds drift."""
    import numpy as np
    from PIL import Image as PIL
    from PIL import ImageOps

    def drifting(request: httpx.Request) -> httpx.Response:
        response = sim_transport.handle_request(request)
        response.read()
        body = response.json()
        for item in body["data"]:
            pil = PIL.open(io.BytesIO(base64.b64decode(item["b64_json"]))).convert("RGB")
            item["b64_json"] = base64.b64encode(png_bytes(ImageOps.posterize(pil, 2))).decode()
        return httpx.Response(response.status_code, json=body)

    http = httpx.Client(transport=httpx.MockTransport(drifting))
    painter = MaskPainter(picture)
    view_sends(painter, {"action": "mask"}, [painted_layer((1536, 1024), (0, 0, 200, 200))])
    orig = np.asarray(picture.to_pil().convert("RGB")).astype(int)
    keep = ~painter.painted
    with nbimages.Client(api_key="sk-test", base_url="http://simulator.test/v1", http_client=http) as drifty:
        [raw] = painter.edit("add a canoe", client=drifty, paste_back=False, store=False)
        assert "outside the mask are as the model returned" in painter.caption
        [fixed] = painter.edit("add a canoe", client=drifty, store=False)
    http.close()

    assert (np.asarray(raw.to_pil().convert("RGB")).astype(int)[keep] != orig[keep]).any()
    assert (np.asarray(fixed.to_pil().convert("RGB")).astype(int)[keep] == orig[keep]).all()
    assert "pasted_outside_mask" not in raw.params and fixed.params["pasted_outside_mask"] is True


def test_edit_with_nothing_painted_is_refused_before_any_request(picture: nbimages.Image, client: nbimages.Client,
                                                                simulator: Any) -> None:
    painter = MaskPainter(picture)
    before = len(simulator.requests)
    with pytest.raises(nbimages.InvalidInputError):
        painter.edit("add a canoe", client=client)
    assert len(simulator.requests) == before


def test_imagine_magic_takes_a_mask_painter(ipshell: Any) -> None:
    import numpy as np

    from nbimages.conversation import current_conversation

    image = nbimages.Client().generate("a forest lake", size="1024x1024", quality="low")[0]
    painter = MaskPainter(image)
    view_sends(painter, {"action": "mask"}, [painted_layer((1024, 1024), (100, 100, 300, 300))])
    ipshell.user_ns.update(img=image, painter=painter)
    ipshell.run_cell_magic("imagine", "--edit img --mask painter", "add a canoe")

    head = current_conversation().head
    assert head is not None and head.image is not None and head.image.params.get("mask") is True
    out = np.asarray(head.image.to_pil().convert("RGB")).astype(int)
    orig = np.asarray(image.to_pil().convert("RGB")).astype(int)
    changed = np.abs(out - orig).sum(-1) > 0
    assert not changed[~painter.painted].any() and changed[painter.painted].any()


# -- Gallery -----------------------------------------------------------------------------------
@pytest.fixture
def filled_store(client: nbimages.Client) -> Any:
    from nbimages.store import Store, default_store

    store = default_store()
    assert isinstance(store, Store)
    prompts = ["a forest lake", "a red panda chef", 'a <b>bold</b> & "quoted" fox', "sunset over mountains",
               "a blue whale", "a tiny robot", "a paper boat"]
    for prompt in prompts:
        nbimages.Conversation(client, store=store).generate(prompt, size="1024x1024", quality="low")
        time.sleep(0.002)  # distinct creation times: newest first is well defined
    return store, prompts


def test_gallery_pages_newest_first_with_thumbnails(filled_store: Any) -> None:
    store, prompts = filled_store
    gallery = Gallery(store=store, page_size=3)
    wire = Wire(gallery)
    view_sends(gallery, {"action": "hello"})

    assert (gallery.total, gallery.pages) == (7, 3)
    assert [i["prompt"] for i in gallery.items] == prompts[::-1][:3]
    [(thumbs, buffers)] = wire.custom(type="thumbs")
    assert [t["id"] for t in thumbs["items"]] == [i["id"] for i in gallery.items]
    assert all(len(b) < 100_000 for b in buffers)

    view_sets(gallery, page=2)
    assert [i["prompt"] for i in gallery.items] == [prompts[0]]
    assert len(wire.custom(type="thumbs")) == 2
    view_sets(gallery, page=9)  # past the end: the last page
    assert gallery.page == 2 and len(gallery.items) == 1
    assert max(wire.sizes()) < FIVE_MB
    assert 'a <b>bold</b> & "quoted" fox' in [i["prompt"] for i in Gallery(store=store, page_size=7).items]


def test_gallery_selection_and_enlarged_view(filled_store: Any) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    wire = Wire(gallery)
    assert gallery.selected is None

    chosen = gallery.items[1]["id"]
    view_sends(gallery, {"action": "select", "id": chosen})

    assert gallery.selected_id == chosen and gallery.selected is not None
    assert gallery.selected.id == chosen and gallery.selected.prompt == gallery.items[1]["prompt"]
    image = gallery.selected_image
    assert image is not None and image.data == store.get(chosen).load().data
    [(large, buffers)] = wire.custom(type="image", slot="large")
    assert large["id"] == chosen and buffers == [image.data]

    view_sends(gallery, {"action": "select", "id": "no-such-image"})
    assert gallery.error.startswith("InvalidInputError") and gallery.selected_id == chosen
    view_sends(gallery, {"action": "select", "id": None})
    assert gallery.selected is None


def downloads(wire: Wire) -> list[tuple[str, str, bytes]]:
    """(name, mime, bytes) of each file sent for the view to save, its parts put back together."""
    files: dict[int, tuple[str, str, list[bytes]]] = {}
    for content, buffers in wire.custom(type="download"):
        parts = files.setdefault(content["seq"], (content["name"], content["mime"], []))[2]
        parts.append(buffers[0])
        assert content["part"] == len(parts) - 1 and content["parts"] >= len(parts)
    return [(name, mime, b"".join(parts)) for name, mime, parts in files.values()]


def test_a_download_names_the_view_that_asked(filled_store: Any) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    wire = Wire(gallery)
    chosen = gallery.items[0]["id"]
    view_sends(gallery, {"action": "download", "id": chosen, "view": "view-a"})
    view_sends(gallery, {"action": "download", "id": chosen})  # a view of an older front end
    assert [content["view"] for content, _ in wire.custom(type="download")] == ["view-a", None]


def test_gallery_download_sends_the_stored_file_and_refuses_a_missing_one(filled_store: Any) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    wire = Wire(gallery)
    first, second = (store.get(item["id"]) for item in gallery.items[:2])
    view_sends(gallery, {"action": "download", "id": first.id})

    assert downloads(wire) == [(f"{first.id}.png", "image/png", first.path.read_bytes())]
    assert gallery.error == ""

    second.path.unlink()
    view_sends(gallery, {"action": "download", "id": second.id})
    assert len(downloads(wire)) == 1
    assert gallery.error.startswith("StoreError") and "missing" in gallery.error and second.id in gallery.error
    view_sends(gallery, {"action": "download", "id": "no-such-image"})
    assert gallery.error.startswith("InvalidInputError") and len(downloads(wire)) == 1


def test_a_download_larger_than_one_message_goes_in_parts(filled_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=1)
    record = store.get(gallery.items[0]["id"])
    monkeypatch.setattr(_wire, "MAX_MESSAGE_BYTES", len(record.path.read_bytes()) // 3 + 1)
    wire = Wire(gallery)
    view_sends(gallery, {"action": "download", "id": record.id})

    assert [c["parts"] for c, _ in wire.custom(type="download")] == [3, 3, 3]
    assert downloads(wire) == [(f"{record.id}.png", "image/png", record.path.read_bytes())]


def test_studio_download_sends_the_shown_images_file(studio: Studio) -> None:
    wire = Wire(studio)
    view_sends(studio, {"action": "download"})
    assert studio.error.startswith("InvalidInputError") and downloads(wire) == []

    studio.generate("a red panda chef")
    studio.wait(10)
    path = studio.image.path if studio.image is not None else None
    assert path is not None and path.is_file()
    [(preview, _)] = wire.custom(type="image", slot="preview", final=True)
    assert preview["prompt"] == "a red panda chef"  # what Copy prompt copies
    view_sends(studio, {"action": "download"})
    assert downloads(wire) == [(path.name, "image/png", path.read_bytes())]


def test_studio_says_how_a_run_ended_once(studio: Studio) -> None:
    wire = Wire(studio)
    studio.partial_images = 1
    studio.generate("a red panda chef")
    studio.wait(10)
    statuses = [m["state"]["status"] for m, _ in wire.updates() if "status" in m.get("state", {})]
    # "finishing", then straight to how it ended: no description of the image in between
    assert statuses[-2].endswith("finishing") and statuses[-1] == studio.status
    assert re.search(r"done in \d+\.\d s · 1024×1024$", studio.status), studio.status


def test_studio_actions_follow_the_history_item_clicked(studio: Studio) -> None:
    wire = Wire(studio)
    studio.generate("a red panda chef")
    studio.wait(10)
    first = studio.image
    studio.refine("now wearing a tall white hat")
    studio.wait(10)
    assert first is not None and first.path is not None and studio.image is not first
    view_sends(studio, {"action": "checkout", "id": studio.history[0]["id"]})
    view_sends(studio, {"action": "download"})
    assert downloads(wire)[-1] == (first.path.name, "image/png", first.path.read_bytes())
    view_sends(studio, {"action": "paint"})
    assert isinstance(studio._opened, MaskPainter) and studio._opened.image is first
    studio._opened.close()


def test_gallery_refine_in_studio_opens_a_studio_below_at_the_image(filled_store: Any, client: nbimages.Client) -> None:
    from nbimages.conversation import current_conversation, set_current_conversation

    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    chosen = store.get(gallery.items[1]["id"])
    set_current_conversation(nbimages.Conversation(client, store=store))
    try:
        view_sends(gallery, {"action": "refine", "id": chosen.id})
        conversation = current_conversation()
        assert conversation.image is not None and conversation.image.data == chosen.path.read_bytes()
        assert [t.prompt for t in conversation.turns] == [chosen.prompt]
        studio = gallery._opened
        assert isinstance(studio, Studio) and studio.conversation is conversation
        assert studio.image is conversation.image and studio.head == conversation.turns[0].id
        assert gallery.error == ""
        view_sends(gallery, {"action": "close_opened"})
        assert gallery._opened is None and gallery._opened_note == ""
        studio.close()
    finally:
        set_current_conversation(None)


def test_gallery_open_in_the_painter_paints_on_the_stored_image(filled_store: Any) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    chosen = store.get(gallery.items[0]["id"])
    view_sends(gallery, {"action": "paint", "id": chosen.id})
    painter = gallery._opened
    assert isinstance(painter, MaskPainter) and gallery.error == ""
    assert painter.image.data == chosen.path.read_bytes()
    view_sends(gallery, {"action": "paint", "id": "no-such-image"})
    assert gallery._opened is painter  # a refused action leaves what is open
    assert "no-such-image" in gallery.error
    painter.close()


def test_gallery_search_and_refresh(filled_store: Any, client: nbimages.Client) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    view_sets(gallery, page=1)
    view_sets(gallery, search="panda")
    assert gallery.page == 0 and gallery.total == 1 and gallery.items[0]["prompt"] == "a red panda chef"

    view_sets(gallery, search="")
    nbimages.Conversation(client, store=store).generate("a brand new image", quality="low")
    view_sends(gallery, {"action": "refresh"})
    assert gallery.total == 8 and gallery.items[0]["prompt"] == "a brand new image"


def test_gallery_search_finds_refinements_and_edits_by_their_first_prompt(client: nbimages.Client) -> None:
    from nbimages.store import default_store

    store = default_store()
    conv = nbimages.Conversation(client, store=store)
    conv.send("a misty fjord at dawn")  # each turn names the previous response as its parent
    conv.send("now add a canoe")
    conv.send("make it night")
    root = store.list(search="misty")[-1].load()
    store.save(client.edit("paint it in watercolour", root, quality="low")[0])  # names its input file
    store.save(client.generate("an unrelated teapot", quality="low")[0])

    gallery = Gallery(store=store)
    view_sets(gallery, search="fjord")
    assert sorted(i["prompt"] for i in gallery.items) == sorted(
        ["a misty fjord at dawn", "now add a canoe", "make it night", "paint it in watercolour"])
    assert all(i["model"] for i in gallery.items)  # edits and refinements carry their model too
    view_sets(gallery, search="fjord canoe")
    assert [i["prompt"] for i in gallery.items] == ["make it night", "now add a canoe"]  # the canoe and after


def test_gallery_search_finds_a_refinement_of_an_images_api_picture_by_its_first_prompt(
        client: nbimages.Client) -> None:
    """The Studio's usual path: a generation (Images API), then a refinement that sends that
    picture along (Responses API, no previous response): the refinement links to the picture."""
    from nbimages.store import default_store

    store = default_store()
    conv = nbimages.Conversation(client, store=store)
    conv.generate("a lone lighthouse on a reef", quality="low")
    conv.send("now add a storm")
    gallery = Gallery(store=store)
    view_sets(gallery, search="reef")
    assert sorted(i["prompt"] for i in gallery.items) == ["a lone lighthouse on a reef", "now add a storm"]


def test_gallery_poll_reloads_only_when_the_store_changed(filled_store: Any, client: nbimages.Client) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=3)
    wire = Wire(gallery)
    view_sends(gallery, {"action": "poll"})
    assert not wire.updates() and not wire.custom(type="thumbs")  # nothing new: nothing sent
    store.save(client.generate("a brand new image", quality="low")[0])
    view_sends(gallery, {"action": "poll"})
    assert gallery.total == 8 and gallery.items[0]["prompt"] == "a brand new image"
    assert wire.custom(type="thumbs")


def test_gallery_state_is_text_and_fallback_is_a_contact_sheet(filled_store: Any) -> None:
    store, _ = filled_store
    gallery = Gallery(store=store, page_size=4)
    state = gallery.get_state()
    assert not state["thumbnail"]
    assert len(json.dumps(state["items"])) < 4_000
    data, _ = gallery._repr_mimebundle_()
    assert "7 stored image(s)" in data["text/plain"]
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


# -- front end files ---------------------------------------------------------------------------
def test_each_widget_has_one_self_contained_module_and_the_css() -> None:
    for cls, name in ((Studio, "studio.js"), (MaskPainter, "mask_painter.js"), (Gallery, "gallery.js")):
        path = Path(cls._esm._path)
        assert path.name == name and path.is_file()
        text = path.read_text(encoding="utf-8")
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("*", "/")))
        assert not re.search(r"^\s*import\b|\bimport\(", code, re.MULTILINE)  # nothing to resolve from a blob URL
        assert code.count("export default") == 1 and "innerHTML" not in code
        assert "hook: " in text
    css = Path(Studio._css._path).read_text(encoding="utf-8")
    assert Path(Studio._css._path).name == "widgets.css" and "var(--jp-layout-color1" in css


def test_widgets_package_imports_anywidget_only_when_used() -> None:
    code = "import sys, nbimages.widgets; print('anywidget' in sys.modules, 'PIL' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# -- MaskPainter: a few pixels are a painting ---------------------------------------------------
def test_a_few_painted_pixels_count_as_painted_and_can_be_edited(picture: nbimages.Image, client: nbimages.Client,
                                                                 simulator: Any) -> None:
    import numpy as np

    painter = MaskPainter(picture)
    few = np.zeros((1024, 1536), bool)
    few[500, 700:703] = True  # 3 pixels of 1.5 million
    painter.set_painted(few)

    assert painter.painted_pixels == 3
    assert 0 < painter.painted_fraction < 1e-4  # not rounded down to "nothing painted"
    assert painter.painted_share == "<0.1%" and "<0.1% painted" in painter._static_text()
    before = len(simulator.requests)
    [edited] = painter.edit("a tiny star", client=client, store=False, quality="low")
    assert len(simulator.requests) == before + 1
    assert int((np.asarray(painter.mask.to_pil())[..., 3] == 0).sum()) == 3
    assert painter.caption.startswith("Edited <0.1% of the image") and edited.format == "png"


def test_a_few_pixels_painted_in_the_view_count(picture: nbimages.Image) -> None:
    painter = MaskPainter(picture)
    wire = Wire(painter)
    view_sends(painter, {"action": "mask"}, [painted_layer((1536, 1024), (10, 10, 12, 11))])
    assert painter.painted_pixels == 2 and painter.painted_fraction > 0 and painter.error == ""
    view_sends(painter, {"action": "hello"})  # a view that opens later is sent the painting
    assert len(wire.custom(type="image", slot="mask")) == 1


@pytest.mark.parametrize(("unpainted", "fraction", "share"), [
    (0, 1.0, "100.0%"),
    (2, 1 - 2 / (1536 * 1024), ">99.9%"),  # not rounded up to "everything painted"
    (1536 * 1024 // 2, 0.5, "50.0%"),
    (1536 * 1024, 0.0, "0.0%"),
])
def test_painted_fraction_and_share_at_the_extremes(picture: nbimages.Image, unpainted: int, fraction: float,
                                                    share: str) -> None:
    import numpy as np

    painted = np.ones(1536 * 1024, bool)
    painted[:unpainted] = False
    painter = MaskPainter(picture)
    painter.set_painted(painted.reshape(1024, 1536))
    assert painter.painted_pixels == 1536 * 1024 - unpainted
    assert painter.painted_fraction == fraction and painter.painted_share == share


@pytest.mark.parametrize("layer", ["bad checksum", "pixels not deflate data"])
def test_a_painted_layer_that_does_not_decode_is_refused(picture: nbimages.Image, layer: str) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if layer == "bad checksum":
        data = bytearray(painted_layer((1536, 1024), (0, 0, 10, 10)))
        data[29] ^= 0xFF
    else:  # the right size, right checksums, but no pixels in IDAT
        header = struct.pack(">IIBBBBB", 1536, 1024, 8, 6, 0, 0, 0)
        data = bytearray(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"no pixels here")
                         + chunk(b"IEND", b""))
    painter = MaskPainter(picture)
    painter.set_painted(painter.painted | True)
    view_sends(painter, {"action": "mask"}, [bytes(data)])

    assert painter.error.startswith("InvalidInputError: mask=") and "\n" not in painter.error
    assert painter.painted_pixels == 1536 * 1024 and painter.mask_version == 1  # the painting stays


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_view_shows_a_few_pixels_as_less_than_a_tenth_of_a_percent() -> None:
    source = (REPO / "js" / "src" / "mask_painter.js").read_text(encoding="utf-8")
    function = re.search(r"^function paintedShare\(.*?^}$", source, re.MULTILINE | re.DOTALL)
    assert function is not None and 'watch(model, "painted_pixels"' in source
    cases = [[0, 100], [3, 1536 * 1024], [1, 1000], [1536 * 1024 - 2, 1536 * 1024], [50, 100], [100, 100]]
    script = function.group(0) + f"\nconsole.log(JSON.stringify({cases}.map(([p, t]) => paintedShare(p, t))));"
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(result.stdout) == ["0.0%", "<0.1%", "0.1%", ">99.9%", "50.0%", "100.0%"]


def test_imagine_magic_takes_a_mask_painter_with_a_few_pixels_painted(ipshell: Any) -> None:
    import numpy as np

    from nbimages.conversation import current_conversation

    image = nbimages.Client().generate("a forest lake", size="1024x1024", quality="low")[0]
    painter = MaskPainter(image)
    few = np.zeros((1024, 1024), bool)
    few[300, 300:304] = True
    painter.set_painted(few)
    ipshell.user_ns.update(img=image, painter=painter)
    ipshell.run_cell_magic("imagine", "--edit img --mask painter", "a tiny boat")

    head = current_conversation().head
    assert head is not None and head.image is not None and head.image.params.get("mask") is True


# -- the line under a %%imagine output: clock, then actions --------------------------------
class _Recorder:
    """A `display.Publisher` that keeps what was published, by display id."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, dict[str, Any], bool]] = []

    def publish(self, data: dict[str, Any], metadata: dict[str, Any], *, display_id: str, update: bool) -> None:
        self.shown.append((display_id, data, update))


def test_image_actions_keep_the_clock_and_then_act_on_the_final_image(client: nbimages.Client,
                                                                      store: nbimages.Store) -> None:
    from nbimages.display import LiveImage
    from nbimages.widgets.image_actions import ImageActions

    image = store.save(client.generate("a lighthouse at dusk", size="1024x1024", quality="low")[0])
    [partial] = client.generate("a blurry lighthouse", size="1024x1024", quality="low")
    line, out = ImageActions(), _Recorder()
    wire = Wire(line)
    live = LiveImage("a lighthouse at dusk", model="gpt-image-2", backend="offline simulator", partials=1,
                     tick=0.01, to=out, clock=line)
    live.show()
    live.partial(partial, 0)
    assert line.running and line.phase == "partial 1 of 1 · finishing the final image…" and line.count == 0
    area, widget = out.shown[0][0], out.shown[1][0]
    assert area != widget and "application/vnd.jupyter.widget-view+json" in out.shown[1][1]
    # The time is the line's: the output says what stays true, and is not refreshed to tick.
    texts = [data["text/plain"] for shown_id, data, _ in out.shown if shown_id == area]
    assert texts and all(text == "nbimages: gpt-image-2 · offline simulator" for text in texts)
    time.sleep(0.05)
    assert len([s for s in out.shown if s[0] == area]) == len(texts)

    live.final([image])
    assert not line.running and line.count == 1 and line.prompt == "a lighthouse at dusk"
    assert [s[0] for s in out.shown].count(widget) == 1  # shown once, then only its state changes
    view_sends(line, {"action": "download", "index": 0})
    assert downloads(wire) == [(image.path.name, "image/png", image.path.read_bytes())]
    view_sends(line, {"action": "download", "index": 1})
    assert "index=1 is not valid: expected an image of this output, 0 to 0" in line.error
    line.close()


def test_the_lines_share_one_module_and_keep_a_small_state() -> None:
    from nbimages.widgets.image_actions import ImageActions, ModuleHolder

    lines = [ImageActions() for _ in range(3)]
    holders = {line._module for line in lines}
    assert len(holders) == 1 and isinstance(lines[0]._module, ModuleHolder)
    [holder] = holders
    assert "export default" in holder.code and ".nbi-image-actions" in holder.css
    for line in lines:
        state = line.get_state()
        assert state["_module"] == f"IPY_MODEL_{holder.model_id}" and state["_css"] == ""
        size = len(json.dumps(state, default=len))
        assert size < 3_000, size  # the loader, not the 40 KB module
        line.close()
    holder.close()
    fresh = ImageActions()
    assert fresh._module is not holder and fresh._module.comm is not None  # a closed holder is made again
    fresh.close()


def test_image_actions_after_an_interrupt_keep_the_partial_saved(client: nbimages.Client) -> None:
    from nbimages.display import LiveImage
    from nbimages.widgets.image_actions import ImageActions

    [partial] = client.generate("a half-made lighthouse", size="1024x1024", quality="low")
    line, out = ImageActions(), _Recorder()
    live = LiveImage("a lighthouse", partials=2, to=out, clock=line)
    live.show()
    live.partial(partial, 0)
    live.interrupted(partial)
    assert not line.running and line.count == 1 and line._target({"index": 0}) is partial
    last_text = [data["text/plain"] for shown_id, data, _ in out.shown if "text/html" in data][-1]
    assert re.search(r"\d+\.\d s · interrupted", last_text)  # the output keeps the time once the line stops
    line.close()


def test_open_in_the_painter_binds_a_name_without_taking_the_users(ipshell: Any, client: nbimages.Client) -> None:
    from nbimages.widgets.image_actions import ImageActions

    [image] = client.generate("a red barn", size="1024x1024", quality="low")
    line = ImageActions()
    line.finished([image], "a red barn")
    ipshell.user_ns.pop("painter", None)
    ipshell.user_ns["painter_2"] = None
    try:
        ipshell.user_ns["painter"] = "the user's own"
        view_sends(line, {"action": "paint", "index": 0})
        first = line._opened
        assert isinstance(first, MaskPainter) and first.image is image
        assert ipshell.user_ns["painter"] == "the user's own" and ipshell.user_ns["painter_3"] is first
        assert line._opened_note.startswith("The painter, in Python as painter_3:")
        view_sends(line, {"action": "paint", "index": 0})  # the name it gave is reused
        assert ipshell.user_ns["painter_3"] is line._opened and line._opened is not first
        assert first.comm is None  # replaced, and no name reaches it: closed
        view_sends(line, {"action": "refine", "index": 0})
        assert isinstance(line._opened, Studio) and ipshell.user_ns["painter_3"].comm is not None  # still named
        view_sends(line, {"action": "close_opened"})
        assert line._opened is None and ipshell.user_ns["painter_3"] is not None  # still usable from Python
    finally:
        for name in ("painter", "painter_2", "painter_3", "studio"):
            ipshell.user_ns.pop(name, None)
        line.close()

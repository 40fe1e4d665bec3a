"""The magics in a real IPython shell, against the simulator on a real 127.0.0.1 socket.

Every display call is recorded (`_notebook.RecordingPublisher`), with its ``display_id`` and
whether it was an update, so the tests see exactly what a notebook front end would receive
and in what order. Requests are counted on the simulator.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.displaypub import DisplayPublisher

import nbimages
from nbimages import config
from nbimages.magics import magics_for

from _images import make_png
from _notebook import Notebook, Published, RecordingPublisher


def single_area(outputs: list[Published]) -> str:
    """All outputs went to one display area, created once and then updated."""
    ids = {o.display_id for o in outputs}
    assert len(ids) == 1 and None not in ids, ids
    assert not outputs[0].update and all(o.update for o in outputs[1:])
    return ids.pop()


def final_of(outputs: list[Published]) -> Published:
    assert outputs[-1].kind == "final", [o.kind for o in outputs]
    return outputs[-1]


def data_url_bytes(url: str) -> bytes:
    return base64.b64decode(url.partition(",")[2])


# -- the extension -------------------------------------------------------------------------
def test_load_ext_registers_the_magics_and_the_configurable(shell: Any) -> None:
    ipshell = shell
    magics = ipshell.magics_manager.magics
    assert "imagine" in magics["cell"]
    for name in ("imagine", "describe", "imagine_history", "imagine_undo", "imagine_usage"):
        assert name in magics["line"], name
    assert any(type(c).__name__ == "Imagine" for c in ipshell.configurables)
    ipshell.run_line_magic("config", "Imagine.preview_size = 300")
    assert magics_for(ipshell).settings.preview_size == 300

    ipshell.run_line_magic("unload_ext", "nbimages")
    assert "imagine" not in ipshell.magics_manager.magics["cell"]
    assert "describe" not in ipshell.magics_manager.magics["line"]
    ipshell.run_line_magic("load_ext", "nbimages")
    assert magics_for(ipshell).settings.preview_size == 300  # %config survives a reload, as in IPython


def test_help_of_the_cell_magic_lists_the_options(nb: Notebook) -> None:
    nb.shell.run_cell("%%imagine?\n")
    out, _ = nb.capfd.readouterr()
    for option in ("--continue", "--partial-images", "--edit", "--mask", "--fresh", "--new", "-o NAME",
                   "--background", "--output-format", "--quality", "--size"):
        assert option in out, option
    assert nb.requests() == []


# -- live output ---------------------------------------------------------------------------
def test_partials_replace_each_other_in_one_area_then_the_final_image(nb: Notebook) -> None:
    outputs = nb.imagine("--size 1024x1024 --quality low", "A serene forest lake at sunrise")
    single_area(outputs)
    kinds = [o.kind for o in outputs]
    assert kinds[0] == "status" and kinds[-1] == "final"
    partials = [o for o in outputs if o.kind == "partial"]
    assert [p.meta["index"] for p in partials] == [0, 1]
    assert kinds.index("final") > max(i for i, k in enumerate(kinds) if k == "partial")
    for k, p in enumerate(partials, 1):
        assert f"partial {k} of 2" in p.text
        assert config.DEFAULT_IMAGE_MODEL in p.text and re.search(r"\d+\.\d s", p.text)
        assert len(p.images()) == 1  # the partial picture itself, in the same area
    final = final_of(outputs)
    stored = nb.conversation.image
    assert stored is not None and stored.path is not None and Path(stored.path).is_file()
    assert f"saved to {stored.path}" in final.text
    assert "1024×1024" in final.text and config.DEFAULT_IMAGE_MODEL in final.text
    assert "saved as" in final.html and Path(stored.path).name in final.html
    [request] = nb.requests()
    assert request.path == "/v1/images/generations"
    assert request.json["prompt"] == "A serene forest lake at sunrise"
    assert request.json["stream"] is True and request.json["partial_images"] == 2
    assert request.json["size"] == "1024x1024" and request.json["quality"] == "low"


def test_line_magic_takes_the_prompt_from_the_line(nb: Notebook) -> None:
    outputs = nb.run("%imagine a cat's hat, seen from above\n")
    final_of(outputs)
    assert nb.requests()[-1].json["prompt"] == "a cat's hat, seen from above"
    nb.run('%imagine --quality low "a quoted fox"\n')
    assert nb.requests()[-1].json["prompt"] == "a quoted fox"
    assert nb.requests()[-1].json["quality"] == "low"


def test_the_options_reach_the_request(nb: Notebook) -> None:
    outputs = nb.imagine("-m gpt-image-1-mini --size 1536x1024 --quality low -n 2 --partial-images 1 "
                         "--background transparent --output-format webp -o pics", "two hot air balloons")
    [request] = nb.requests()
    body = request.json
    assert body["model"] == "gpt-image-1-mini" and body["size"] == "1536x1024" and body["quality"] == "low"
    assert body["n"] == 2 and body["partial_images"] == 1
    assert body["background"] == "transparent" and body["output_format"] == "webp"
    final = final_of(outputs)
    assert len(final.images()) == 2
    pics = nb.shell.user_ns["pics"]
    assert [p.format for p in pics] == ["webp", "webp"] and all(Path(p.path).is_file() for p in pics)
    assert [p.width for p in pics] == [1536, 1536]
    assert sum(o.kind == "partial" for o in outputs) == 2  # one per image


def test_configurables_set_the_defaults_and_options_override_them(nb: Notebook) -> None:
    nb.run("%config Imagine.model = 'gpt-image-1-mini'\n%config Imagine.size = '1024x1536'\n"
           "%config Imagine.quality = 'low'\n%config Imagine.partial_images = 3\n")
    outputs = nb.imagine("", "a lighthouse")
    body = nb.requests()[-1].json
    assert (body["model"], body["size"], body["quality"], body["partial_images"]) == (
        "gpt-image-1-mini", "1024x1536", "low", 3)
    assert sum(o.kind == "partial" for o in outputs) == 3
    nb.imagine("-m gpt-image-1.5 --size 1024x1024 --quality medium --partial-images 0", "a lighthouse")
    body = nb.requests()[-1].json
    assert (body["model"], body["size"], body["quality"], body.get("partial_images")) == (
        "gpt-image-1.5", "1024x1024", "medium", 0)
    nb.run("%config Imagine.mainline_model = 'gpt-4.1'\n")
    nb.imagine("-c", "at night")
    body = nb.requests()[-1].json
    assert body["model"] == "gpt-4.1" and body["tools"][0]["model"] == "gpt-image-1-mini"
    nb.run("%describe last\n")
    assert nb.requests()[-1].json["model"] == "gpt-4.1"


def test_a_long_prompt_is_not_repeated_in_every_update(nb: Notebook) -> None:
    prompt = "a very detailed scene " + " ".join(f"with item {i}" for i in range(800))
    outputs = nb.imagine("--partial-images 2", prompt)
    assert nb.requests()[-1].json["prompt"] == prompt
    for o in outputs:
        assert len(re.sub(r'src="data:[^"]+"', "", o.html)) < 2_000, o.kind
    assert all(o.meta["prompt"] == prompt for o in outputs if o.kind != "final")


def test_no_partial_images_means_status_then_final(nb: Notebook) -> None:
    outputs = nb.imagine("--partial-images 0", "a plain red square")
    single_area(outputs)
    assert [o.kind for o in outputs] == ["status", "final"]


def test_the_embedded_preview_is_small_and_the_full_image_is_on_disk(nb: Notebook) -> None:
    nb.run("%config Imagine.preview_size = 256\n")
    outputs = nb.imagine("--size 1536x1024 --output-format png", "a detailed city skyline at night")
    final = final_of(outputs)
    [shown] = final.images()
    assert max(shown.size) == 256 and shown.size == (256, 171)
    assert final.meta["width"] == 1536  # the metadata describes the full image
    full = nb.conversation.image
    assert full is not None and (full.width, full.height) == (1536, 1024)
    assert Path(full.path).stat().st_size > 4 * len(final.html)
    assert len(json.dumps(final.data)) < 60_000
    for partial in (o for o in outputs if o.kind == "partial"):
        assert 'width="256" height="171"' in partial.html


def test_partials_are_shown_while_the_stream_is_still_arriving(shell: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a paced server, each partial is on screen long before the final image arrives."""
    from nbimages.local import start_server

    pub = RecordingPublisher(shell=shell)
    monkeypatch.setattr(shell, "display_pub", pub)
    with start_server(host="127.0.0.1", port=0, latency=0.0, partial_interval=0.25) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-paced")
        started = time.perf_counter()
        shell.run_cell("%%imagine --partial-images 3\na paced stream\n")
        ended = time.perf_counter()
        magics_for(shell).close()
    partials = [o for o in pub.outputs if o.kind == "partial"]
    final = pub.outputs[-1]
    assert final.kind == "final" and len(partials) == 3
    # The server waits 0.25 s before each partial and before the final image.
    assert final.at - partials[-1].at > 0.15
    assert partials[1].at - partials[0].at > 0.15
    assert partials[0].at - started < ended - started - 0.5


# -- the store ------------------------------------------------------------------------------
def test_an_unchanged_cell_reuses_the_stored_image_and_fresh_pays_again(nb: Notebook) -> None:
    first = final_of(nb.imagine("--quality low", "a teapot"))
    again = nb.imagine("--quality low", "a teapot")
    assert len(nb.requests()) == 1
    assert [o.kind for o in again] == ["final"] and again[0].meta["cached"] is True
    assert "reused from the store" in again[0].text and "no request was made" in again[0].html
    assert again[0].meta["path"] == first.meta["path"]
    assert nb.conversation.head is not None and nb.conversation.head.cached

    fresh = nb.imagine("--quality low --fresh", "a teapot")
    assert len(nb.requests()) == 2 and final_of(fresh).meta["cached"] is False
    assert final_of(fresh).meta["path"] != first.meta["path"]
    nb.imagine("--quality high", "a teapot")  # a different option is a different image
    assert len(nb.requests()) == 3
    nb.imagine("--quality low --partial-images 3", "a teapot")  # partials do not change the image
    assert len(nb.requests()) == 3


def test_store_location_is_configurable(nb: Notebook, tmp_path: Path) -> None:
    where = tmp_path / "my-images"
    nb.run(f"%config Imagine.store_home = {str(where)!r}\n")
    nb.imagine("", "a compass rose")
    image = nb.conversation.image
    assert image is not None and Path(image.path).is_relative_to(where)
    assert nb.magics.store.home == where


def test_every_completed_image_is_stored_before_it_is_shown(nb: Notebook) -> None:
    stored_at_display: list[bool] = []
    original = nb.pub.publish

    def publish(data: dict[str, Any], metadata: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        meta = (metadata or {}).get("nbimages", {})
        if meta.get("kind") == "final":
            stored_at_display.append(Path(meta["path"]).is_file())
        original(data, metadata, *args, **kwargs)

    nb.pub.publish = publish  # type: ignore[method-assign]
    nb.imagine("-n 2", "two owls")
    assert stored_at_display == [True]


def test_an_image_completed_before_the_stream_broke_is_in_the_store(nb: Notebook) -> None:
    nb.simulator.faults.add("cut", after_type="image_generation.completed")
    outputs = nb.imagine("-n 2 --partial-images 1", "two foxes in the snow")
    last = outputs[-1]
    assert last.meta.get("error") == "StreamError"
    saved = nb.magics.store.list(kind="final")
    assert len(saved) == 1 and saved[0].path.is_file()
    assert str(saved[0].path) in last.text  # says where the image that did arrive is
    assert len(last.images()) == 1
    assert nb.conversation.head is None  # a broken turn is not committed
    # Running the cell again makes both images (one was not enough to reuse).
    final_of(nb.imagine("-n 2 --partial-images 1", "two foxes in the snow"))
    assert len(nb.requests()) == 2


def test_a_responses_image_completed_before_the_stream_broke_is_in_the_store(nb: Notebook) -> None:
    nb.imagine("", "a snowman")
    nb.simulator.faults.add("cut", after_type="response.output_item.done")
    outputs = nb.imagine("-c", "give him a scarf")
    error = outputs[-1]
    assert error.meta["error"] == "StreamError" and error.meta["kind"] == "final"
    saved = [s for s in nb.magics.store.list(kind="final") if s.prompt == "give him a scarf"]
    assert len(saved) == 1 and f"completed image saved to {saved[0].path}" in error.text
    assert [t.prompt for t in nb.conversation.turns] == ["a snowman"]


# -- errors ----------------------------------------------------------------------------------
def test_a_cut_stream_keeps_the_last_partial_and_shows_one_error_line(nb: Notebook) -> None:
    nb.simulator.faults.add("cut", after_partials=1)
    outputs = nb.imagine("--partial-images 2", "a castle on a hill")
    single_area(outputs)
    assert [o.kind for o in outputs] == ["status", "partial", "partial"]
    error = outputs[-1]
    assert error.meta["error"] == "StreamError" and error.meta["kind"] == "partial"
    lines = error.text.splitlines()
    assert lines[0].startswith("nbimages: StreamError: the stream broke")
    assert "run the cell again" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("last partial image saved to ")
    assert Path(lines[1].rpartition(" ")[2]).is_file()
    assert error.html.count("<b>StreamError</b>") == 1 and len(error.images()) == 1
    assert nb.conversation.head is None


@pytest.mark.parametrize(
    ("cell", "error", "requests"),
    [
        ("%%imagine --size 13x13\na tiny image\n", "InvalidInputError", 0),
        ("%%imagine -n 0\nno image\n", "InvalidInputError", 0),
        ("%%imagine --edit no-such-file.png\nedit it\n", "InvalidInputError", 0),
        ("%%imagine --mask last\nwith no image yet\n", "InvalidInputError", 0),
        ("%%imagine\n\n", "InvalidInputError", 0),
        ("%%imagine --background transparent --output-format jpeg\na glass\n", "InvalidInputError", 0),
        ("%%imagine --partial-images 4\ntoo many\n", "InvalidInputError", 0),
        ("%%imagine\nforbidden-content\n", "ContentPolicyError", 1),
    ],
)
def test_known_errors_are_one_line_without_traceback(nb: Notebook, cell: str, error: str, requests: int) -> None:
    outputs = nb.run(cell)
    output = outputs[-1]
    if requests == 0:  # refused before anything was shown
        assert len(outputs) == 1
    else:
        single_area(outputs)
    assert output.meta["error"] == error
    assert output.text.startswith(f"nbimages: {error}:") and "\n" not in output.text
    assert output.html.count("<div") == 1
    assert len(nb.requests()) == requests


def test_server_errors_after_retries_are_one_line(nb: Notebook) -> None:
    nb.simulator.faults.add("status", times=3, status=500)
    outputs = nb.imagine("", "a stormy sea")
    assert outputs[-1].meta["error"] == "ServerError" and "run the cell again" in outputs[-1].text
    assert len(nb.requests()) == 3


def test_usage_errors_are_reported_by_ipython_without_a_request(nb: Notebook) -> None:
    for cell in ("%%imagine -c --new\nx\n", "%%imagine -c -n 2\nx\n", "%%imagine -o 2bad\nx\n",
                 "%%imagine a prompt on the first line\nand a body\n"):
        nb.shell.run_cell(cell)
        out, err = nb.capfd.readouterr()
        assert "UsageError" in out + err and "Traceback" not in out + err
    assert nb.requests() == []


def test_the_read_timeout_is_long_by_default_and_configurable(nb: Notebook) -> None:
    assert nb.magics.client._timeout.read >= 300
    nb.run("%config Imagine.timeout = 0.5\n")
    assert nb.magics.client._timeout.read == 0.5
    nb.simulator.faults.add("stall", seconds=3, at_event=1)
    started = time.perf_counter()
    outputs = nb.imagine("", "a slow sunrise")
    assert time.perf_counter() - started < 2.5
    assert outputs[-1].meta["error"] in ("StreamError", "APITimeoutError")
    assert "\n" not in outputs[-1].text.split("\nlast partial")[0]


# -- continuing, editing ------------------------------------------------------------------------
def _input_images(request: Any) -> list[bytes]:
    parts = [p for item in request.json["input"] if isinstance(item, dict)
             for p in (item.get("content") or []) if isinstance(p, dict)]
    return [data_url_bytes(p["image_url"]) for p in parts if p.get("type") == "input_image"]


def test_continue_sends_the_image_then_the_previous_response_id(nb: Notebook) -> None:
    nb.imagine("", "a forest lake")
    lake = nb.conversation.image
    assert lake is not None
    outputs = nb.imagine("--continue", "now add a red canoe")
    single_area(outputs)
    request = nb.requests()[-1]
    assert request.path == "/v1/responses" and "previous_response_id" not in request.json
    # The image came from the Images API: it goes back as an input image, byte for byte.
    assert _input_images(request) == [lake.data]
    [tool] = request.json["tools"]
    assert tool["type"] == "image_generation" and tool["partial_images"] == 2
    assert sum(o.kind == "partial" for o in outputs) == 2
    canoe = nb.conversation.head
    assert canoe is not None and canoe.api == "responses" and canoe.response_id

    nb.imagine("-c", "and a heron")
    request = nb.requests()[-1]
    assert request.json["previous_response_id"] == canoe.response_id
    assert _input_images(request) == []
    assert [t.prompt for t in nb.conversation.turns] == ["a forest lake", "now add a red canoe", "and a heron"]


def test_continue_with_a_mask_paints_only_there(nb: Notebook, tmp_path: Path) -> None:
    from _sim_fixtures import box_mask

    nb.imagine("--size 1024x1024", "a meadow")
    (tmp_path / "mask.png").write_bytes(box_mask((1024, 1024), (0, 0, 512, 512)))
    nb.imagine(f"-c --mask {tmp_path / 'mask.png'}", "a rainbow in the corner")
    [tool] = nb.requests()[-1].json["tools"]
    assert data_url_bytes(tool["input_image_mask"]["image_url"]) == (tmp_path / "mask.png").read_bytes()


def test_edit_takes_paths_variables_and_last(nb: Notebook, tmp_path: Path) -> None:
    from PIL import Image as PIL

    photo = tmp_path / "room.png"
    photo.write_bytes(make_png((256, 256), (200, 180, 150)))
    nb.shell.user_ns["sofa"] = PIL.new("RGB", (256, 256), (20, 90, 200))
    nb.imagine(f"--edit {photo} sofa --size 1024x1024", "put the sofa in the room")
    request = nb.requests()[-1]
    assert request.path == "/v1/images/edits"
    assert request.form["prompt"] == "put the sofa in the room" and request.form["stream"] == "true"
    sent = request.files.get("image[]") or request.files.get("image")
    assert [bytes(f.data) for f in sent] == [photo.read_bytes(), _png_of(nb.shell.user_ns["sofa"])]
    room = nb.conversation.image
    nb.imagine("--edit last -o edited", "make it night")
    request = nb.requests()[-1]
    assert _file_bytes(request, "image") == room.data
    assert isinstance(nb.shell.user_ns["edited"], nbimages.Image)


def test_line_form_ends_the_image_list_with_double_dash(nb: Notebook, tmp_path: Path) -> None:
    photo = tmp_path / "room.png"
    photo.write_bytes(make_png((256, 256), (200, 180, 150)))
    nb.run(f"%imagine --edit {photo} -- add a blue star\n")
    request = nb.requests()[-1]
    assert request.path == "/v1/images/edits"
    assert request.form["prompt"] == "add a blue star"
    assert _file_bytes(request, "image") == photo.read_bytes()


def test_mask_without_edit_edits_the_current_image(nb: Notebook, tmp_path: Path) -> None:
    from _sim_fixtures import box_mask

    nb.imagine("--size 1024x1024", "an empty beach")
    beach = nb.conversation.image
    nb.shell.user_ns["m"] = box_mask((1024, 1024), (100, 100, 400, 400))
    nb.imagine("--mask m", "a beach umbrella")
    request = nb.requests()[-1]
    assert request.path == "/v1/images/edits"
    assert _file_bytes(request, "mask") == nb.shell.user_ns["m"]
    assert _file_bytes(request, "image") == beach.data


def _png_of(pil: Any) -> bytes:
    from nbimages.inputs import to_image

    return to_image(pil).data


def _file_bytes(request: Any, name: str) -> bytes:
    entry = request.files.get(name) or request.files.get(name + "[]")
    if isinstance(entry, list):
        entry = entry[0]
    return bytes(entry.data)


def test_a_mask_painter_variable_means_its_mask(nb: Notebook) -> None:
    try:
        from nbimages.widgets import MaskPainter
    except (ImportError, FileNotFoundError) as exc:  # the widget front end is not built
        pytest.skip(f"MaskPainter unavailable: {exc}")
    import numpy as np

    nb.imagine("--size 1024x1024", "a living room")
    painter = MaskPainter(nb.conversation.image)
    nb.shell.user_ns["painter"] = painter
    [output] = nb.imagine("--mask painter", "a flamingo")  # nothing painted yet
    assert output.meta["error"] == "InvalidInputError" and len(nb.requests()) == 1
    painted = np.zeros((1024, 1024), bool)
    painted[600:900, 100:400] = True
    painter.set_painted(painted)
    final_of(nb.imagine("--mask painter", "a flamingo"))
    assert _file_bytes(nb.requests()[-1], "mask") == painter.mask.data


def test_new_starts_a_new_line_of_work(nb: Notebook) -> None:
    nb.imagine("", "a robot")
    nb.imagine("-c", "with a hat")
    assert len(nb.conversation.turns) == 2
    nb.imagine("--new", "a spaceship")
    assert [t.prompt for t in nb.conversation.turns] == ["a spaceship"]
    assert len(nb.conversation.all_turns) == 3
    assert nb.requests()[-1].path == "/v1/images/generations"
    ship = nb.conversation.image
    [error] = nb.imagine("--new --edit missing.png", "x")  # a bad input changes nothing
    assert error.meta["error"] == "InvalidInputError" and nb.conversation.image is ship
    nb.imagine("--new --edit last", "the spaceship, landed")
    assert [t.prompt for t in nb.conversation.turns] == ["the spaceship, landed"]
    assert _file_bytes(nb.requests()[-1], "image") == ship.data


# -- conversation, history, undo ------------------------------------------------------------------
def test_history_undo_branch_and_current_conversation(nb: Notebook) -> None:
    early = nbimages.current_conversation()  # asked for before any magic ran
    nb.imagine("", "a <b>bold</b> owl")
    nb.imagine("-c", "on a branch")
    conv = nbimages.current_conversation()
    assert conv is nb.conversation is early
    [history] = nb.run("%imagine_history\n")
    assert history.kind == "history" and len(history.images()) == 2
    assert "a &lt;b&gt;bold&lt;/b&gt; owl" in history.html and "<b>bold</b>" not in history.html
    assert [t["current"] for t in history.meta["turns"]] == [False, True]

    [undone] = nb.run("%imagine_undo\n")
    first = conv.turns[-1]
    assert conv.head is first and first.prompt == "a <b>bold</b> owl"
    assert undone.meta["path"] == str(first.image.path) and "now at turn 1" in undone.text

    nb.imagine("-c", "at night")  # a branch from the first turn
    request = nb.requests()[-1]
    assert "previous_response_id" not in request.json and _input_images(request) == [first.image.data]
    assert conv.head is not None and conv.head.parent is first and len(conv.all_turns) == 3
    [everything] = nb.run("%imagine_history --all\n")
    assert len(everything.meta["turns"]) == 3

    conv.checkout(conv.all_turns[1])  # back to "on a branch" through the Python API
    nb.imagine("-c", "in the rain")
    assert nb.requests()[-1].json["previous_response_id"] == conv.all_turns[1].response_id
    nb.run("%imagine_undo 3\n")
    assert conv.head is None
    [nothing] = nb.run("%imagine_undo\n")
    assert "Nothing to undo" in nothing.text


def test_todays_options_reach_the_request_and_gif_and_svg_arrive_whole(nb: Notebook) -> None:
    nb.imagine("-m gpt-image-2.5-flare --size 1536x864 --quality xhigh --complexity high "
               "--safety-identifier user-7a1c --output-format gif --frames 4 --frame-ms 120", "a spinning coin")
    body = nb.requests()[-1].json
    assert {k: body.get(k) for k in ("model", "size", "quality", "complexity", "safety_identifier",
                                     "output_format", "frame_count", "frame_duration_ms")} == {
        "model": "gpt-image-2.5-flare", "size": "1536x864", "quality": "xhigh", "complexity": "high",
        "safety_identifier": "user-7a1c", "output_format": "gif", "frame_count": 4, "frame_duration_ms": 120}
    assert "stream" not in body and "partial_images" not in body
    gif = nb.conversation.image
    assert gif.format == "gif" and gif.frame_count == 4 and gif.path.suffix == ".gif"
    nb.imagine("--output-format svg --svg-model gpt-5 --svg-effort low -o logo", "a fox logo")
    body = nb.requests()[-1].json
    assert body["svg"] == {"model": "gpt-5", "reasoning": {"effort": "low"}} and "stream" not in body
    assert nb.shell.user_ns["logo"].format == "svg"


def test_usage_lists_tokens_and_cost_per_model(nb: Notebook) -> None:
    [empty] = nb.run("%imagine_usage\n")
    assert "No usage" in empty.text
    nb.imagine("--quality low --size 1024x1024", "a lamp")
    nb.imagine("--quality low --size 1024x1024", "a lamp")  # reused: no cost
    nb.imagine("-m gpt-image-1-mini --quality low --size 1024x1024", "a chair")
    [usage] = nb.run("%imagine_usage\n")
    rows = {row["model"]: row for row in usage.meta["rows"]}
    lamp, chair = rows[config.DEFAULT_IMAGE_MODEL], rows["gpt-image-1-mini"]
    assert lamp["requests"] == 1 and lamp["cached"] == 1 and lamp["output_tokens"] > 0
    # No published price for the default model yet: the ledger says so rather than guessing.
    assert lamp["estimated_cost_usd"] is None and chair["estimated_cost_usd"] > 0
    assert "gpt-image-1-mini" in usage.text and "total" in usage.text and "$" in usage.html
    lamp_line = next(line for line in usage.text.splitlines() if line.startswith(config.DEFAULT_IMAGE_MODEL))
    total_line = next(line for line in usage.text.splitlines() if line.startswith("total"))
    assert lamp_line.endswith("unknown") and "≥ $" in total_line, usage.text


# -- escaping ---------------------------------------------------------------------------------------
def test_prompts_and_revised_prompts_are_escaped(nb: Notebook) -> None:
    evil = "<script>alert('x')</script> a cat <img src=x onerror=alert(1)>"
    outputs = nb.imagine("", evil)
    outputs += nb.imagine("-c", evil)  # the Responses API sends back a revised prompt quoting it
    assert "Edit of the given image: <script>" in (nb.conversation.image.revised_prompt or "")
    for o in outputs:
        assert "<script" not in o.html and "<img src=x" not in o.html, o.kind
    assert "&lt;script&gt;" in outputs[-1].html
    assert "<script>alert('x')</script>" in outputs[-1].text  # plain text stays as it was


# -- %describe ----------------------------------------------------------------------------------------
def _describe_request(nb: Notebook) -> tuple[Any, bytes | None, str]:
    request = nb.requests()[-1]
    assert request.path == "/v1/responses"
    parts = request.json["input"][0]["content"]
    text = next(p["text"] for p in parts if p["type"] == "input_text")
    image = next(p for p in parts if p["type"] == "input_image")
    url = image["image_url"]
    return image, data_url_bytes(url) if url.startswith("data:") else None, text


def test_describe_takes_paths_variables_and_last(nb: Notebook, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image as PIL

    path = tmp_path / "red.png"
    path.write_bytes(make_png((40, 30), (255, 0, 0)))
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1])
    nb.shell.user_ns.update(
        pil=PIL.new("RGB", (20, 10), (0, 0, 255)),
        arr=np.full((12, 16, 3), 200, np.uint8),
        fig=fig,
        raw=make_png((8, 8), (0, 255, 0)),
        img=nbimages.Image(make_png((9, 9), (0, 0, 0))),
    )
    sizes = {"pil": (20, 10), "arr": (16, 12), "raw": (8, 8), "img": (9, 9), str(path): (40, 30)}
    for source, size in sizes.items():
        outputs = nb.run(f"%describe {source}\n")
        single_area(outputs)
        _, sent, question = _describe_request(nb)
        from PIL import Image as P

        assert P.open(io.BytesIO(sent)).size == size, source
        assert question == "Describe this image."
        assert f"{size[0]} × {size[1]}" in outputs[-1].text
    nb.run("%describe fig how many lines are there?\n")
    _, sent, question = _describe_request(nb)
    assert question == "how many lines are there?" and sent[:4] == b"\x89PNG"
    plt.close(fig)

    nb.imagine("--size 1024x1024", "a cow")
    nb.run("%describe last --detail high -m gpt-4.1 -o answer what animal is this?\n")
    image, sent, question = _describe_request(nb)
    assert sent == nb.conversation.image.data and image["detail"] == "high"
    assert nb.requests()[-1].json["model"] == "gpt-4.1" and question == "what animal is this?"
    assert "1024 × 1024" in nb.shell.user_ns["answer"]


def test_describe_streams_an_escaped_markdown_answer(nb: Notebook) -> None:
    nb.shell.user_ns["pic"] = make_png((32, 32), (255, 255, 0))
    outputs = nb.run("%describe pic is this <script>alert(1)</script> **safe**?\n")
    single_area(outputs)
    assert len(outputs) >= 2
    answer = outputs[-1]
    assert answer.kind == "answer" and answer.meta["answer_chars"] > 0
    assert "<script" not in "".join(o.html for o in outputs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.html
    assert "<strong>" in answer.html  # Markdown is rendered around the escaped text
    assert "gpt-5" in answer.html


def test_describe_shows_the_question_once(nb: Notebook) -> None:
    nb.shell.user_ns["pic"] = make_png((32, 32), (255, 255, 0))
    outputs = nb.run("%describe pic what colour is it?\n")
    single_area(outputs)
    for shown in outputs:  # while asking, streaming and done: beside the image, not again in the answer
        assert shown.html.count("what colour is it?") == 1, shown.html
        assert shown.text.count("what colour is it?") == 1, shown.text
    assert outputs[-1].text.startswith("You asked: what colour is it?\n\n") and "32 × 32 pixels" in outputs[-1].text


def test_describe_passes_urls_through(nb: Notebook) -> None:
    outputs = nb.run("%describe https://example.com/cat.png?size=large what breed is it?\n")
    image, sent, question = _describe_request(nb)
    assert image["image_url"] == "https://example.com/cat.png?size=large" and sent is None
    assert question == "what breed is it?"
    # The simulator cannot download; the answer area says so in one line.
    assert outputs[-1].meta["error"] == "BadRequestError" and "\n" not in outputs[-1].text
    assert 'href="https://example.com/cat.png?size=large"' in outputs[0].html


def test_describe_errors_are_one_line(nb: Notebook) -> None:
    [missing] = nb.run("%describe missing.png\n")
    assert missing.meta["error"] == "InvalidInputError" and nb.requests() == []
    nb.simulator.faults.add("status", status=401)
    nb.shell.user_ns["pic"] = make_png()
    outputs = nb.run("%describe pic\n")
    assert outputs[-1].meta["error"] == "AuthenticationError"
    assert "OPENAI_API_KEY" in outputs[-1].text and "sk-magics-test-key" not in outputs[-1].text


# -- terminal IPython -----------------------------------------------------------------------------
def test_in_a_terminal_the_magics_print_where_the_image_was_saved(shell: Any, capfd: Any) -> None:
    ipshell = shell
    assert type(ipshell.display_pub) is DisplayPublisher  # the plain terminal publisher
    ipshell.run_cell("%%imagine --partial-images 1\na small boat\n")
    out, err = capfd.readouterr()
    image = magics_for(ipshell).conversation.image
    assert image is not None and f"saved to {image.path}" in out
    assert "offline simulator" in out and "Traceback" not in out + err
    assert "<div" not in out  # no HTML in a terminal

    ipshell.run_cell("%describe last what is it?\n")
    out, err = capfd.readouterr()
    assert out.count("what is it?") == 1  # the question is said once, and the answer written once as it streams
    assert "1024 × 1024 pixels" in out and "gpt-5" in out.splitlines()[-1]
    ipshell.run_cell("%describe missing.png\n")
    out, _ = capfd.readouterr()
    assert out.startswith("nbimages: InvalidInputError") and out.count("\n") == 1


def test_the_api_key_never_appears_in_outputs(nb: Notebook) -> None:
    outputs = nb.imagine("", "a key")
    outputs += nb.run("%imagine_history\n%imagine_usage\n")
    blob = json.dumps([(o.data, o.metadata) for o in outputs], default=str)
    assert "sk-magics-test-key" not in blob


# -- latency --------------------------------------------------------------------------------------
def _noisy_png(size: tuple[int, int]) -> bytes:
    """A photo-like PNG (noise compresses badly): as heavy as a real partial image (~MBs)."""
    import numpy as np
    from PIL import Image as PIL

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PIL.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_latency_from_a_partial_arriving_to_its_display_update(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    """Time from the client decoding a partial image event to the display update carrying it."""
    from nbimages.display import LiveImage
    from nbimages.events import PartialImage
    from nbimages.stream import _StreamState

    arrivals: list[float] = []
    decode = _StreamState._events

    def timed(self: Any, chunk: bytes) -> list[Any]:
        events = decode(self, chunk)
        arrivals.extend(time.perf_counter() for e in events if isinstance(e, PartialImage))
        return events

    monkeypatch.setattr(_StreamState, "_events", timed)
    for _ in range(3):
        nb.imagine("--fresh --partial-images 3 --size 1024x1024 --quality low", "a busy harbour at dusk")
    shown = [o.at for o in nb.pub.outputs if o.kind == "partial"]
    assert len(shown) == len(arrivals) == 9
    simulator_ms = sorted((s - a) * 1000 for a, s in zip(arrivals, shown))
    assert all(ms >= 0 for ms in simulator_ms)

    # Real partials are full-size PNGs of a few MB: the preview has to be made from them.
    heavy = nbimages.Image(_noisy_png((1536, 1024)))
    live = LiveImage("a busy harbour at dusk", partials=3)
    live.show()
    heavy_ms = []
    for index in range(5):
        before = time.perf_counter()
        live.partial(heavy, index % 3)
        heavy_ms.append((nb.pub.outputs[-1].at - before) * 1000)
    heavy_ms.sort()
    print(f"\npartial -> display update: simulator partials median {simulator_ms[4]:.1f} ms "
          f"(max {simulator_ms[-1]:.1f}); {heavy.nbytes / 1e6:.1f} MB 1536x1024 partial median "
          f"{heavy_ms[2]:.1f} ms (max {heavy_ms[-1]:.1f})")
    assert simulator_ms[4] < 100
    assert heavy_ms[2] < 400
    [shown_heavy] = nb.pub.outputs[-1].images()
    assert max(shown_heavy.size) <= 512
    # A partial of a typical size (~2 MB) is shrunk too: it stays out of autosaved notebooks
    # and off slow links.
    typical = nbimages.Image(_noisy_png((1024, 640)))
    assert 1_000_000 < typical.nbytes < 3_000_000
    live.partial(typical, 0)
    assert len(json.dumps(nb.pub.outputs[-1].data)) < 200_000


def test_running_the_notebook_again_after_a_restart_makes_no_request(nb: Notebook) -> None:
    cells = [("--quality low", "a forest lake"), ("-c", "add a red canoe"), ("-c", "and a heron")]
    first = [final_of(nb.imagine(*cell)) for cell in cells]
    assert len(nb.requests()) == 3
    nb.run("%unload_ext nbimages\n%load_ext nbimages\n")  # as after a restart: only the store remains
    again = [nb.imagine(*cell) for cell in cells]
    assert len(nb.requests()) == 3
    assert [o[-1].meta["cached"] for o in again] == [True, True, True]
    assert [o[-1].meta["path"] for o in again] == [f.meta["path"] for f in first]
    assert [t.prompt for t in nb.conversation.turns] == [c[1] for c in cells]


def test_an_interrupt_stops_the_stream_and_keeps_the_partial_on_screen(nb: Notebook) -> None:
    import signal
    import threading

    nb.simulator.faults.add("stall", seconds=10, at_event=1)  # the first partial, then nothing
    # Ctrl-C (a real SIGINT) a moment after the first partial is on screen.
    timer = threading.Timer(0.2, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    original = nb.pub.publish

    def publish(data: dict[str, Any], metadata: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> None:
        original(data, metadata, *args, **kwargs)
        if nb.pub.outputs[-1].kind == "partial":
            timer.start()

    nb.pub.publish = publish  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        result = nb.shell.run_cell("%%imagine --partial-images 2\na slow painting\n")
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 5
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    nb.capfd.readouterr()
    outputs = nb.pub.outputs
    single_area(outputs)
    assert [o.kind for o in outputs] == ["status", "partial", "interrupted"]
    assert "interrupted · last partial image saved to " in outputs[-1].text
    assert Path(outputs[-1].text.rpartition(" saved to ")[2]).is_file() and len(outputs[-1].images()) == 1
    assert nb.conversation.head is None


def test_in_a_kernel_the_elapsed_time_ticks_while_the_server_is_silent(
        nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages.display import LiveImage

    monkeypatch.setattr(nb.shell, "kernel", object(), raising=False)  # what tells a kernel from a terminal
    # Without the widget line (whose clock ticks in the browser) the output's own time is refreshed.
    nb.run("%config Imagine.status_interval = 0.05\n%config Imagine.actions = False\n")
    nb.simulator.faults.add("stall", seconds=0.4, at_event=0)
    outputs = nb.imagine("", "a slow start")
    single_area(outputs)
    first_partial = next(i for i, o in enumerate(outputs) if o.kind == "partial")
    refreshes = [o for o in outputs[:first_partial] if o.meta.get("refresh")]
    assert len(refreshes) >= 4 and not any(o.meta.get("refresh") for o in outputs[first_partial:])

    # Even when something unexpected breaks the cell, no refresh outlives it.
    def broken(self: Any, image: Any, index: int) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LiveImage, "partial", broken)
    nb.simulator.faults.add("stall", seconds=0.2, at_event=0)
    result = nb.shell.run_cell("%%imagine --fresh\na slow start\n")
    assert isinstance(result.error_in_exec, RuntimeError)
    nb.capfd.readouterr()
    count = len(nb.pub.outputs)
    time.sleep(0.2)
    assert len(nb.pub.outputs) == count


def test_a_bug_in_the_cell_stops_the_clock_of_the_line_under_it(nb: Notebook, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbimages.display import LiveImage
    from nbimages.widgets.image_actions import ImageActions

    monkeypatch.setattr(nb.shell, "kernel", object(), raising=False)  # a kernel: the line under the output is made
    made: list[ImageActions] = []
    monkeypatch.setattr(ImageActions, "status", lambda self, *a, _s=ImageActions.status: (made.append(self), _s(self, *a)))

    def broken(self: Any, image: Any, index: int) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(LiveImage, "partial", broken)
    result = nb.shell.run_cell("%%imagine --fresh\na slow start\n")
    assert isinstance(result.error_in_exec, RuntimeError)
    [view] = [o.data["application/vnd.jupyter.widget-view+json"] for o in nb.pub.outputs
              if "application/vnd.jupyter.widget-view+json" in o.data]
    line = made[0]
    assert view["model_id"] == line.model_id and line.running is False  # its clock stopped with the cell
    assert "stopped by an unexpected error" in nb.pub.outputs[-1].text
    line.close()


def test_the_readme_cells_run_without_errors(nb: Notebook) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    magics_section = readme.split("### Python")[0]  # later cells need files the Python part makes
    cells = re.findall(r"```ipython\n(.*?)```", magics_section, flags=re.S)
    assert len(cells) >= 3 and any(c.startswith("%%imagine") for c in cells)
    shown: list[Published] = []
    for cell in cells:
        if cell.startswith("%load_ext"):
            continue  # already loaded
        shown += nb.run(cell)
    assert not [o for o in shown if o.meta.get("error")], [o.text for o in shown if o.meta.get("error")]
    kinds = {o.kind for o in shown}
    assert {"final", "history", "answer", "usage"} <= kinds
    assert isinstance(nb.shell.user_ns.get("lake"), nbimages.Image)


CRASHING_KERNEL = r"""
import os, sys
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

class Crash(DisplayPublisher):
    def publish(self, data, metadata=None, *args, **kwargs):
        if (metadata or {}).get("nbimages", {}).get("kind") == "final":
            os._exit(int(sys.argv[1]))  # the kernel dies as the image is about to be shown

shell = InteractiveShell.instance()
if sys.argv[1] != "0":
    shell.display_pub = Crash(shell=shell)
shell.run_line_magic("load_ext", "nbimages")
shell.run_cell("%%imagine --quality low --size 1024x1024\na lantern in the fog\n")
print(shell.run_cell("%imagine_usage").success)
"""


def test_an_image_completed_just_before_the_kernel_died_is_in_the_store(
        sim_server: Any, hermetic_env: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from nbimages.store import Store

    env = {**os.environ, "OPENAI_BASE_URL": sim_server.url, "OPENAI_API_KEY": "sk-crash"}
    died = subprocess.run([sys.executable, "-c", CRASHING_KERNEL, "3"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert died.returncode == 3, died.stderr
    [stored] = Store(hermetic_env).list()
    assert stored.prompt == "a lantern in the fog" and stored.load().width == 1024
    assert len(sim_server.simulator.requests) == 1
    # The next kernel runs the same cell: the image that was paid for is reused.
    again = subprocess.run([sys.executable, "-c", CRASHING_KERNEL, "0"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "reused from the store" in again.stdout, again.stdout + again.stderr
    assert len(sim_server.simulator.requests) == 1

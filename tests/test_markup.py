"""Markup edits (GPT Image 2.5): marks drawn on a transparent layer over the first image.

The real client against the real simulator over HTTP: only pixels near the marks change;
every malformed markup is refused before a request is sent, and by the server when sent
anyway. Then the front ends: ``%%imagine --markup`` in a real IPython shell, and the
MaskPainter's markup mode played from the view's side as tests/test_widgets.py does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

import nbimages

from _notebook import Notebook, Published
from _sim_fixtures import box_mask, png_bytes, scene_png

SIZE = (512, 384)
BOX = (100, 100, 220, 180)  # the drawn box: its outline is the mark
MARK_COLOUR = (255, 40, 40, 255)
MODEL = "gpt-image-2.5-flare"


def marks_layer(size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = BOX) -> Any:
    """A transparent RGBA layer with a box outline and an arrow pointing into it."""
    from PIL import Image, ImageDraw

    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle(box, outline=MARK_COLOUR, width=4)
    draw.line((box[2] + 80, box[3] + 60, box[2] + 10, box[3] + 10), fill=MARK_COLOUR, width=4)
    return layer


def markup_png(size: tuple[int, int] = SIZE) -> bytes:
    return png_bytes(marks_layer(size))


def pixels(image: Any) -> Any:
    import numpy as np

    pil = image.to_pil() if isinstance(image, nbimages.Image) else image
    return np.asarray(pil.convert("RGB")).astype(int)


def photo_pil(data: bytes) -> Any:
    from PIL import Image as PIL

    return PIL.open(io.BytesIO(data))


def changed_pixels(before: Any, after: Any) -> Any:
    return (pixels(before) != pixels(after)).any(axis=-1)


@pytest.fixture
def photo() -> bytes:
    return scene_png(SIZE)


# -- the client and the simulator over HTTP -----------------------------------------------------
def test_an_edit_changes_only_the_pixels_near_the_marks(server_client: nbimages.Client, sim_server: Any,
                                                         photo: bytes) -> None:
    import numpy as np

    markup = markup_png()
    [edited] = server_client.edit("put a lamp in the box", photo, markup=markup, model=MODEL)

    [request] = sim_server.simulator.requests
    assert request.path == "/v1/images/edits" and request.files["markup"][0].data == markup
    assert "mask" not in request.files
    assert (edited.width, edited.height) == SIZE
    changed = changed_pixels(photo_pil(photo), edited)
    marked = np.asarray(marks_layer().getchannel("A")) > 0
    left, top, _right, bottom = BOX
    assert changed[marked].mean() > 0.95  # the marks show through
    assert changed[top + 20:bottom - 20, left - 8].all()  # just outside the box's left side
    assert changed[top + 20:bottom - 20, left + 10].all()  # just inside it
    assert not changed[:, 360:].any() and not changed[300:, :].any() and not changed[:40].any()  # far away
    red_shift = pixels(edited)[top, left + 60, 0] - pixels(photo_pil(photo))[top, left + 60, 0]
    assert red_shift > 0  # the mark's red is blended in


def test_two_different_markups_make_two_different_edits(server_client: nbimages.Client, photo: bytes) -> None:
    first = server_client.edit("a lamp", photo, markup=markup_png(), model=MODEL)[0]
    moved = png_bytes(marks_layer(box=(260, 200, 380, 280)))
    second = server_client.edit("a lamp", photo, markup=moved, model=MODEL)[0]
    assert first.data != second.data
    assert not changed_pixels(photo_pil(photo), second)[:90].any()  # the second box is lower down


def jpeg_markup() -> bytes:
    buffer = io.BytesIO()
    marks_layer().convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


def opaque_markup() -> bytes:
    from PIL import Image as PIL

    return png_bytes(PIL.new("RGBA", SIZE, (255, 0, 0, 255)))


BAD_MARKUPS = {
    "a JPEG": (jpeg_markup, None),
    "no transparent pixel": (opaque_markup, None),
    "another size": (lambda: markup_png((256, 192)), None),
    "with a mask": (markup_png, lambda: box_mask(SIZE, (0, 0, 50, 50))),
}


@pytest.mark.parametrize("case", BAD_MARKUPS)
def test_a_bad_markup_is_refused_before_any_request(case: str, server_client: nbimages.Client, sim_server: Any,
                                                    photo: bytes) -> None:
    markup, mask = BAD_MARKUPS[case]
    with pytest.raises(nbimages.InvalidInputError) as refused:
        server_client.edit("a lamp", photo, markup=markup(), mask=mask() if mask else None, model=MODEL)
    assert refused.value.param == "markup"
    assert sim_server.simulator.requests == []


@pytest.mark.parametrize("case", BAD_MARKUPS)
def test_the_server_refuses_a_bad_markup_as_the_api_does(case: str, sim_server: Any, photo: bytes) -> None:
    markup, mask = BAD_MARKUPS[case]
    files = {"image": ("photo.png", photo, "image/png"), "markup": ("markup.png", markup(), "image/png")}
    if mask is not None:
        files["mask"] = ("mask.png", mask(), "image/png")
    reply = httpx.post(f"{sim_server.url}/images/edits", data={"prompt": "a lamp", "model": MODEL}, files=files,
                       headers={"Authorization": "Bearer sk-test"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "markup"
    assert "markup" in error["message"]


# -- %%imagine --markup ---------------------------------------------------------------------------
def file_part(request: Any, name: str) -> bytes:
    return bytes(request.files[name][0].data)


def final(outputs: list[Published]) -> Published:
    assert outputs[-1].kind == "final", [(o.kind, o.text) for o in outputs]
    return outputs[-1]


def write_photo(tmp_path: Path, photo: bytes) -> Path:
    path = tmp_path / "room.png"
    path.write_bytes(photo)
    return path


def test_magic_takes_a_markup_file(nb: Notebook, tmp_path: Path, photo: bytes) -> None:
    room = write_photo(tmp_path, photo)
    marks = tmp_path / "marks.png"
    marks.write_bytes(markup_png())
    final(nb.imagine(f"--edit {room} --markup {marks} -m {MODEL} -o lit", "a lamp in the box"))
    [request] = nb.requests()
    assert request.path == "/v1/images/edits"
    assert file_part(request, "markup") == marks.read_bytes() and file_part(request, "image") == photo
    assert "mask" not in request.files
    lit = nb.shell.user_ns["lit"]
    assert not changed_pixels(photo_pil(photo), lit)[300:].any() and changed_pixels(photo_pil(photo), lit).any()


def test_magic_takes_a_markup_variable_and_reuses_the_stored_result(nb: Notebook, tmp_path: Path,
                                                                   photo: bytes) -> None:
    room = write_photo(tmp_path, photo)
    nb.shell.user_ns["marks"] = marks_layer()  # a PIL image
    final(nb.imagine(f"--edit {room} --markup marks", "a lamp in the box"))
    [request] = nb.requests()
    assert (pixels(photo_pil(file_part(request, "markup"))) == pixels(marks_layer())).all()
    outputs = nb.imagine(f"--edit {room} --markup marks", "a lamp in the box")
    assert final(outputs).meta.get("cached") is True and len(nb.requests()) == 1
    nb.shell.user_ns["marks"] = png_bytes(marks_layer(box=(200, 150, 300, 250)))  # other marks: a new edit
    final(nb.imagine(f"--edit {room} --markup marks", "a lamp in the box"))
    assert len(nb.requests()) == 2


def test_magic_takes_last_as_the_markup(nb: Notebook, tmp_path: Path) -> None:
    final(nb.imagine("--size 1024x1024 --background transparent --output-format png", "a red arrow"))
    drawn = nb.conversation.image
    assert drawn is not None
    room = tmp_path / "room.png"
    room.write_bytes(scene_png((1024, 1024)))
    final(nb.imagine(f"--edit {room} --markup last", "a lamp where the arrow points"))
    request = nb.requests()[-1]
    assert request.path == "/v1/images/edits" and file_part(request, "markup") == drawn.data


def test_markup_without_edit_edits_the_current_image(nb: Notebook) -> None:
    final(nb.imagine("--size 512x384", "an empty room"))
    room = nb.conversation.image
    assert room is not None
    nb.shell.user_ns["marks"] = markup_png()
    final(nb.imagine("--markup marks", "a lamp in the box"))
    request = nb.requests()[-1]
    assert request.path == "/v1/images/edits" and file_part(request, "image") == room.data


def test_magic_takes_a_mask_painter_in_markup_mode(nb: Notebook, tmp_path: Path, photo: bytes) -> None:
    from nbimages.widgets import MaskPainter

    painter = MaskPainter(photo, mode="markup")
    nb.shell.user_ns.update(painter=painter, room=photo)
    [refused] = nb.imagine("--edit room --markup painter", "a lamp")  # nothing drawn yet
    assert refused.meta["error"] == "InvalidInputError" and "markup mode" in refused.text
    assert nb.requests() == []
    painter.set_markup(marks_layer())
    final(nb.imagine("--edit room --markup painter", "a lamp"))
    assert file_part(nb.requests()[-1], "markup") == painter.markup.data


@pytest.mark.parametrize(("options", "named"), [
    ("--edit room --mask mask --markup marks", "--mask"),
    ("--continue --markup marks", "--edit last --markup"),
])
def test_magic_refuses_markup_with_a_mask_or_continue_in_one_line(nb: Notebook, photo: bytes, options: str,
                                                                   named: str) -> None:
    nb.shell.user_ns.update(room=photo, marks=markup_png(), mask=box_mask(SIZE, (0, 0, 50, 50)))
    nb.shell.run_cell(f"%%imagine {options}\na lamp\n")
    out, err = nb.capfd.readouterr()
    [line] = [text for text in (out + err).splitlines() if "UsageError" in text]
    assert "--markup" in line and named in line and "Traceback" not in out + err
    assert nb.requests() == []


def test_help_of_the_magic_mentions_markup(nb: Notebook) -> None:
    nb.shell.run_cell("%%imagine?\n")
    out, _ = nb.capfd.readouterr()
    assert "--markup MARKUP" in out and "markup mode" in out and "--markup arrows.png" in out


# -- MaskPainter in markup mode -----------------------------------------------------------------
def view_sends(widget: Any, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
    """A custom message from the view, through ipywidgets' message handling (as tests/test_widgets.py)."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []})


def view_sets(widget: Any, **state: Any) -> None:
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def sent_images(widget: Any) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Start recording the image messages the widget sends to its views."""
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    original = widget._send

    def capture(msg: dict[str, Any], buffers: list[Any] | None = None) -> None:
        content = msg.get("content") if msg.get("method") == "custom" else None
        if isinstance(content, dict) and content.get("type") == "image":
            sent.append((content, [bytes(b) for b in buffers or []]))
        original(msg, buffers)

    widget._send = capture
    return sent


@pytest.fixture
def painter(photo: bytes) -> Any:
    from nbimages.widgets import MaskPainter

    return MaskPainter(photo)


def test_the_drawn_layer_from_the_view_is_the_markup(painter: Any) -> None:
    import numpy as np

    view_sets(painter, mode="markup")  # the toolbar's toggle
    drawn = marks_layer()
    view_sends(painter, {"action": "markup"}, [png_bytes(drawn)])

    markup = painter.markup
    assert isinstance(markup, nbimages.Image) and markup.format == "png" and (markup.width, markup.height) == SIZE
    assert (np.asarray(markup.to_pil().convert("RGBA")) == np.asarray(drawn)).all()
    assert painter.markup_pixels == int((np.asarray(drawn.getchannel("A")) > 0).sum())
    assert painter.markup_version == 1 and painter.error == ""
    assert painter.painted_pixels == 0 and painter.mask_version == 0  # the mask is another layer
    assert "markup mode" in repr(painter._static_text())


def test_a_markup_of_another_size_from_the_view_is_an_error(painter: Any) -> None:
    view_sends(painter, {"action": "markup"}, [markup_png((256, 192))])
    assert painter.error.startswith("InvalidInputError") and "512x384" in painter.error
    assert painter.markup_version == 0 and painter.markup_pixels == 0


def test_switching_modes_keeps_both_layers(painter: Any) -> None:
    import numpy as np

    area = np.zeros((SIZE[1], SIZE[0]), bool)
    area[:100] = True
    painter.set_painted(area)
    painter.mode = "markup"
    painter.set_markup(marks_layer())
    painter.mode = "mask"
    assert (painter.painted == area).all() and painter.markup_pixels > 0
    painter.clear()  # clears the layer of the current mode only
    assert painter.painted_pixels == 0 and painter.markup_pixels > 0
    painter.mode = "markup"
    painter.clear()
    assert painter.markup_pixels == 0 and painter.markup.to_pil().getchannel("A").getextrema() == (0, 0)


def test_set_markup_tells_the_views(painter: Any) -> None:
    sent = sent_images(painter)
    painter.set_markup(marks_layer())
    [(message, [data])] = [(m, b) for m, b in sent if m["slot"] == "markup"]
    assert message["width"] == SIZE[0] and data == painter.markup.data
    sent.clear()
    view_sends(painter, {"action": "hello"})  # a new view: backdrop and the marks so far
    assert [m["slot"] for m, _ in sent] == ["backdrop", "markup"]
    with pytest.raises(nbimages.InvalidInputError):
        painter.set_markup(marks_layer((100, 100)))


def test_edit_in_markup_mode_sends_the_markup(painter: Any, server_client: nbimages.Client, sim_server: Any,
                                              photo: bytes) -> None:
    painter.mode = "markup"
    with pytest.raises(nbimages.InvalidInputError, match="markup mode"):  # nothing drawn yet
        painter.edit("a lamp", client=server_client, model=MODEL)
    assert sim_server.simulator.requests == []

    view_sends(painter, {"action": "markup"}, [markup_png()])
    [result] = painter.edit("a lamp", client=server_client, model=MODEL)
    [request] = sim_server.simulator.requests
    assert request.files["markup"][0].data == painter.markup.data and "mask" not in request.files
    assert result.path is not None  # stored
    assert "markup" in painter.caption and painter.error == ""
    assert not changed_pixels(photo_pil(photo), result)[300:].any()


def test_the_pen_colour_is_a_hex_colour(painter: Any) -> None:
    view_sets(painter, color="#0A84FF")
    assert painter.color == "#0a84ff"
    with pytest.raises(nbimages.InvalidInputError):
        painter.color = "blue"

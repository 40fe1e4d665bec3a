"""Animated GIF and SVG output, end to end: the simulator makes them, the client receives
them, the store keeps them byte for byte with a sidecar, and every view shows a GIF still
animated and an SVG only as an ``<img>`` from a data URL (never inline, where its scripts
would run)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image as PIL

import nbimages
from nbimages import Image, VectorImageError
from nbimages.display import image_bundle, preview
from nbimages.image import decode_problem, header_problem, sniff
from nbimages.store import Store, read_provenance
from nbimages.widgets import _wire

from _notebook import Notebook

SVG_NS = 'xmlns="http://www.w3.org/2000/svg"'
MALICIOUS_SVG = (f'<svg {SVG_NS} width="64" height="32"><script>alert("owned")</script>'
                 '<rect width="64" height="32" fill="red" onload="alert(1)"/></svg>').encode()
IMG_DATA_URL = re.compile(r'<img [^>]*src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"')


def gif_frames(data: bytes) -> list[tuple[bytes, int]]:
    """Every frame's RGB pixels and duration."""
    with PIL.open(io.BytesIO(data)) as gif:
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append((gif.convert("RGB").tobytes(), gif.info["duration"]))
        return frames


def animated_gif(frames: int = 4, size: tuple[int, int] = (600, 300), duration: int = 120) -> bytes:
    pictures = [PIL.new("RGB", size, (40 * i, 90, 200 - 40 * i)) for i in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, "GIF", save_all=True, append_images=pictures[1:], duration=duration, loop=0)
    return buffer.getvalue()


@pytest.fixture
def gif(server_client: nbimages.Client) -> Image:
    [image] = server_client.generate("a fox running", output_format="gif", frame_count=5,
                                     frame_duration_ms=123, size="256x256", quality="low")
    return image


@pytest.fixture
def svg(server_client: nbimages.Client) -> Image:
    [image] = server_client.generate("a lighthouse logo", output_format="svg", size="1536x1024", quality="low")
    return image


# -- from the simulator, through the client --------------------------------------------------
def test_a_gif_has_the_frames_asked_for_each_different_at_the_duration_asked(gif: Image) -> None:
    assert (gif.format, gif.mime_type, gif.size) == ("gif", "image/gif", (256, 256))
    assert gif.frame_count == 5 and gif.is_animated
    frames = gif_frames(gif.data)
    assert len(frames) == 5
    assert len({pixels for pixels, _ in frames}) == 5
    assert {duration for _, duration in frames} == {120}  # rounded to 10 ms, as the API does
    assert decode_problem(gif.data) is None
    assert gif.params["output_format"] == "gif"


def test_an_svg_is_a_valid_document_of_the_size_asked(svg: Image) -> None:
    assert (svg.format, svg.mime_type, svg.size) == ("svg", "image/svg+xml", (1536, 1024))
    assert svg.frame_count == 1 and not svg.is_animated
    assert decode_problem(svg.data) is None
    assert svg.data.lstrip().startswith(b"<?xml") and b"<svg" in svg.data


def test_the_simulator_refuses_what_whole_formats_do_not_support(sim_server: Any, png: Any) -> None:
    refused = [
        ("/images/generations", {"output_format": "gif", "stream": True}, "stream"),
        ("/images/generations", {"output_format": "svg", "stream": True}, "stream"),
        ("/images/generations", {"output_format": "gif", "partial_images": 2}, "partial_images"),
        ("/images/generations", {"output_format": "svg", "partial_images": 1}, "partial_images"),
        ("/images/generations", {"output_format": "gif", "output_compression": 50}, "output_compression"),
        ("/images/generations", {"output_format": "svg", "n": 2}, "n"),
        ("/images/generations", {"output_format": "png", "frame_count": 4}, "frame_count"),
        ("/images/generations", {"output_format": "gif", "frame_count": 1}, "frame_count"),
    ]
    with httpx.Client(base_url=sim_server.url, headers={"authorization": "Bearer sk-test"}, timeout=60) as http:
        for path, body, param in refused:
            reply = http.post(path, json={"prompt": "a fox", **body})
            assert reply.status_code == 400, body
            assert reply.json()["error"]["param"] == param, body
        mask = {"image_url": _data_url(_transparent_png())}
        edit = http.post("/images/edits", json={"prompt": "a fox", "output_format": "gif",
                                                "images": [mask], "mask": mask})
        assert edit.status_code == 400 and edit.json()["error"]["param"] == "mask"
        tool = {"type": "image_generation", "output_format": "gif", "partial_images": 1}
        turn = http.post("/responses", json={"model": "gpt-5", "input": "draw", "tools": [tool]})
        assert turn.status_code == 400 and turn.json()["error"]["param"] == "tools[0].partial_images"


def test_edits_and_the_responses_tool_give_gif_and_svg(server_client: nbimages.Client) -> None:
    source = Image(_transparent_png())
    [edited] = server_client.edit("make it snow", image=source, output_format="gif", frame_count=3,
                                  size="256x256")
    assert edited.format == "gif" and edited.frame_count == 3
    reply = server_client.respond("draw a kite", tools=[{"type": "image_generation", "output_format": "svg",
                                                         "size": "1024x1024"}])
    [drawn] = reply.images
    assert drawn.format == "svg" and drawn.size == (1024, 1024) and decode_problem(drawn.data) is None


# -- Image ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("head", "size"), [
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">', (300, 200)),
    (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- made by hand -->\n<svg xmlns="http://www.w3.org/2000/svg" '
     b'width="300px" height="200px">', (300, 200)),
    (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 48">', (64, 48)),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="128" viewBox="0,0,64,48">', (128, 96)),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10cm" height="5cm">', (None, None)),
])
def test_svg_is_sniffed_with_its_size(head: bytes, size: tuple[int | None, int | None]) -> None:
    data = head + b"<rect width='1' height='1'/></svg>"
    assert sniff(data) == ("svg", *size)
    assert decode_problem(data) is None


def test_an_svg_with_entities_or_another_root_is_refused() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
              b'<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>')
    assert decode_problem(laughs) is not None
    assert "DOCTYPE" in (decode_problem(b'<!DOCTYPE svg><svg xmlns="http://www.w3.org/2000/svg"/>') or "")
    assert "does not parse" in (decode_problem(b'<svg width="4" height="4"><g></svg>') or "")
    assert header_problem(b"<html><svg/></html>") is not None


def test_frame_count_is_read_from_the_blocks() -> None:
    assert Image(animated_gif(frames=7)).frame_count == 7
    assert Image(_transparent_png()).frame_count == 1
    still = io.BytesIO()
    PIL.new("RGB", (8, 8)).save(still, "GIF")
    assert Image(still.getvalue()).frame_count == 1
    assert Image(MALICIOUS_SVG).frame_count == 1


def test_pixels_of_an_svg_ask_for_a_rasteriser() -> None:
    image = Image(MALICIOUS_SVG)
    with pytest.raises(VectorImageError) as caught:
        image.to_pil()
    assert isinstance(caught.value, nbimages.NbImagesError) and "cairosvg" in caught.value.hint
    with pytest.raises(VectorImageError):
        image.to_numpy()


def test_thumbnails_keep_the_animation_and_the_svg() -> None:
    big = Image(animated_gif(frames=4, size=(800, 400), duration=150))
    small = big.thumbnail(200)
    assert small.format == "gif" and small.size == (200, 100) and small.frame_count == 4
    assert [d for _, d in gif_frames(small.data)] == [150] * 4
    svg = Image(MALICIOUS_SVG)
    assert svg.thumbnail(16) is svg


def test_an_svg_is_only_ever_an_img_from_a_data_url() -> None:
    image = Image(MALICIOUS_SVG, prompt='"><script>alert(2)</script>')
    data, meta = image._repr_mimebundle_()
    assert set(data) == {"text/html", "text/plain"}
    assert "image/svg+xml" not in meta and image._repr_png_() is None
    _only_inside_img(data["text/html"])
    assert "<script>alert(2)" not in data["text/html"]  # the prompt, as alt text, is escaped


def test_an_animated_gif_is_shown_as_a_gif() -> None:
    data, meta = Image(animated_gif())._repr_mimebundle_()
    assert data["image/gif"][:6] == b"GIF89a"
    assert meta["nbimages"]["frame_count"] == 4


def test_notebook_previews_animate_a_gif_and_keep_the_svg() -> None:
    gif = Image(animated_gif(frames=4, size=(900, 450)))
    shown = preview(gif, 256)
    assert shown.format == "gif" and shown.frame_count == 4 and max(shown.size) == 256
    html = image_bundle([Image(MALICIOUS_SVG)])[0]["text/html"]
    _only_inside_img(html)
    assert "4 frames" in image_bundle([gif])[0]["text/plain"]


def test_widgets_get_the_gif_and_the_svg_bytes_not_a_still_copy() -> None:
    gif = Image(animated_gif(frames=3, size=(2400, 1200)))
    data, mime = _wire.preview_bytes(gif)
    assert mime == "image/gif" and Image(data).frame_count == 3 and max(Image(data).size) == 768
    assert _wire.preview_bytes(Image(MALICIOUS_SVG)) == (MALICIOUS_SVG, "image/svg+xml")
    assert _wire.strip_thumbnail(Image(MALICIOUS_SVG), 96) == (MALICIOUS_SVG, "image/svg+xml")
    assert _wire.encode_thumbnail(Image(MALICIOUS_SVG)) == b""  # synced state stays a still WebP, or nothing


# -- the store --------------------------------------------------------------------------------
def test_the_store_keeps_gif_and_svg_bytes_with_a_sidecar(tmp_path: Path, gif: Image, svg: Image) -> None:
    store = Store(tmp_path / "home")
    saved_gif, saved_svg = store.save(gif), store.save(svg)
    assert saved_gif.path is not None and saved_gif.path.suffix == ".gif"
    assert saved_svg.path is not None and saved_svg.path.suffix == ".svg"
    assert saved_gif.path.read_bytes() == gif.data and saved_svg.path.read_bytes() == svg.data
    provenance = read_provenance(saved_gif.path)
    assert provenance["prompt"] == "a fox running" and provenance["frame_count"] == 5
    assert json.loads(Path(f"{saved_svg.path}.json").read_text())["prompt"] == "a lighthouse logo"
    assert Image.open(saved_gif.path).frame_count == 5

    thumb = store.thumbnail(provenance["id"], max_side=64)
    assert sniff(thumb)[0] == "gif" and Image(thumb).frame_count == 5
    assert store.thumbnail(read_provenance(saved_svg.path)["id"]) == svg.data

    (store.home / "index.sqlite").unlink()  # a lost index is rebuilt from the files and sidecars
    again = Store(store.home)
    again.reindex()
    records = {r.format: r for r in again.list()}
    assert set(records) == {"gif", "svg"}
    assert records["svg"].prompt == "a lighthouse logo" and records["gif"].load().frame_count == 5


# -- the magic ----------------------------------------------------------------------------------
def test_imagine_gif_stores_the_gif_and_shows_an_animated_preview(nb: Notebook) -> None:
    nb.run("%config Imagine.preview_size = 128\n")
    outputs = nb.imagine("--output-format gif --size 256x256 --quality low -o fox", "a fox running in snow")
    final = outputs[-1]
    assert final.kind == "final"
    stored = nb.shell.user_ns["fox"]
    assert stored.path is not None and stored.path.suffix == ".gif" and stored.path.is_file()
    assert stored.path.read_bytes() == stored.data and stored.frame_count == 9
    [payload] = re.findall(r'src="data:image/gif;base64,([A-Za-z0-9+/=]+)"', final.html)
    shown = Image(base64.b64decode(payload))
    assert shown.frame_count == 9 and max(shown.size) == 128
    assert final.meta["frame_count"] == 9
    assert [r.json.get("stream") for r in nb.requests("/images/generations")] == [None]


def test_imagine_svg_shows_an_img_never_inline_svg(nb: Notebook) -> None:
    outputs = nb.imagine("--output-format svg --size 1024x1024", "a minimal mountain logo")
    final = outputs[-1]
    _only_inside_img(final.html)
    assert "image/svg+xml" not in final.data
    assert nb.conversation.image is not None and nb.conversation.image.path.suffix == ".svg"


# -- helpers --------------------------------------------------------------------------------------
def _only_inside_img(html: str) -> None:
    """The SVG's markup is nowhere in the page but inside an <img>'s data URL."""
    assert "<svg" not in html and "<script" not in html.replace("&lt;script", "")
    [payload] = IMG_DATA_URL.findall(html)
    assert b"<svg" in base64.b64decode(payload)


def _transparent_png() -> bytes:
    buffer = io.BytesIO()
    PIL.new("RGBA", (256, 256), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()

"""nbimages sends what the official SDK sends: the same calls from both clients to one server
on 127.0.0.1, the requests it recorded compared after normalising what may differ (multipart
boundaries, file names and content types; the bytes of every file must be the same)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image as PIL

import nbimages
from nbimages import config

from _images import make_png

openai = pytest.importorskip("openai")

PICTURE = make_png((64, 64), (200, 30, 30))


def markup_png(size: tuple[int, int] = (64, 64)) -> bytes:
    """A transparent layer with one red stroke on it."""
    layer = PIL.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (10, 10, 40, 14))
    buffer = io.BytesIO()
    layer.save(buffer, format="PNG")
    return buffer.getvalue()


def normalised(request: Any) -> dict[str, Any]:
    files = {name: sorted(f.data for f in parts) for name, parts in request.files.items()}
    return {"method": request.method, "path": request.path, "json": request.json, "form": request.form,
            "files": files}


def last_request(server: Any, call: Callable[[], Any]) -> dict[str, Any]:
    """What the server saw of ``call`` (which may be refused: the request is what counts here)."""
    before = len(server.simulator.requests)
    with contextlib.suppress(nbimages.NbImagesError, openai.OpenAIError):
        call()
    requests = server.simulator.requests[before:]
    assert len(requests) == 1, [r.path for r in requests]
    return normalised(requests[0])


@pytest.fixture
def clients(sim_server: Any) -> Any:
    ours = nbimages.Client(api_key="sk-wire-test", base_url=sim_server.url, max_retries=0)
    sdk = openai.OpenAI(api_key="sk-wire-test", base_url=sim_server.url, max_retries=0)
    yield ours, sdk
    ours.close()
    sdk.close()


CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "generate": (
        lambda c: c.generate("a red fox", model="gpt-image-1.5", size="1024x1024", quality="low"),
        lambda s: s.images.generate(prompt="a red fox", model="gpt-image-1.5", size="1024x1024", quality="low"),
    ),
    "edit with markup": (
        lambda c: c.edit("make it a star", PICTURE, markup=markup_png(), model="gpt-image-2.5-flare"),
        lambda s: s.images.edit(prompt="make it a star", image=PICTURE, markup=markup_png(),
                                model="gpt-image-2.5-flare"),
    ),
    "edit with svg options (nested fields)": (
        lambda c: c.edit("as a logo", PICTURE, model="gpt-image-2", output_format="svg",
                         svg={"model": "svg-author-1", "reasoning": {"effort": "low"}}),
        lambda s: s.images.edit(prompt="as a logo", image=PICTURE, model="gpt-image-2", output_format="svg",
                                svg={"model": "svg-author-1", "reasoning": {"effort": "low"}}),
    ),
    "edit of two images, streamed": (
        lambda c: c.edit("both", [PICTURE, make_png((64, 64), (0, 0, 255))], model="gpt-image-1.5",
                         stream=True, partial_images=1).until_done(),
        lambda s: list(s.images.edit(prompt="both", image=[PICTURE, make_png((64, 64), (0, 0, 255))],
                                     model="gpt-image-1.5", stream=True, partial_images=1)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_request_is_the_sdks(case: str, clients: Any, sim_server: Any) -> None:
    ours, sdk = clients
    call_ours, call_sdk = CASES[case]
    mine = last_request(sim_server, lambda: call_ours(ours))
    theirs = last_request(sim_server, lambda: call_sdk(sdk))
    assert mine == theirs


def test_nested_options_are_bracketed_fields_and_a_markup_is_a_file(clients: Any, sim_server: Any) -> None:
    ours, _ = clients
    sent = last_request(sim_server, lambda: ours.edit(
        "as a logo", PICTURE, markup=markup_png(), model="gpt-image-2.5-flare", output_format="svg",
        svg={"model": "svg-author-1", "reasoning": {"effort": "low"}}))
    assert sent["form"]["svg[model]"] == "svg-author-1" and sent["form"]["svg[reasoning][effort]"] == "low"
    assert "svg" not in sent["form"] and "markup" not in sent["form"]
    assert sent["files"]["markup"] == [markup_png()]


def test_a_conversation_names_the_image_model_in_its_tool(sim_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBIMAGES_IMAGE_MODEL", "gpt-image-1-mini")
    with nbimages.Client(api_key="sk-wire-test", base_url=sim_server.url) as client:
        conv = nbimages.Conversation(client, store=False)
        conv.send("a lighthouse", size="1024x1024", quality="low")
        conv.image_model = "gpt-image-1.5"
        conv.send("now at night", size="1024x1024", quality="low")
    tools = [r.json["tools"][0] for r in sim_server.simulator.requests if r.path.endswith("/responses")]
    assert [t["model"] for t in tools] == ["gpt-image-1-mini", "gpt-image-1.5"]
    assert config.image_model() == "gpt-image-1-mini"

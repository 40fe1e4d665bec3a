"""nbimages sends what the official SDK sends: the same calls from both clients to one server
on 127.0.0.1, the requests it recorded compared after normalising what may differ (multipart
boundaries, file names and content types; the bytes of every file must be the same)."""

from __future__ import annotations

import base64
import contextlib
import io
import re
import typing
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image as PIL

import nbimages
from nbimages import config, models
from nbimages.options import KNOWN_VALUES

from _images import make_png

openai = pytest.importorskip("openai")

PICTURE = make_png((64, 64), (200, 30, 30))
MASK = make_png((64, 64), (0, 0, 0, 0), "RGBA")
DATA_URL = "data:image/png;base64," + base64.b64encode(PICTURE).decode()


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
    "generate with today's options": (
        lambda c: c.generate("a red fox", model="gpt-image-2.5-sunburst", size="1536x864", quality="xhigh",
                             complexity="high", safety_identifier="user-1f2e", moderation="low", n=2),
        lambda s: s.images.generate(prompt="a red fox", model="gpt-image-2.5-sunburst", size="1536x864",
                                    quality="xhigh", complexity="high", safety_identifier="user-1f2e",
                                    moderation="low", n=2),
    ),
    "generate, streamed with partials": (
        lambda c: c.generate("a red fox", model="gpt-image-2", size="2048x1152", quality="high",
                             stream=True, partial_images=2, output_format="webp",
                             output_compression=80).until_done(),
        lambda s: list(s.images.generate(prompt="a red fox", model="gpt-image-2", size="2048x1152", quality="high",
                                         stream=True, partial_images=2, output_format="webp",
                                         output_compression=80)),
    ),
    "generate an animated GIF": (
        lambda c: c.generate("a spinning coin", model="gpt-image-2.5-flare", output_format="gif", frame_count=12,
                             frame_duration_ms=120, size="1024x1024"),
        lambda s: s.images.generate(prompt="a spinning coin", model="gpt-image-2.5-flare", output_format="gif",
                                    frame_count=12, frame_duration_ms=120, size="1024x1024"),
    ),
    "generate an SVG with its author": (
        lambda c: c.generate("a fox logo", model="gpt-image-2", output_format="svg", complexity="low",
                             svg={"model": "gpt-5", "reasoning": {"effort": "minimal"}}),
        lambda s: s.images.generate(prompt="a fox logo", model="gpt-image-2", output_format="svg", complexity="low",
                                    svg={"model": "gpt-5", "reasoning": {"effort": "minimal"}}),
    ),
    "generate, transparent": (
        lambda c: c.generate("a sticker", model="gpt-image-1.5", background="transparent", output_format="png",
                             size="1024x1536"),
        lambda s: s.images.generate(prompt="a sticker", model="gpt-image-1.5", background="transparent",
                                    output_format="png", size="1024x1536"),
    ),
    "edit with a mask and input fidelity": (
        lambda c: c.edit("a hat", PICTURE, mask=MASK, model="gpt-image-1.5", input_fidelity="high",
                         quality="low", safety_identifier="user-1f2e"),
        lambda s: s.images.edit(prompt="a hat", image=PICTURE, mask=MASK, model="gpt-image-1.5",
                                input_fidelity="high", quality="low", safety_identifier="user-1f2e"),
    ),
    "edit to an animated GIF": (
        lambda c: c.edit("make it wave", PICTURE, model="gpt-image-2.5-flare", output_format="gif", frame_count=4,
                         complexity="medium"),
        lambda s: s.images.edit(prompt="make it wave", image=PICTURE, model="gpt-image-2.5-flare",
                                output_format="gif", frame_count=4, complexity="medium"),
    ),
    "responses: the image tool with today's options": (
        lambda c: c.respond("a fox", model="gpt-5", tools=[{
            "type": "image_generation", "model": "gpt-image-2.5-flare", "quality": "max", "complexity": "high",
            "size": "1536x864", "action": "generate"}], safety_identifier="user-1f2e"),
        lambda s: s.responses.create(input="a fox", model="gpt-5", tools=[{
            "type": "image_generation", "model": "gpt-image-2.5-flare", "quality": "max", "complexity": "high",
            "size": "1536x864", "action": "generate"}], safety_identifier="user-1f2e"),
    ),
    "responses: a GIF from the image tool": (
        lambda c: c.respond("a fox", model="gpt-5", tools=[{
            "type": "image_generation", "output_format": "gif", "frame_count": 6, "frame_duration_ms": 90}]),
        lambda s: s.responses.create(input="a fox", model="gpt-5", tools=[{
            "type": "image_generation", "output_format": "gif", "frame_count": 6, "frame_duration_ms": 90}]),
    ),
    "responses: an SVG from the image tool, streamed": (
        lambda c: c.respond("a fox logo", model="gpt-5", stream=True, tools=[{
            "type": "image_generation", "output_format": "svg",
            "svg": {"model": "gpt-5", "reasoning": {"effort": "low"}}}]).until_done(),
        lambda s: list(s.responses.create(input="a fox logo", model="gpt-5", stream=True, tools=[{
            "type": "image_generation", "output_format": "svg",
            "svg": {"model": "gpt-5", "reasoning": {"effort": "low"}}}])),
    ),
    "vision": (
        lambda c: c.describe(PICTURE, "what colour?", model="gpt-5", detail="low"),
        lambda s: s.responses.create(model="gpt-5", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "what colour?"},
            {"type": "input_image", "image_url": DATA_URL, "detail": "low"}]}]),
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


# -- the SDK's own lists: the model table and the known values follow them ---------------------
def _literals(annotation: Any) -> set[str]:
    """The string literals anywhere inside a type annotation (Optional, Union, Literal...)."""
    args = typing.get_args(annotation)
    if not args:
        return set()
    if typing.get_origin(annotation) is typing.Literal:
        return {a for a in args if isinstance(a, str)}
    return set().union(*(_literals(a) for a in args))


def _field(typed_dict: Any, name: str) -> set[str]:
    return _literals(typing.get_type_hints(typed_dict, include_extras=False)[name])


def test_the_model_table_is_the_sdks_list() -> None:
    from openai.types import ImageModel

    sdk = set(typing.get_args(ImageModel))
    ours = set(models.IMAGE_MODELS) | set(models.RETIRED)
    snapshots = {m for m in sdk if models.rules_for(m) is not None and m not in models.IMAGE_MODELS}
    assert ours | snapshots == sdk
    assert all(re.search(r"-\d{4}-\d{2}-\d{2}$", m) for m in snapshots), snapshots


def test_known_values_are_the_sdks() -> None:
    from openai.types import image_generate_params as generate
    from openai.types.responses import tool_param

    params = generate.ImageGenerateParamsBase
    assert set(KNOWN_VALUES["quality"]) | {"standard", "hd"} == _field(params, "quality")
    assert set(KNOWN_VALUES["output_format"]) == _field(params, "output_format")
    assert set(KNOWN_VALUES["complexity"]) == _field(params, "complexity")
    assert set(KNOWN_VALUES["background"]) == _field(params, "background")
    assert set(KNOWN_VALUES["moderation"]) == _field(params, "moderation")
    assert set(config.SVG_EFFORTS) == _field(generate.SvgReasoning, "effort")
    assert set(KNOWN_VALUES["quality"]) == _field(tool_param.ImageGeneration, "quality")
    assert set(KNOWN_VALUES["input_fidelity"]) == _field(tool_param.ImageGeneration, "input_fidelity")

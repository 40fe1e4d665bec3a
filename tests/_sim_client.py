"""Requests to the simulator through httpx, shared by the simulator's tests."""

from __future__ import annotations

from typing import Any

import httpx

from _sim_fixtures import data_url, sse_json

BASE = "http://simulator.test/v1"


def gen(client: httpx.Client, **body: Any) -> httpx.Response:
    body.setdefault("prompt", "a red circle")
    body.setdefault("size", "256x256")
    return client.post("/images/generations", json=body)


def stream_events(client: httpx.Client, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    r = client.post(path, **kwargs)
    assert r.status_code == 200, r.text
    return sse_json(r.content)


def edit(client: httpx.Client, image: bytes, mask: bytes | None = None, **fields: Any) -> httpx.Response:
    """``POST /images/edits`` (multipart) of ``image``, prompt "add a yellow star" by default."""
    files = [("image", ("in.png", image, "image/png"))]
    if mask is not None:
        files.append(("mask", ("mask.png", mask, "image/png")))
    data = {"prompt": "add a yellow star", **{k: str(v) for k, v in fields.items()}}
    return client.post("/images/edits", files=files, data=data)


def respond(client: httpx.Client, input: Any, **body: Any) -> dict[str, Any]:
    """A Responses API reply (the image_generation tool at 256x256 unless ``tools`` is given)."""
    body.setdefault("tools", [{"type": "image_generation", "size": "256x256"}])
    r = client.post("/responses", json={"model": "gpt-5", "input": input, **body})
    assert r.status_code == 200, r.text
    return r.json()


def vision(client: httpx.Client, image: bytes, question: str = "What is in this image?",
           detail: str = "auto", stream: bool = False) -> Any:
    body = {"model": "gpt-4.1", "stream": stream, "input": [{
        "role": "user", "content": [{"type": "input_text", "text": question},
                                    {"type": "input_image", "image_url": data_url(image),
                                     "detail": detail}]}]}
    return client.post("/responses", json=body)


def output_text(resp: dict[str, Any]) -> str:
    return "".join(c["text"] for o in resp["output"] if o["type"] == "message"
                   for c in o["content"] if c["type"] == "output_text")

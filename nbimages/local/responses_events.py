"""The events of a streamed Responses API reply, numbered by ``sequence_number``.

``response.created`` and ``response.in_progress``; then, if the image_generation tool was
called, its item's events with the partial images; then the message's text in word-aligned
deltas; and ``response.completed`` with the whole response.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .codec import b64, encode

if TYPE_CHECKING:
    from .painter import Painter
    from .responses_api import Reply, Turn


def response_events(painter: Painter, turn: Turn, reply: Reply) -> Iterator[dict[str, Any]]:
    """Every event of the reply, numbered."""
    for n, event in enumerate(_lifecycle(painter, turn, reply)):
        event["sequence_number"] = n
        yield event


def _lifecycle(painter: Painter, turn: Turn, reply: Reply) -> Iterator[dict[str, Any]]:
    yield {"type": "response.created", "response": reply.shell.snapshot("in_progress", [])}
    yield {"type": "response.in_progress", "response": reply.shell.snapshot("in_progress", [])}
    index = 0
    if turn.item is not None:
        yield from _image_call(painter, turn, index)
        index += 1
    yield from _message(reply.message, index)
    yield {"type": "response.completed", "response": reply.completed}


def _image_call(painter: Painter, turn: Turn, index: int) -> Iterator[dict[str, Any]]:
    """The tool call's events; its partial images are the painter's, before the final one."""
    assert turn.item is not None and turn.final is not None and turn.call is not None
    item, opts = turn.item, turn.call.options
    iid = item["id"]
    yield {"type": "response.output_item.added", "output_index": index,
           "item": {"id": iid, "type": "image_generation_call", "status": "in_progress", "result": None}}
    yield {"type": "response.image_generation_call.in_progress", "output_index": index, "item_id": iid}
    yield {"type": "response.image_generation_call.generating", "output_index": index, "item_id": iid}
    for k in range(opts.partial_images):
        part = encode(painter.partial(turn.final, k, opts.partial_images), opts.output_format,
                      opts.compression, provenance=False)
        yield {"type": "response.image_generation_call.partial_image", "output_index": index,
               "item_id": iid, "partial_image_index": k, "partial_image_b64": b64(part),
               "size": item["size"], "quality": item["quality"], "background": item["background"],
               "output_format": item["output_format"]}
    yield {"type": "response.image_generation_call.completed", "output_index": index, "item_id": iid}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def _message(message: dict[str, Any], index: int) -> Iterator[dict[str, Any]]:
    msg_id = message["id"]
    part = message["content"][0]
    answer = part["text"]
    at = {"item_id": msg_id, "output_index": index, "content_index": 0}
    yield {"type": "response.output_item.added", "output_index": index,
           "item": {**message, "status": "in_progress", "content": []}}
    yield {"type": "response.content_part.added", **at,
           "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}
    for piece in split_text(answer):
        yield {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
    yield {"type": "response.output_text.done", **at, "text": answer, "logprobs": []}
    yield {"type": "response.content_part.done", **at, "part": part}
    yield {"type": "response.output_item.done", "output_index": index, "item": message}


def split_text(text: str, pieces: int = 8) -> list[str]:
    """Cut ``text`` into word-aligned deltas (at least 3 when the text allows)."""
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) <= 1:
        return [text] if text else []
    per = max(1, math.ceil(len(words) / pieces))
    return ["".join(words[i:i + per]) for i in range(0, len(words), per)]

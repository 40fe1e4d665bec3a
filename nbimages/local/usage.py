"""Token counts for the ``usage`` of replies, as the API computes them (approximately)."""

from __future__ import annotations

import math
from typing import Any

# output tokens of one 1024x1024 image, by quality
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
PARTIAL_TOKENS = 100  # each partial image streamed


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def image_output_tokens(size: tuple[int, int], quality: str) -> int:
    base = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["medium"])
    return max(16, round(base * size[0] * size[1] / (1024 * 1024)))


def vision_tokens(size: tuple[int, int], detail: str | None, model: str) -> int:
    """An input image seen by a mainline model: fit in 2048², short side to 768, 512-px tiles."""
    base, tile = (70, 140) if model.startswith("gpt-5") else (85, 170)
    if detail == "low":
        return base
    w, h = float(size[0]), float(size[1])
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h)) if min(w, h) > 0 else 1.0
    w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return base + tile * tiles


def image_input_tokens(size: tuple[int, int], fidelity: str | None) -> int:
    """An input image of an edit; ``input_fidelity="high"`` costs extra."""
    w, h = float(size[0]), float(size[1])
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 512 / min(w, h)) if min(w, h) > 0 else 1.0
    tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
    tokens = 65 + 129 * tiles
    if fidelity == "high":
        tokens += 4096 if max(size) >= 1024 else 1024
    return tokens


def image_usage(prompt: str, out_tokens: int, image_tokens: int = 0) -> dict[str, Any]:
    """The usage of making images: the Images API's ``usage``, the Responses tool's ``image_gen``."""
    tt = text_tokens(prompt)
    return {"input_tokens": tt + image_tokens,
            "input_tokens_details": {"text_tokens": tt, "image_tokens": image_tokens},
            "output_tokens": out_tokens,
            "output_tokens_details": {"image_tokens": out_tokens, "text_tokens": 0},
            "total_tokens": tt + image_tokens + out_tokens}


def response_usage(input_tokens: int, answer: str) -> dict[str, Any]:
    """The usage of a Responses API reply whose text is ``answer``."""
    out = text_tokens(answer)
    return {"input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + out}

"""What each image model accepts, as the official SDK documents it (openai 3.57's types).

Model names stay open strings: a model this table does not list (a compatible server's, or
one newer than the table) gets the generic checks only, and so does every option the SDK
leaves undocumented for a listed model. Nothing is refused on a guess.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "IMAGE_MODELS",
    "MAX_OUTPUT_PIXELS",
    "RETIRED",
    "STANDARD_SIZES",
    "ModelRules",
    "retirement",
    "rules_for",
]

MAX_OUTPUT_PIXELS = 3840 * 2160
STANDARD_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
_QUALITIES = ("auto", "low", "medium", "high")
_EXTRA_QUALITIES = ("auto", "low", "medium", "high", "xhigh", "max")


class ModelRules(NamedTuple):
    """What one model takes; ``None`` means the SDK does not say (anything passes).

    ``sizes`` is the whole list for models with fixed sizes (None: any WIDTHxHEIGHT within
    the bounds); ``min_pixels``/``max_pixels`` bound the total of a WIDTHxHEIGHT size;
    an empty ``input_fidelity`` means the parameter must be left out.
    """

    sizes: frozenset[str] | None = None
    min_pixels: int = 0
    max_pixels: int = MAX_OUTPUT_PIXELS
    qualities: tuple[str, ...] | None = None
    input_fidelity: tuple[str, ...] | None = None
    markup: bool | None = None


_FIXED_SIZES = ModelRules(sizes=STANDARD_SIZES, qualities=_QUALITIES, markup=False)
# 655,360 pixels (1024x640) is the floor OpenAI's guide gives for flexible sizes.
_FLEXIBLE_SIZES = ModelRules(min_pixels=655_360, max_pixels=MAX_OUTPUT_PIXELS)
_GPT_IMAGE_2_5 = _FLEXIBLE_SIZES._replace(qualities=_EXTRA_QUALITIES, markup=True)

# The SDK's list of current models (ImageModel), newest first; dated snapshots share a row.
_RULES: dict[str, ModelRules] = {
    "gpt-image-2.6-sunburst": ModelRules(),
    "gpt-image-2.6-flare": ModelRules(),
    "gpt-image-2.5-sunburst": _GPT_IMAGE_2_5,
    "gpt-image-2.5-flare": _GPT_IMAGE_2_5,
    "gpt-image-2": _FLEXIBLE_SIZES._replace(qualities=_QUALITIES, input_fidelity=(), markup=False),
    "gpt-image-1.5": _FIXED_SIZES._replace(input_fidelity=("low", "high")),
    "gpt-image-1-mini": _FIXED_SIZES._replace(input_fidelity=("low",)),
    "chatgpt-image-latest": ModelRules(),
}
IMAGE_MODELS: tuple[str, ...] = tuple(_RULES)

RETIRED: dict[str, str] = {
    "gpt-image-1": "GPT Image 1 was shut down on October 23, 2026: use gpt-image-2.5-sunburst or "
                   "gpt-image-2.5-flare instead",
    "dall-e-2": "DALL·E 2 was retired on May 12, 2026: use a GPT image model such as gpt-image-2.6-sunburst",
    "dall-e-3": "DALL·E 3 was retired on May 12, 2026: use a GPT image model such as gpt-image-2.6-sunburst",
}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-image-2-2026-04-21 is gpt-image-2


def _family(model: object) -> str | None:
    if not isinstance(model, str):
        return None
    return _SNAPSHOT.sub("", model.strip().lower())


def rules_for(model: object) -> ModelRules | None:
    """The rules of ``model`` or of the model it is a dated snapshot of (None: not listed)."""
    family = _family(model)
    return _RULES.get(family) if family else None


def retirement(model: object) -> str | None:
    """Why ``model`` no longer works and what replaces it (None for a model in service)."""
    family = _family(model)
    return RETIRED.get(family) if family else None

"""The items of a run: each a validated request, its labels and its replay-cache key.

Items are checked up front with the very builders the clients use (`_requests`), so a bad
item is refused before any request is made, naming its index and the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._replay import image_request
from ._requests import Call, build_edit, build_generate
from .errors import InvalidInputError

__all__ = ["Item", "prepare_items"]

_EDIT_INPUTS = ("image", "mask", "markup")
_REFUSED = {"stream": "nothing: the items of a run are not streamed"}


@dataclass
class Item:
    """One request of a run. ``call`` is None for an item read back from a run record."""

    index: int
    params: dict[str, Any]
    labels: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    call: Call | None = None

    @property
    def wanted(self) -> int:
        """How many images the item makes."""
        n = self.params.get("n")
        return n if isinstance(n, int) and n > 0 else 1

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt") or "")


def prepare_items(items: Any, defaults: dict[str, Any], *, backend: str, base_url: str) -> list[Item]:
    """Every item as an `Item`, validated; `InvalidInputError` naming ``items[i]`` and the parameter."""
    from ._cache_key import cache_key

    prepared = []
    for index, raw in enumerate(_iterate(items)):
        params = {**defaults, **_as_params(index, raw)}
        try:
            call, request = _build(params, backend, base_url)
        except InvalidInputError as exc:
            raise InvalidInputError(f"items[{index}].{exc.param}", exc.value, exc.expected) from None
        labels = dict(getattr(raw, "axes", None) or {})
        prepared.append(Item(index, params, labels, cache_key(request), call))
    if not prepared:
        raise InvalidInputError("items", items, "at least one prompt or dict of request parameters")
    return prepared


def _iterate(items: Any) -> Iterable[Any]:
    """A pandas DataFrame counts as its records (pandas itself is never imported)."""
    if isinstance(items, (str, Mapping)):
        raise InvalidInputError("items", items, "a list of prompts or of dicts (one prompt: [prompt])")
    if hasattr(items, "to_dict") and hasattr(items, "columns"):
        return list(items.to_dict("records"))
    if not isinstance(items, Iterable):
        raise InvalidInputError("items", items, "an iterable of prompt strings or dicts of request parameters")
    return items


def _as_params(index: int, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        return {"prompt": raw}
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"items[{index}]", raw, "a prompt string or a dict of request parameters")
    params = {str(k): v for k, v in raw.items() if not _missing(v)}
    for name, expected in _REFUSED.items():
        if name in params:
            raise InvalidInputError(f"items[{index}].{name}", params[name], expected)
    return params


def _missing(value: Any) -> bool:
    """None, or the NaN that a table gives for an empty cell."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _build(params: dict[str, Any], backend: str, base_url: str) -> tuple[Call, dict[str, Any]]:
    """The validated call and the replay-cache request of one item's parameters."""
    options = dict(params)
    if "prompt" not in options:
        raise InvalidInputError("prompt", None, "a prompt (a string, or a 'prompt' key in the dict)")
    prompt, model = options.pop("prompt"), options.pop("model", None)
    inputs = {name: options.pop(name) for name in _EDIT_INPUTS if name in options}
    if not inputs:
        call = build_generate(prompt, model=model, stream=False, options=options)
        return call, image_request(backend, base_url, prompt=call.meta["prompt"], model=call.meta["model"],
                                   options=options)
    if "image" not in inputs:
        raise InvalidInputError("image", None, "the image to edit, with a mask or a markup")
    options["markup"] = inputs.get("markup")
    call = build_edit(prompt, inputs["image"], mask=inputs.get("mask"), model=model, stream=False, options=options)
    return call, _edit_request(call, backend, base_url, options)


def _edit_request(call: Call, backend: str, base_url: str, options: dict[str, Any]) -> dict[str, Any]:
    """The cache request of an edit, from the image parts the call will upload."""
    from .image import Image

    parts: dict[str, list[Image]] = {}
    for name, (_, data, _) in call.files or []:
        parts.setdefault(name.strip("[]"), []).append(Image(data))
    rest = {k: v for k, v in options.items() if k != "markup"}
    mask, markup = parts.get("mask", [None])[0], parts.get("markup", [None])[0]
    return image_request(backend, base_url, prompt=call.meta["prompt"], model=call.meta["model"], options=rest,
                         images=parts.get("image", []), mask=mask, markup=markup)

"""Cost estimates for the usage ledger, from the dated table in ``prices.json``.

Prices change every few months: update ``prices.json`` (and its ``"updated"`` date), never
this code. Token counts × token prices are preferred where the table has token prices for
the model (they follow the real bill, partial images included); otherwise the per-image
price for the quality and size bucket. Anything the table does not know gives ``None``:
an honest "unknown" beats a made-up number.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from .image import Usage

__all__ = ["batch_discount", "estimate_cost", "load_prices", "size_bucket", "updated"]

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@lru_cache(maxsize=1)
def load_prices() -> dict[str, Any]:
    """The bundled price table (parsed once)."""
    text = resources.files("nbimages").joinpath("prices.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def updated() -> str:
    """The date the price table was last checked, e.g. ``"2026-11-01"``."""
    return str(load_prices()["updated"])


def batch_discount() -> float:
    """What a request made through the Batch API costs, as a share of its live price (0.5)."""
    return float(load_prices().get("batch_discount", 1.0))


def _model_entry(model: str | None) -> dict[str, Any] | None:
    if not model:
        return None
    models: dict[str, Any] = load_prices()["models"]
    name = model.strip().lower()
    # Dated snapshots ("gpt-image-1-mini-2025-10-06") cost what their alias costs.
    return models.get(name) or models.get(_DATED.sub("", name))


def size_bucket(size: str | None) -> str | None:
    """``"square"`` or ``"portrait_landscape"`` for the sizes the table prices, else None."""
    if not size:
        return None
    size = size.strip().lower()
    for bucket, sizes in load_prices()["size_buckets"].items():
        if size in sizes:
            return str(bucket)
    return None


def _usage_dict(usage: Usage | dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return usage.to_dict() if isinstance(usage, Usage) else dict(usage)


def _token_cost(prices: dict[str, float], usage: dict[str, Any]) -> float | None:
    input_tokens = int(usage.get("input_tokens") or 0)
    output_tokens = int(usage.get("output_tokens") or 0)
    if input_tokens <= 0 and output_tokens <= 0:
        return None
    details = usage.get("input_tokens_details") or {}
    image_in = int(details.get("image_tokens") or 0)
    text_in = int(details["text_tokens"]) if "text_tokens" in details else input_tokens - image_in
    out_details = usage.get("output_tokens_details") or {}
    if "text_tokens" in out_details:
        text_out = int(out_details["text_tokens"] or 0) if "text_output" in prices else 0
    else:  # no breakdown: a text model's output is text, an image model's is the image
        text_out = output_tokens if "image_output" not in prices else 0
    image_out = output_tokens - text_out
    try:
        cost = text_in * prices["text_input"]
        if image_out:
            cost += image_out * prices["image_output"]
        if image_in:
            cost += image_in * prices["image_input"]
        if text_out:
            cost += text_out * prices["text_output"]
    except KeyError:
        return None
    return cost / 1_000_000


def estimate_cost(
    model: str | None,
    quality: str | None,
    size: str | None,
    usage: Usage | dict[str, Any] | None,
    images: int = 1,
) -> float | None:
    """Estimated USD cost of one request that returned ``images`` images; None when unknown."""
    entry = _model_entry(model)
    if entry is None:
        return None
    token_prices = entry.get("tokens_per_million")
    usage_data = _usage_dict(usage)
    if token_prices and usage_data:
        cost = _token_cost(token_prices, usage_data)
        if cost is not None:
            return cost
    bucket = size_bucket(size)
    per_quality = (entry.get("per_image") or {}).get((quality or "").strip().lower())
    if bucket is None or not per_quality or bucket not in per_quality:
        return None
    return float(per_quality[bucket]) * max(int(images), 0)

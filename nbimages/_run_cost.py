"""A run's cost, estimated before any request from the published prices (``prices.json``).

An item whose price the table does not know makes the whole estimate unknown: a partial sum
would read as the price of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._run_items import Item
from .errors import InvalidInputError

__all__ = ["Estimate", "check_max_cost", "estimate"]


@dataclass(frozen=True)
class Estimate:
    """``usd`` for the ``items`` to request (None when a price is unknown: ``unknown`` names why)."""

    usd: float | None
    items: int
    unknown: str = ""

    def __str__(self) -> str:
        if not self.items:
            return "nothing to pay: every image is in the store"
        if self.usd is None:
            return f"cost unknown (no published price for {self.unknown})"
        return f"estimated ${self.usd:,.2f} for {self.items} request{'s' if self.items != 1 else ''}"


def estimate(items: Sequence[Item]) -> Estimate:
    """The estimate for requesting ``items`` (those not already in the store)."""
    from .prices import estimate_cost

    total = 0.0
    for item in items:
        meta = item.call.meta if item.call is not None else {}
        params = meta.get("params", {})
        model, quality, size = meta.get("model"), params.get("quality"), params.get("size")
        cost = estimate_cost(model, quality, size, None, item.wanted)
        if cost is None:
            return Estimate(None, len(items), f"{model} at quality {quality or 'auto'}, size {size or 'auto'}")
        total += cost
    return Estimate(total, len(items))


def check_max_cost(max_cost: float | None, found: Estimate) -> None:
    """Refuse to start a run whose estimate is above ``max_cost``, or unknown when one is set."""
    if max_cost is None or not found.items:
        return
    if isinstance(max_cost, bool) or not isinstance(max_cost, (int, float)) or max_cost < 0:
        raise InvalidInputError("max_cost", max_cost, "a budget in US dollars, such as 2.0")
    if found.usd is None:
        raise InvalidInputError("max_cost", max_cost, f"a run whose cost can be estimated, but {found.items} "
                                f"requests have no published price ({found.unknown}; set a priced model, quality and "
                                "size); nothing was sent")
    if found.usd > max_cost:
        raise InvalidInputError("max_cost", max_cost, f"at least the estimate, ${found.usd:,.2f} for "
                                f"{found.items} requests; nothing was sent")

"""`sweep`: the cartesian product of parameter values, each point remembering its values.

``sweep(prompt=["a cat", "a dog"], quality=["low", "high"])`` gives four dicts of request
parameters, the first axis slowest (a cat/low, a cat/high, a dog/low, a dog/high): the order in
which `generate_many` makes them and a contact sheet lays them out (rows: the first axis with
more than one value, columns: the second).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from .errors import InvalidInputError

__all__ = ["SweepPoint", "sweep"]


class SweepPoint(dict[str, Any]):
    """One point of a sweep: a dict of request parameters; ``.axes`` holds the swept values (for labels)."""

    axes: dict[str, Any]

    def __init__(self, values: dict[str, Any], axes: dict[str, Any]) -> None:
        super().__init__(values)
        self.axes = dict(axes)

    def __repr__(self) -> str:
        return f"SweepPoint({dict.__repr__(self)})"


def sweep(**axes: Any) -> list[SweepPoint]:
    """The cartesian product of ``axes`` (name -> values; a single string or number is one value).

    Each point is a `SweepPoint` whose ``.axes`` are the swept names and values, first axis
    slowest. ``sweep()`` with no axis is one empty point.
    """
    names = list(axes)
    values = [_values(name, axes[name]) for name in names]
    points = []
    for combination in itertools.product(*values):
        point = dict(zip(names, combination))
        points.append(SweepPoint(point, point))
    return points


def _values(name: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes, int, float)) or value is None:
        return [value]
    if isinstance(value, dict) or not isinstance(value, Iterable):
        raise InvalidInputError(name, value, "a list of values to sweep (or one value)")
    found = list(value)
    if not found:
        raise InvalidInputError(name, value, "at least one value to sweep")
    return found

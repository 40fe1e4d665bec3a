"""The API's refusals that depend on the model: shut-down models, sizes, qualities, input
fidelity and markup, from the same table the client checks against (`nbimages.models`).

A model the table does not list passes: the simulator serves any name, as a compatible
server would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import models
from .protocol import APIError

if TYPE_CHECKING:
    from .params import ImageOptions

__all__ = ["check_model_rules", "refuse_markup_for_model"]


def check_model_rules(src: Mapping[str, Any], opts: ImageOptions, prefix: str = "") -> None:
    """A 404 for a shut-down model, a 400 naming the parameter for an option it does not take."""
    retired = models.retirement(opts.model)
    if retired:
        raise APIError(404, f"The model '{opts.model}' is no longer available: {retired}.",
                       param=prefix + "model", code="model_not_found")
    rules = models.rules_for(opts.model)
    if rules is None:
        return
    _check_size(rules, opts, prefix)
    _check_choice(src.get("quality"), rules.qualities, "quality", opts.model, prefix)
    fidelity = src.get("input_fidelity")
    if fidelity is not None and rules.input_fidelity == ():
        raise APIError(400, f"'input_fidelity' is not supported for model '{opts.model}'.",
                       param=prefix + "input_fidelity", code="unsupported_parameter")
    _check_choice(fidelity, rules.input_fidelity, "input_fidelity", opts.model, prefix)


def refuse_markup_for_model(model: str) -> None:
    rules = models.rules_for(model)
    if rules is not None and rules.markup is False:
        raise APIError(400, f"'markup' is not supported for model '{model}'; it is supported by GPT Image 2.5.",
                       param="markup", code="unsupported_parameter")


def _check_choice(value: Any, accepted: tuple[str, ...] | None, name: str, model: str, prefix: str) -> None:
    if value is None or accepted is None or value in accepted:
        return
    listed = ", ".join(f"'{v}'" for v in accepted)
    raise APIError(400, f"Invalid value: '{value}'. Supported values for model '{model}' are: {listed}.",
                   param=prefix + name, code="invalid_value")


def _check_size(rules: models.ModelRules, opts: ImageOptions, prefix: str) -> None:
    if opts.size is None:
        return
    label = f"{opts.size[0]}x{opts.size[1]}"
    if rules.sizes is not None and label not in rules.sizes:
        listed = ", ".join(f"'{s}'" for s in sorted(rules.sizes))
        raise APIError(400, f"Invalid value: '{label}'. Supported sizes for model '{opts.model}' are: {listed}.",
                       param=prefix + "size", code="invalid_value")
    pixels = opts.size[0] * opts.size[1]
    if not rules.min_pixels <= pixels <= rules.max_pixels:
        raise APIError(400, f"Invalid value: '{label}' for model '{opts.model}': the total number of pixels must "
                       f"be between {rules.min_pixels:,} and {rules.max_pixels:,}.",
                       param=prefix + "size", code="invalid_value")

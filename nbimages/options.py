"""Check the image options of generations, edits and the image tool before any request.

Every check raises `InvalidInputError` naming the parameter, the value and what would be
accepted. Open enums (models, qualities, formats) pass through unless a value is one slip
away from a known one, or the model's own rules (`models`) refuse it.
"""

from __future__ import annotations

import re
from typing import Any

from . import config, models
from .errors import InvalidInputError
from .inputs import check_sendable

__all__ = ["KNOWN_VALUES", "validate_generation_options", "validate_model", "validate_model_name",
           "validate_size"]

_SIZE = re.compile(r"([0-9]+)x([0-9]+)")  # ASCII digits only, the whole string (fullmatch)

# Values the API takes today. The options stay open (a new value passes through), but a value
# one slip away from a known one (case, one letter swapped or replaced, 'jpg') is a typo the
# API would reject only after the upload: refuse it here and name the value meant.
KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "quality": ("auto", "low", "medium", "high", "xhigh", "max"),
    "background": ("auto", "transparent", "opaque"),
    "output_format": ("png", "jpeg", "webp", "gif", "svg"),
    "moderation": ("auto", "low"),
    "input_fidelity": ("low", "high"),
    "complexity": ("low", "medium", "high"),
}
_ALIASES = {"jpg": "jpeg"}
_RETIRED_QUALITIES = ("standard", "hd")  # DALL·E's, retired with it


# -- models ------------------------------------------------------------------------------
def validate_model(model: Any, param: str = "model") -> None:
    """A non-empty model name in service: a shut-down model is refused with its replacement."""
    validate_model_name(model, config.DEFAULT_IMAGE_MODEL, param)
    retired = models.retirement(model)
    if retired:
        raise InvalidInputError(param, model, f"a model in service ({retired})")


def validate_model_name(model: Any, example: str, param: str = "model") -> None:
    """A non-empty model name fit to send, in service or not; ``example`` is the name an error suggests."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(param, model, "a model name such as " + repr(example))
    check_sendable(param, model)


# -- sizes -------------------------------------------------------------------------------
def validate_size(size: Any, param: str = "size", *, model: str | None = None) -> str:
    """A size the API takes: generic checks for any model, then ``model``'s own rules."""
    if not isinstance(size, str):
        raise InvalidInputError(param, size, "'auto' or a 'WIDTHxHEIGHT' string such as '1024x1024'")
    rules = models.rules_for(model)
    if rules is not None and rules.sizes is not None:
        if size not in rules.sizes:
            raise InvalidInputError(param, size, f"one of {_listed(rules.sizes)} for {model}")
        return size
    if size == "auto" or (rules is None and size in config.LEGACY_SIZES):
        return size  # the SDK keeps the legacy sizes as suggestions; a listed model's rules decide
    match = _SIZE.fullmatch(size)
    if not match:
        raise InvalidInputError(param, size, "'auto' or a 'WIDTHxHEIGHT' string such as '1024x1024'")
    width, height = int(match[1]), int(match[2])
    if width % 16 or height % 16 or not width or not height:
        raise InvalidInputError(param, size, "both sides divisible by 16, such as '1024x1024' or '1536x864'")
    if max(width, height) > config.MAX_SIDE:
        raise InvalidInputError(param, size, f"sides of at most {config.MAX_SIDE} pixels")
    if max(width, height) > 3 * min(width, height):
        raise InvalidInputError(param, size, "an aspect ratio between 1:3 and 3:1")
    _check_pixel_count(param, size, width * height, model, rules or models.ModelRules())
    return size


def _check_pixel_count(param: str, size: str, pixels: int, model: str | None, rules: models.ModelRules) -> None:
    which = f"for {model}" if model else "for any image model"
    if pixels > rules.max_pixels:
        raise InvalidInputError(
            param, size, f"at most {rules.max_pixels:,} pixels in total {which} ({size} has {pixels:,}), "
            f"such as '3840x2160' or '2880x2880' (sides divisible by 16, up to {config.MAX_SIDE}, 3:1 at most)"
        )
    if pixels < rules.min_pixels:
        raise InvalidInputError(
            param, size, f"at least {rules.min_pixels:,} pixels in total {which} ({size} has {pixels:,}), "
            "such as '1024x640' or '1024x1024'"
        )


def _listed(values: frozenset[str] | tuple[str, ...]) -> str:
    return ", ".join(repr(s) for s in sorted(values, key=lambda s: (s != "auto", s)))


# -- open strings --------------------------------------------------------------------------
def _open_string(param: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidInputError(param, value, "a non-empty string")
    if value is not None:
        check_sendable(param, value)


def _one_slip(value: str, known: str) -> bool:
    """Same letters but for case, one substitution or one swap of neighbours."""
    if value.lower() == known:
        return True
    if len(value) != len(known):
        return False
    diff = [i for i, (a, b) in enumerate(zip(value, known, strict=True)) if a != b]
    if len(diff) == 1:
        return len(known) > 3  # 'low' vs 'row' is too short to call a typo
    return len(diff) == 2 and diff[1] == diff[0] + 1 and value[diff[0]] == known[diff[1]] \
        and value[diff[1]] == known[diff[0]]


def _check_known(param: str, value: str) -> None:
    known = KNOWN_VALUES[param]
    if value in known:
        return
    meant = _ALIASES.get(value.lower())
    if meant is None or meant not in known:
        meant = next((k for k in known if _one_slip(value, k)), None)
    if meant is not None:
        choices = ", ".join(repr(k) for k in known)
        raise InvalidInputError(param, value, f"one of {choices} (did you mean {meant!r}?)")


def _int_in(param: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(param, value, f"an integer from {low} to {high}")
    return value


# -- per model -----------------------------------------------------------------------------
def _check_model_rules(opts: dict[str, Any], model: str | None, *, markup: bool) -> None:
    rules = models.rules_for(model)
    if rules is None:
        return
    quality = opts.get("quality")
    if quality is not None and rules.qualities is not None and quality not in rules.qualities:
        more = " (xhigh and max are GPT Image 2.5's)" if quality in ("xhigh", "max") else ""
        raise InvalidInputError("quality", quality, f"one of {_listed(rules.qualities)} for {model}{more}")
    fidelity = opts.get("input_fidelity")
    if fidelity is not None and rules.input_fidelity is not None and fidelity not in rules.input_fidelity:
        accepted = (f"one of {_listed(rules.input_fidelity)} for {model}" if rules.input_fidelity
                    else f"no input_fidelity for {model} (leave it out)")
        raise InvalidInputError("input_fidelity", fidelity, accepted)
    if markup and rules.markup is False:
        raise InvalidInputError("model", model, "a model that takes a markup, such as 'gpt-image-2.5-flare' "
                                                "(markup edits are GPT Image 2.5's)")


# -- GIF and SVG output --------------------------------------------------------------------
_GIF_ONLY = ("frame_count", "frame_duration_ms")


def _check_animation(opts: dict[str, Any], *, streamed: bool, masked: bool) -> None:
    fmt = opts.get("output_format")
    for key in _GIF_ONLY:
        if key in opts and fmt != "gif":
            raise InvalidInputError(key, opts[key], "output_format='gif' with it (frames are GIF's only)")
    if "frame_count" in opts:
        _int_in("frame_count", opts["frame_count"], *config.GIF_FRAMES)
    if "frame_duration_ms" in opts:
        _int_in("frame_duration_ms", opts["frame_duration_ms"], 1, 655_350)
    if fmt == "gif":
        _refuse_with_format("gif", opts, streamed=streamed, masked=masked)


def _check_svg(opts: dict[str, Any], *, streamed: bool) -> None:
    fmt = opts.get("output_format")
    svg = opts.get("svg")
    if svg is not None:
        if fmt != "svg":
            raise InvalidInputError("svg", svg, "output_format='svg' with it (it chooses the SVG's author)")
        _check_svg_author(svg)
    if fmt == "svg":
        if opts.get("n", 1) != 1:
            raise InvalidInputError("n", opts["n"], "1 with output_format='svg' (one SVG per request)")
        _refuse_with_format("svg", opts, streamed=streamed, masked=False)


def _check_svg_author(svg: Any) -> None:
    if not isinstance(svg, dict) or not isinstance(svg.get("model"), str) or not svg["model"].strip():
        raise InvalidInputError("svg", svg, "a dict such as {'model': 'gpt-5', 'reasoning': {'effort': 'low'}}")
    check_sendable("svg[model]", svg["model"])
    unknown = set(svg) - {"model", "reasoning"}
    if unknown:
        raise InvalidInputError("svg", svg, "only the keys 'model' and 'reasoning'")
    reasoning = svg.get("reasoning")
    if reasoning is None:
        return
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else reasoning
    if not isinstance(reasoning, dict) or set(reasoning) - {"effort"} or \
            (effort is not None and effort not in config.SVG_EFFORTS):
        raise InvalidInputError("svg[reasoning][effort]", effort,
                                "one of " + ", ".join(repr(e) for e in config.SVG_EFFORTS))


def _refuse_with_format(fmt: str, opts: dict[str, Any], *, streamed: bool, masked: bool) -> None:
    what = f"output_format='{fmt}'"
    if streamed:
        raise InvalidInputError("stream", True, f"stream=False with {what} (it arrives whole)")
    if opts.get("partial_images"):
        raise InvalidInputError("partial_images", opts["partial_images"], f"0 or nothing with {what}")
    if "output_compression" in opts:
        raise InvalidInputError("output_compression", opts["output_compression"], f"nothing with {what}")
    if masked:
        raise InvalidInputError("mask", "<mask>", f"no mask with {what} (use png, jpeg or webp)")


# -- all of it -----------------------------------------------------------------------------
def validate_generation_options(options: dict[str, Any], *, model: str | None = None, streamed: bool = False,
                                masked: bool = False, markup: bool = False) -> dict[str, Any]:
    """Check the image options shared by generations, edits and the image tool.

    ``model`` is the image model when it is not among the options (sizes and qualities depend
    on it); ``streamed``, ``masked`` and ``markup`` say what else the request holds. Returns
    the options without the ``None`` values.
    """
    opts = {k: v for k, v in options.items() if v is not None}
    model = opts.get("model", model)
    if "model" in opts:
        validate_model(opts["model"])
    _check_counts(opts)
    if "size" in opts:
        validate_size(opts["size"], model=model)
    _check_strings(opts)
    _check_model_rules(opts, model, markup=markup)
    _check_formats(opts)
    _check_animation(opts, streamed=streamed, masked=masked)
    _check_svg(opts, streamed=streamed)
    return opts


def _check_counts(opts: dict[str, Any]) -> None:
    if "n" in opts:
        _int_in("n", opts["n"], 1, config.MAX_N)
    if "partial_images" in opts:
        _int_in("partial_images", opts["partial_images"], 0, config.MAX_PARTIAL_IMAGES)
    if "output_compression" in opts:
        _int_in("output_compression", opts["output_compression"], 0, 100)


def _check_strings(opts: dict[str, Any]) -> None:
    for key in ("quality", "background", "output_format", "moderation", "input_fidelity", "complexity"):
        _open_string(key, opts.get(key))
        if key in opts:
            _check_known(key, opts[key])
    if opts.get("quality") in _RETIRED_QUALITIES:
        raise InvalidInputError("quality", opts["quality"], "'low', 'medium', 'high' or 'auto' "
                                                            "(standard and hd were DALL·E's, now retired)")
    if "safety_identifier" in opts:
        _check_safety_identifier(opts["safety_identifier"])


def _check_safety_identifier(value: Any) -> None:
    limit = config.MAX_SAFETY_IDENTIFIER
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInputError("safety_identifier", value,
                                f"a non-empty string of at most {limit} characters, such as a hash of the user's email")
    check_sendable("safety_identifier", value)


def _check_formats(opts: dict[str, Any]) -> None:
    if opts.get("response_format", "b64_json") != "b64_json":
        # Checked here, not on the reply: a URL answer would be paid for, then lost.
        raise InvalidInputError(
            "response_format", opts["response_format"], "'b64_json' (nbimages keeps the image bytes; URLs expire)"
        )
    fmt = opts.get("output_format")
    if opts.get("background") in config.BACKGROUNDS_NEEDING_ALPHA and fmt and fmt not in config.FORMATS_WITH_ALPHA:
        raise InvalidInputError(
            "output_format", fmt, "'png' or 'webp' when background='transparent'"
        )
    if "output_compression" in opts and fmt in (None, "png"):
        raise InvalidInputError(
            "output_compression", opts["output_compression"], "output_format='jpeg' or 'webp' (PNG is lossless)"
        )

"""Request parameters checked the way the API checks them: a 400 naming the parameter.

Only hard, stable constraints are enforced (sizes, counts, types); model names and
qualities are open strings, passed through.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..models import IMAGE_MODELS
from .model_rules import check_model_rules
from .protocol import APIError, missing_parameter

DEFAULT_IMAGE_MODEL = "gpt-image-2.6-sunburst"  # the image tool's default, as the SDK documents it
DEFAULT_MODEL = "gpt-5"
MODELS = (*IMAGE_MODELS, "gpt-5", "gpt-5-mini", "gpt-4.1", "gpt-4o")
MAX_PROMPT = 32000
MODERATION_TRIGGER = "forbidden-content"
QUALITY_ALIASES = {None: "medium", "auto": "medium", "standard": "medium", "hd": "high"}
FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp", "gif": "gif", "svg": "svg"}
WHOLE_FORMATS = {"gif": "GIF", "svg": "SVG"}  # made whole: no stream, no partial images, no compression
GIF_ONLY = ("frame_count", "frame_duration_ms")
DEFAULT_FRAMES, DEFAULT_FRAME_MS, MAX_FRAME_MS = 9, 200, 655_350

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


@dataclass
class ImageOptions:
    model: str
    size: tuple[int, int] | None  # None = auto
    quality: str
    background: str  # requested: auto / opaque / transparent / other
    output_format: str
    compression: int | None
    n: int = 1
    partial_images: int = 0
    stream: bool = False
    response_format: str = "b64_json"
    frame_count: int = DEFAULT_FRAMES  # GIF only
    frame_duration_ms: int = DEFAULT_FRAME_MS

    @property
    def transparent(self) -> bool:
        return self.background == "transparent"


def int_param(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise APIError(400, f"Invalid type for '{name}': expected an integer, but got a "
                       "boolean instead.", param=name, code="invalid_type")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise APIError(400, f"Invalid type for '{name}': expected an integer, but got "
                           "a string instead.", param=name, code="invalid_type") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise APIError(400, f"Invalid type for '{name}': expected an integer.", param=name,
                       code="invalid_type")
    if value < lo:
        raise APIError(400, f"Invalid '{name}': integer below minimum value. Expected a value "
                       f">= {lo}, but got {value} instead.", param=name,
                       code="integer_below_min_value")
    if value > hi:
        raise APIError(400, f"Invalid '{name}': integer above maximum value. Expected a value "
                       f"<= {hi}, but got {value} instead.", param=name,
                       code="integer_above_max_value")
    return value


def bool_param(value: Any, name: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no"):
        return False
    raise APIError(400, f"Invalid value for '{name}': expected a boolean.", param=name,
                   code="invalid_type")


def parse_size(value: Any, param: str = "size") -> tuple[int, int] | None:
    """``"auto"``/None -> None; ``"WxH"`` -> (W, H) if the API would accept it."""
    if value is None or value == "" or value == "auto":
        return None
    m = _SIZE.match(str(value))
    if not m:
        raise APIError(400, f"Invalid value: '{value}'. Supported values are: 'auto', "
                       "'1024x1024', '1536x1024', '1024x1536', or 'WxH' with both sides "
                       "multiples of 16.", param=param, code="invalid_value")
    w, h = int(m.group(1)), int(m.group(2))
    problem = _size_problem(w, h)
    if problem:
        raise APIError(400, f"Invalid value: '{value}' for size: {problem}.", param=param,
                       code="invalid_value")
    return (w, h)


def _size_problem(w: int, h: int) -> str | None:
    if w < 16 or h < 16:
        return "both sides must be at least 16 pixels"
    if w % 16 or h % 16:
        return "both sides must be multiples of 16"
    if max(w, h) > 3840:
        return "the longest side must be at most 3840 pixels"
    if max(w, h) / min(w, h) > 3:
        return "the aspect ratio must be between 1:3 and 3:1"
    if w * h > 3840 * 2160:
        return "at most 3840x2160 pixels in total"
    return None


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def response_format(value: Any, param: str = "response_format") -> str:
    rf = value or "b64_json"
    if rf not in ("b64_json", "url"):
        raise APIError(400, f"Invalid value: '{rf}'. Supported values are: 'url' and "
                       "'b64_json'.", param=param, code="invalid_value")
    return str(rf)


def image_options(src: Mapping[str, Any], *, prefix: str = "", allow_n: bool = True,
                  default_model: str = DEFAULT_IMAGE_MODEL) -> ImageOptions:
    """The image options of a request body, or of an image_generation tool (``prefix``
    names where the tool sits, e.g. ``tools[0].``, in errors)."""
    size = parse_size(src.get("size"), prefix + "size")
    fmt = _output_format(src.get("output_format"), prefix)
    background = src.get("background") or "auto"
    if background == "transparent" and fmt not in ("png", "webp"):
        raise APIError(400, "Transparent background requires output_format 'png' or 'webp'.",
                       param=prefix + "background", code="invalid_value")
    compression = src.get("output_compression")
    if compression is not None:
        compression = int_param(compression, prefix + "output_compression", 0, 100, 100)
    n = int_param(src.get("n"), prefix + "n", 1, 10, 1) if allow_n else 1
    partial = int_param(src.get("partial_images"), prefix + "partial_images", 0, 3, 0)
    rf = response_format(src.get("response_format"), prefix + "response_format")
    opts = ImageOptions(model=str(src.get("model") or default_model), size=size,
                        quality=_quality(src.get("quality")), background=str(background),
                        output_format=fmt, compression=compression, n=n, partial_images=partial,
                        stream=bool_param(src.get("stream"), prefix + "stream"), response_format=rf,
                        **_frames(src, fmt, prefix))
    _refuse_for_whole_format(opts, prefix)
    check_model_rules(src, opts, prefix)
    return opts


def _frames(src: Mapping[str, Any], fmt: str, prefix: str) -> dict[str, int]:
    """A GIF's frame_count and frame_duration_ms (rounded to 10 ms, capped as the API caps
    them); a 400 when they, or ``svg``, come with another format."""
    for name, needs in (*((name, "gif") for name in GIF_ONLY), ("svg", "svg")):
        if src.get(name) is not None and fmt != needs:
            raise APIError(400, f"'{name}' is only supported with output_format '{needs}'.",
                           param=prefix + name, code="invalid_value")
    if fmt != "gif":
        return {}
    duration = int_param(src.get("frame_duration_ms"), prefix + "frame_duration_ms", 0, 10**9, DEFAULT_FRAME_MS)
    return {"frame_count": int_param(src.get("frame_count"), prefix + "frame_count", 2, 16, DEFAULT_FRAMES),
            "frame_duration_ms": min(round(duration, -1), MAX_FRAME_MS)}


def _refuse_for_whole_format(opts: ImageOptions, prefix: str) -> None:
    """GIF and SVG are made whole: the API's 400 for streaming, partial images or a custom
    compression; and SVG comes one at a time."""
    name = WHOLE_FORMATS.get(opts.output_format)
    if name is None:
        return
    refused = [("stream", "streaming", opts.stream), ("partial_images", "partial images", opts.partial_images > 0),
               ("output_compression", "a custom output_compression", opts.compression not in (None, 100)),
               ("n", "n greater than 1", opts.output_format == "svg" and opts.n > 1)]
    for param, what, asked in refused:
        if asked:
            raise APIError(400, f"{name} output does not support {what}.", param=prefix + param,
                           code="invalid_value")


def refuse_mask_for_gif(opts: ImageOptions, param: str) -> None:
    """GIF output takes no mask (the API's 400)."""
    if opts.output_format == "gif":
        raise APIError(400, "GIF output does not support a mask.", param=param, code="invalid_value")


def _quality(q: Any) -> str:
    """Open-ended: ``auto``, ``standard`` and ``hd`` map to what they mean, others pass."""
    quality = QUALITY_ALIASES.get(q, q) if not isinstance(q, str) or q in QUALITY_ALIASES else q
    return quality if isinstance(quality, str) else "medium"


def _output_format(raw: Any, prefix: str) -> str:
    fmt_raw = raw or "png"
    fmt = FORMATS.get(str(fmt_raw).lower())
    if fmt is None:
        raise APIError(400, f"Invalid value: '{fmt_raw}'. The offline simulator supports "
                       "'png', 'jpeg', 'webp', 'gif' and 'svg'.", param=prefix + "output_format",
                       code="invalid_value")
    return fmt


def check_prompt(prompt: Any, param: str = "prompt") -> str:
    if prompt is None:
        raise missing_parameter(param)
    if not isinstance(prompt, str):
        raise APIError(400, f"Invalid type for '{param}': expected a string.", param=param,
                       code="invalid_type")
    if not prompt.strip():
        raise APIError(400, f"Invalid '{param}': empty string. Expected a string with minimum "
                       "length 1, but got an empty string instead.", param=param,
                       code="empty_string")
    if len(prompt) > MAX_PROMPT:
        raise APIError(400, f"Invalid '{param}': string too long. Expected a string with "
                       f"maximum length {MAX_PROMPT}, but got a string with length "
                       f"{len(prompt)} instead.", param=param, code="string_above_max_length")
    moderate(prompt)
    return prompt


def moderate(text: str) -> None:
    if MODERATION_TRIGGER in text.lower():
        raise APIError(400, "Your request was rejected as a result of our safety system. "
                       "Your request may contain content that is not allowed by our safety "
                       "system.", type="image_generation_user_error",
                       code="moderation_blocked")


def seed(*parts: Any) -> int:
    """A picture's seed from what the request depends on: the same request, the same pixels."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (bytes, bytearray)):
            h.update(hashlib.sha256(p).digest())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest()[:8], "big")

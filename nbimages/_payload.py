"""Reading the JSON a server sends, field by field, without trusting its shape.

One rule for every reply and stream event: a field that carries what the reply is for (an
image's base64, a text delta, the response object) must be there with the right type, or
the reply is malformed (`MalformedPayload`, which the client turns into a `StreamError` or
an `APIError` that keeps what was received). Optional metadata of the wrong type (a numeric
``revised_prompt``, a ``usage`` that is a string) is treated as absent: it never costs an
image that was paid for.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .image import Image, header_problem

__all__ = ["MalformedPayload", "image_field", "int_field", "list_field", "object_field", "text_field"]


class MalformedPayload(ValueError):
    """A required field is missing or of the wrong type."""


def object_field(data: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    """``data[key]`` as a JSON object ({} when absent and not required)."""
    value = data.get(key)
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise MalformedPayload(f"'{key}' is {_kind(value)}, not an object")


def list_field(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``data[key]`` as a list of JSON objects ([] when absent)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedPayload(f"'{key}' is {_kind(value)}, not a list of objects")
    return value


def text_field(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    """``data[key]`` as a string; optional text of another type counts as absent."""
    value = data.get(key)
    if isinstance(value, str):
        return value
    if required:
        raise MalformedPayload(f"'{key}' is {_kind(value)}, not a string")
    return None


def int_field(data: dict[str, Any], key: str) -> int | None:
    """``data[key]`` as an integer, or None when absent or not an integer (optional metadata)."""
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def image_field(data: dict[str, Any], key: str, **meta: Any) -> Image:
    """The image in the base64 field ``data[key]``; its header must be a plausible image
    (the full decode happens before the image is kept: see `Conversation`)."""
    encoded = text_field(data, key, required=True)
    assert encoded is not None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        try:  # base64 wrapped in lines, as some servers send it
            raw = base64.b64decode("".join(encoded.split()), validate=True)
        except (binascii.Error, ValueError):
            raise MalformedPayload(f"'{key}' is not valid base64") from None
    problem = header_problem(raw)
    if problem is not None:
        raise MalformedPayload(f"'{key}' is {problem}")
    return Image(raw, **meta)


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)

"""Cache keys: one stable key per request, under which the store keeps what the request made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._digest import sha256_hex
from ._secrets import is_secret_key
from .errors import InvalidInputError
from .image import Image

__all__ = ["cache_key"]


def cache_key(request: dict[str, Any]) -> str:
    """A stable key for a request: sha256 of its canonical JSON; input images count by
    their content hash, ``None`` values count as absent, credentials are ignored."""
    if not isinstance(request, dict):
        raise InvalidInputError("request", request, "a dict of request parameters")
    text = json.dumps(_canonical(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text.encode("utf-8"))


def _canonical(value: Any) -> Any:
    """A JSON-able form of a request where images stand for the hash of their content."""
    if isinstance(value, dict):
        return {
            str(k): _canonical(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if v is not None and not is_secret_key(k)
        }
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": sha256_hex(bytes(value))}
    if isinstance(value, Image):
        return {"sha256": sha256_hex(value.data)}
    if isinstance(value, Path):
        return {"sha256": sha256_hex(value.read_bytes())} if value.is_file() else str(value)
    if hasattr(value, "tobytes") and hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy
        return {"array_sha256": sha256_hex(value.tobytes()), "shape": list(value.shape), "dtype": str(value.dtype)}
    if hasattr(value, "tobytes") and hasattr(value, "mode") and hasattr(value, "size"):  # PIL
        return {"pixels_sha256": sha256_hex(value.tobytes()), "mode": value.mode, "size": list(value.size)}
    return str(value)

"""Provenance: where a stored image came from, written into its file and read back from it.

A PNG carries it as two text chunks spliced in after ``IHDR`` (every other byte stays as it
was, see `_png_text`): ``nbimages``, the provenance as JSON, and ``parameters``, the same in
the A1111 form that image tools show. Other formats (JPEG, WebP, GIF, SVG: their bytes are
never touched) get a JSON sidecar, ``<file>.json``; a GIF's records its ``frame_count``.

Nothing that could authenticate a request is written: keys that look like credentials or
headers are dropped from the parameters, values that look like API keys are redacted, and
large values (data URLs, image bytes) are kept as a digest.
"""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from . import __version__, _png_text
from ._digest import sha256_hex
from ._secrets import is_secret_key, redact
from .image import Image

__all__ = [
    "PARAMETERS_KEY",
    "PROVENANCE_KEY",
    "clean_params",
    "embed",
    "parse_created",
    "provenance_of",
    "read_provenance",
    "sidecar_path",
]

PROVENANCE_KEY = "nbimages"
PARAMETERS_KEY = "parameters"
MAX_PARAM_CHARS = 2048


# -- keeping secrets out ---------------------------------------------------------------------
def clean_params(value: Any) -> Any:
    """JSON-safe, secret-free, bounded copy of request parameters for the provenance."""
    if isinstance(value, dict):
        return {str(k): clean_params(v) for k, v in value.items() if not is_secret_key(k)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean_params(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        # Data URLs and other huge values (input images, masks) are kept as a digest.
        if value.startswith("data:") or len(value) > MAX_PARAM_CHARS:
            return {"sha256": sha256_hex(value.encode("utf-8")), "chars": len(value)}
        return redact(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"sha256": sha256_hex(bytes(value)), "bytes": len(value)}
    if isinstance(value, Image):
        return {"sha256": sha256_hex(value.data), "bytes": len(value.data), "format": value.format}
    if isinstance(value, Path):
        return str(value)
    return redact(str(value))[:MAX_PARAM_CHARS]


def _clean_text(value: str | None) -> str | None:
    return None if value is None else redact(value)


# -- what is written ---------------------------------------------------------------------------
def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat()


def parse_created(iso: Any) -> float | None:
    """The timestamp of a provenance's ``created`` (ISO 8601, or already a number)."""
    if isinstance(iso, (int, float)):
        return float(iso)
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def provenance_of(image: Image, image_id: str, kind: str, created: float) -> dict[str, Any]:
    frames = {"frame_count": image.frame_count} if image.format == "gif" else {}
    return {
        "nbimages": __version__,
        "id": image_id,
        "kind": kind,
        "prompt": _clean_text(image.prompt),
        "revised_prompt": _clean_text(image.revised_prompt),
        "model": image.model,
        "params": clean_params(dict(image.params or {})),
        "response_id": image.response_id,
        "call_id": image.call_id,
        "parent": image.parent,
        "source": _clean_text(image.source),
        "created": _iso(created),
        "usage": image.usage.to_dict() if image.usage is not None else None,
        **frames,
    }


def _a1111_quote(text: str) -> str:
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _parameters_text(prov: dict[str, Any], image: Image) -> str:
    """A1111-style ``parameters``: the prompt, then one ``Key: value, ...`` line."""
    params = prov.get("params") or {}
    size = params.get("size")
    if not isinstance(size, str) or size == "auto":
        size = f"{image.width}x{image.height}" if image.width and image.height else size
    fields = [
        ("Model", prov.get("model")),
        ("Size", size),
        ("Quality", params.get("quality")),
        ("Background", params.get("background")),
        ("Format", params.get("output_format") or image.format),
        ("Revised prompt", prov.get("revised_prompt")),
        ("Response", prov.get("response_id")),
        ("Created", prov.get("created")),
        ("Generator", f"nbimages {__version__}"),
    ]
    line = ", ".join(f"{k}: {_a1111_quote(str(v))}" for k, v in fields if v not in (None, ""))
    return f"{prov.get('prompt') or ''}\n{line}"


# -- into the file and back ------------------------------------------------------------------
def embed(data: bytes, prov: dict[str, Any], image: Image) -> bytes | None:
    """The PNG with provenance chunks added after IHDR, or None if it is not a valid PNG."""
    if not _png_text.is_png(data):
        return None
    try:
        if PROVENANCE_KEY in _png_text.read_text(data):
            # Saved by nbimages before: replace our own chunks, keep everything else.
            data = _png_text.remove_text(data, (PROVENANCE_KEY, PARAMETERS_KEY))
        chunks = [
            _png_text.itxt_chunk(PROVENANCE_KEY, json.dumps(prov, ensure_ascii=False, sort_keys=True)),
            _png_text.text_chunk(PARAMETERS_KEY, _parameters_text(prov, image)),
        ]
        return _png_text.insert_after_ihdr(data, chunks)
    except ValueError:
        return None


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_provenance(path_or_bytes: str | Path | bytes | Image) -> dict[str, Any]:
    """Provenance of a stored file: its ``nbimages`` PNG chunk or its JSON sidecar ({} if none)."""
    path: Path | None
    if isinstance(path_or_bytes, Image):
        data, path = path_or_bytes.data, path_or_bytes.path
    elif isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data, path = bytes(path_or_bytes), None
    else:
        path = Path(path_or_bytes)
        data = path.read_bytes()
    if _png_text.is_png(data):
        try:
            text = _png_text.read_text(data).get(PROVENANCE_KEY)
        except ValueError:
            text = None
        if text:
            with suppress(ValueError):
                found = json.loads(text)
                if isinstance(found, dict):
                    return found
    if path is not None and sidecar_path(path).is_file():
        with suppress(ValueError):
            found = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
            if isinstance(found, dict):
                return found
    return {}

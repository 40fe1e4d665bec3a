"""Content digests: the SHA-256 of some bytes, as the lowercase hex nbimages stores and compares."""

from __future__ import annotations

import hashlib

__all__ = ["sha256_hex"]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

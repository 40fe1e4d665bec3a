"""The replay cache shared by ``%%imagine`` and `generate_many`: what identifies an image
request, and the images the store already holds for it.

The same request made from either front end has the same key (`image_request`), so an image
made by one is reused by the other at no cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._digest import sha256_hex
from .errors import StoreError

if TYPE_CHECKING:
    from .image import Image
    from .store import Store

__all__ = ["image_request", "replay", "stored_results"]


def image_request(backend: str, base_url: str, *, prompt: str, model: str, options: dict[str, Any],
                  images: Sequence[Image] = (), mask: Image | None = None, markup: Image | None = None,
                  ) -> dict[str, Any]:
    """What identifies an Images API request for the cache: everything that changes the result
    (partial images do not; input images count by their digest)."""
    request: dict[str, Any] = {"backend": backend, "base_url": base_url, "prompt": prompt, "model": model,
                               **{k: v for k, v in options.items() if k != "partial_images"}}
    if not images:
        request["endpoint"] = "images/generations"
        return request
    request.update(endpoint="images/edits", images=[sha256_hex(i.data) for i in images],
                   mask=sha256_hex(mask.data) if mask is not None else None)
    if markup is not None:  # only then: the keys of earlier edits stay as they were
        request["markup"] = sha256_hex(markup.data)
    return request


def stored_results(store: Store, key: str) -> list[Image]:
    """Images stored for this request, to reuse; none when the store cannot be read (then the
    image is made again, and shown even if it cannot be saved)."""
    try:
        return store.lookup_all(key)
    except StoreError:
        return []


def replay(store: Store, key: str, wanted: int) -> list[Image] | None:
    """The ``wanted`` most recent images stored for this request, or None when there are fewer."""
    found = stored_results(store, key)[-wanted:]
    return found if len(found) == wanted else None

"""nbimages: generate, edit and understand images with OpenAI's image models, from Jupyter.

``%load_ext nbimages`` for the ``%%imagine`` and ``%describe`` magics; `Client` and
`AsyncClient` for Python; `Studio`, `MaskPainter` and `Gallery` widgets. Without an API key
everything runs against the built-in offline simulator.

Names are imported lazily: ``import nbimages`` loads neither httpx, Pillow, IPython's display
machinery nor the widget libraries until they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "AsyncClient": "client",
    "Client": "client",
    "AsyncStream": "stream",
    "Stream": "stream",
    "Image": "image",
    "Usage": "image",
    "Response": "events",
    "PartialImage": "events",
    "ImageCompleted": "events",
    "ImageGenerationProgress": "events",
    "ResponseCreated": "events",
    "ResponseCompleted": "events",
    "TextDelta": "events",
    "TextDone": "events",
    "image_tool": "_requests",
    "invert": "masks",
    "mask_from_array": "masks",
    "mask_from_box": "masks",
    "outpaint": "masks",
    "paste_outside_mask": "masks",
    "Conversation": "conversation",
    "Turn": "conversation",
    "current_conversation": "conversation",
    "Store": "store",
    "generate_many": "many",
    "sweep": "_sweep",
    "Run": "run",
    "runs": "run",
    "Studio": "widgets",
    "MaskPainter": "widgets",
    "Gallery": "widgets",
    "NbImagesError": "errors",
    "InvalidInputError": "errors",
    "ConfigurationError": "errors",
    "APIError": "errors",
    "APIConnectionError": "errors",
    "APITimeoutError": "errors",
    "AuthenticationError": "errors",
    "BadRequestError": "errors",
    "ConflictError": "errors",
    "ContentPolicyError": "errors",
    "NotFoundError": "errors",
    "RateLimitError": "errors",
    "ServerError": "errors",
    "StoreError": "errors",
    "StreamError": "errors",
    "VectorImageError": "errors",
}

__all__ = sorted([*_LAZY, "__version__", "load_ipython_extension"])


__getattr__, __dir__ = lazy_attributes(globals(), _LAZY)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbimages``: register the magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)


if TYPE_CHECKING:
    from ._requests import image_tool
    from ._sweep import sweep
    from .client import AsyncClient, Client
    from .errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        ContentPolicyError,
        InvalidInputError,
        NbImagesError,
        NotFoundError,
        RateLimitError,
        ServerError,
        StoreError,
        StreamError,
        VectorImageError,
    )
    from .events import (
        ImageCompleted,
        ImageGenerationProgress,
        PartialImage,
        Response,
        ResponseCompleted,
        ResponseCreated,
        TextDelta,
        TextDone,
    )
    from .image import Image, Usage
    from .many import generate_many
    from .masks import invert, mask_from_array, mask_from_box, outpaint, paste_outside_mask
    from .run import Run, runs
    from .stream import AsyncStream, Stream

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


if TYPE_CHECKING:  # `X as X`: re-exported for type checkers (mypy --strict); imported lazily at run time
    from ._requests import (
        image_tool as image_tool,
    )
    from ._sweep import (
        sweep as sweep,
    )
    from .client import (
        AsyncClient as AsyncClient,
    )
    from .client import (
        Client as Client,
    )
    from .conversation import (
        Conversation as Conversation,
    )
    from .conversation import (
        Turn as Turn,
    )
    from .conversation import (
        current_conversation as current_conversation,
    )
    from .errors import (
        APIConnectionError as APIConnectionError,
    )
    from .errors import (
        APIError as APIError,
    )
    from .errors import (
        APITimeoutError as APITimeoutError,
    )
    from .errors import (
        AuthenticationError as AuthenticationError,
    )
    from .errors import (
        BadRequestError as BadRequestError,
    )
    from .errors import (
        ConfigurationError as ConfigurationError,
    )
    from .errors import (
        ConflictError as ConflictError,
    )
    from .errors import (
        ContentPolicyError as ContentPolicyError,
    )
    from .errors import (
        InvalidInputError as InvalidInputError,
    )
    from .errors import (
        NbImagesError as NbImagesError,
    )
    from .errors import (
        NotFoundError as NotFoundError,
    )
    from .errors import (
        RateLimitError as RateLimitError,
    )
    from .errors import (
        ServerError as ServerError,
    )
    from .errors import (
        StoreError as StoreError,
    )
    from .errors import (
        StreamError as StreamError,
    )
    from .errors import (
        VectorImageError as VectorImageError,
    )
    from .events import (
        ImageCompleted as ImageCompleted,
    )
    from .events import (
        ImageGenerationProgress as ImageGenerationProgress,
    )
    from .events import (
        PartialImage as PartialImage,
    )
    from .events import (
        Response as Response,
    )
    from .events import (
        ResponseCompleted as ResponseCompleted,
    )
    from .events import (
        ResponseCreated as ResponseCreated,
    )
    from .events import (
        TextDelta as TextDelta,
    )
    from .events import (
        TextDone as TextDone,
    )
    from .image import (
        Image as Image,
    )
    from .image import (
        Usage as Usage,
    )
    from .many import (
        generate_many as generate_many,
    )
    from .masks import (
        invert as invert,
    )
    from .masks import (
        mask_from_array as mask_from_array,
    )
    from .masks import (
        mask_from_box as mask_from_box,
    )
    from .masks import (
        outpaint as outpaint,
    )
    from .masks import (
        paste_outside_mask as paste_outside_mask,
    )
    from .run import (
        Run as Run,
    )
    from .run import (
        runs as runs,
    )
    from .store import (
        Store as Store,
    )
    from .stream import (
        AsyncStream as AsyncStream,
    )
    from .stream import (
        Stream as Stream,
    )
    from .widgets import (
        Gallery as Gallery,
    )
    from .widgets import (
        MaskPainter as MaskPainter,
    )
    from .widgets import (
        Studio as Studio,
    )

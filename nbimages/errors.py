"""Every exception nbimages raises.

    NbImagesError
    ├── InvalidInputError (also ValueError)   caught locally, before any request is sent
    ├── VectorImageError (also ValueError)    pixels asked of an SVG, which has none until rasterised
    ├── ConfigurationError                    no usable backend / inconsistent settings
    ├── APIConnectionError                    the server could not be reached
    │   └── APITimeoutError
    ├── APIError                              the server answered with an error status
    │   ├── BadRequestError                   400, 422
    │   │   └── ContentPolicyError            moderation_blocked / content_policy_violation
    │   ├── AuthenticationError               401, 403
    │   ├── NotFoundError                     404
    │   ├── ConflictError                     409
    │   ├── RateLimitError                    429
    │   └── ServerError                       5xx
    ├── StreamError                           a stream broke after it started (or sent an
    │                                         image that does not decode); carries the
    │                                         partial and completed images received so far
    └── StoreError (also OSError)             the store could not be written or read (the
                                              image stays in memory, in the conversation)

httpx exceptions and error replies are translated into these in one module, ``_retry``
(``connection_error`` and ``api_error``). Messages never contain the API key or any request header.

Each error knows how to fix it (``hint``, a few words; "" when there is nothing to add), and
`describe_error` is how every front end says an error: name, one-line message, hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .image import Image

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ContentPolicyError",
    "InvalidInputError",
    "NbImagesError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "StoreError",
    "StreamError",
    "VectorImageError",
]


class NbImagesError(Exception):
    """Base class of every nbimages error."""

    _hint = ""

    @property
    def hint(self) -> str:
        """How to fix it, in a few words ("" when the message says it all)."""
        return self._hint


class ConfigurationError(NbImagesError):
    """Settings that cannot work together (e.g. NBIMAGES_BACKEND=openai without a key)."""


class InvalidInputError(NbImagesError, ValueError):
    """A parameter was rejected locally, before anything was sent (or paid for)."""

    _hint = "nothing was sent"

    def __init__(self, param: str, value: Any, expected: str) -> None:
        self.param = param
        self.value = value
        self.expected = expected
        super().__init__(f"{param}={_short_repr(value)} is not valid: expected {expected}")


class VectorImageError(NbImagesError, ValueError):
    """Pixels were asked of an SVG image: nbimages shows and stores SVGs as they are, and has
    no rasteriser to turn one into pixels."""

    _hint = ("rasterise it, e.g. pip install cairosvg, then "
             "cairosvg.svg2png(bytestring=image.data); or ask for output_format='png' for pixels")


class APIConnectionError(NbImagesError):
    """The request did not get an answer (refused, dropped, DNS...)."""

    _hint = "could not reach the server: check the network (and OPENAI_BASE_URL if set)"


class APITimeoutError(APIConnectionError):
    """The server took longer than the configured timeout."""

    _hint = "raise the timeout (%config Imagine.timeout = 900) or ask for a lower quality"


class CellInterrupted(KeyboardInterrupt):
    """Ctrl-C (Interrupt) in a magic's cell. Still a KeyboardInterrupt, so "Run all" stops
    there, but shown as one line: the cell's output already says what was kept."""

    def __init__(self, message: str = "the cell was interrupted; what arrived is kept above") -> None:
        super().__init__(message)

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [f"KeyboardInterrupt: {self}"]


class APIError(NbImagesError):
    """The server answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id
        self.body = body
        detail = f" ({code})" if code else ""
        rid = f" [request {request_id}]" if request_id else ""
        super().__init__(f"{status}{detail}: {message}{rid}")


class BadRequestError(APIError):
    _hint = "check the options and inputs (%%imagine? lists them)"


class ContentPolicyError(BadRequestError):
    """The prompt or image was refused by moderation. Retrying unchanged will not help."""

    _hint = "moderation refused this request: rephrase the prompt (retrying it unchanged will not help)"


class AuthenticationError(APIError):
    _hint = ("set OPENAI_API_KEY to a valid key (e.g. %env OPENAI_API_KEY=sk-...), or AZURE_OPENAI_API_KEY "
             "for Azure OpenAI, and run the cell again")


class NotFoundError(APIError):
    _hint = "check the model name (-m, %config Imagine.model); if a conversation expired, use --new"


class ConflictError(APIError):
    pass


class RateLimitError(APIError):
    _hint = "too many requests: wait a moment and run the cell again"

    @property
    def hint(self) -> str:
        if self.code == "insufficient_quota":
            return "the account is out of quota: check billing and limits at platform.openai.com"
        return self._hint


class ServerError(APIError):
    _hint = "the service had a problem: run the cell again in a moment"


class StreamError(NbImagesError):
    """A stream broke after it had started.

    ``partials`` holds the partial images received before the break (newest last),
    ``images`` the completed ones (e.g. the first of ``n=2``); nothing is retried,
    since the server may already have charged for the request.
    """

    def __init__(
        self,
        message: str,
        *,
        partials: list[Image] | None = None,
        images: list[Image] | None = None,
        code: str | None = None,
        response_id: str | None = None,
    ) -> None:
        self.message = message
        self.partials = list(partials or [])
        self.images = list(images or [])
        self.code = code
        self.response_id = response_id
        got = []
        if self.partials:
            got.append(f"{len(self.partials)} partial image(s)")
        if self.images:
            got.append(f"{len(self.images)} completed image(s)")
        kept = f"; kept {' and '.join(got)}" if got else ""
        super().__init__(f"{message}{kept}")

    @property
    def last_partial(self) -> Image | None:
        return self.partials[-1] if self.partials else None

    @property
    def hint(self) -> str:
        if self.images:
            return "what arrived complete is saved and shown above; run the cell again for the rest"
        if self.partials:
            return "the last partial image is kept above; run the cell again for a complete image"
        return "run the cell again"


class StoreError(NbImagesError, OSError):
    """The store could not be written or read: a read-only or full disk, a damaged file
    (also an `OSError`).

    Nothing received is lost because of it: the image stays in memory and in the conversation.
    """

    _hint = "make NBIMAGES_HOME (or %config Imagine.store_home) a writable folder with free space"


class ErrorText:
    """An error as a front end shows it: ``"{name}: {message} — {hint}"`` on one line.

    (A plain class: errors is imported with the magics at every kernel start, and a
    NamedTuple costs more to define than all the error classes together.)
    """

    __slots__ = ("hint", "message", "name")

    def __init__(self, name: str, message: str, hint: str) -> None:
        self.name = name  # the error's class, or "Unexpected error" for one that is not nbimages' own
        self.message = message  # one line, or "" when the error has none
        self.hint = hint  # how to fix it, or ""

    def __repr__(self) -> str:
        return f"ErrorText(name={self.name!r}, message={self.message!r}, hint={self.hint!r})"

    def __str__(self) -> str:
        return self.name + (f": {self.message}" if self.message else "") + (f" — {self.hint}" if self.hint else "")


def describe_error(exc: BaseException, limit: int | None = None) -> ErrorText:
    """What to say about ``exc``, its message cut to ``limit`` characters.

    An exception that is not nbimages' own has no hint; it is named "Unexpected error" and
    its message starts with its type.
    """
    name = type(exc).__name__
    message = " ".join(str(exc).split())
    if not isinstance(exc, NbImagesError):
        name, message = "Unexpected error", f"{name}: {message}" if message else name
    if limit is not None and len(message) > limit:
        message = message[: limit - 3] + "..."
    return ErrorText(name, message, exc.hint if isinstance(exc, NbImagesError) else "")


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}

CONTENT_POLICY_CODES = frozenset({"moderation_blocked", "content_policy_violation"})


def error_class(status: int, code: str | None) -> type[APIError]:
    if code in CONTENT_POLICY_CODES:
        return ContentPolicyError
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIError)


def _short_repr(value: Any, limit: int = 80) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    text = repr(value)
    if len(text) <= limit:
        return text
    # Cut in the middle: the end of a long path (the file name) is what identifies it.
    tail = limit * 3 // 5
    return text[: limit - tail - 3] + "..." + text[-tail:]

"""`Client` and `AsyncClient`: the Images API, the Responses API, vision and files over httpx.

One code path for OpenAI, compatible servers and the offline simulator (which is just an
httpx transport). The public methods are written once, in `_ClientBase`; each builds a
sans-IO `Call`; the two subclasses only know how to send it (blocking or awaiting).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, TypedDict, overload

from . import __version__, config
from ._credential import bearer, current, current_async
from ._payload import MalformedPayload
from ._requests import (
    Call,
    build_describe,
    build_edit,
    build_generate,
    build_respond,
    build_upload,
    build_variations,
)
from ._retry import RetryPolicy, api_error, connection_error, not_the_api, server_text
from ._secrets import redact, redact_http_logs, redact_json, remember_secret, remember_url_secrets
from .errors import APIError, ConfigurationError
from .events import EventDecoder
from .stream import AsyncStream, Stream

if TYPE_CHECKING:
    import httpx
    from typing_extensions import Unpack

    from ._credential import Provider
    from .events import Response
    from .image import Image

__all__ = ["AsyncClient", "Client"]


# -- what editors and type checkers see of the methods (they are written once, in _ClientBase) --
# The overloads leave out what the methods also take at run time, unknown keyword arguments
# (new API parameters are sent as they are): hence `type: ignore[override]` on each of them.
class ImageOptions(TypedDict, total=False):
    model: str | None
    n: int | None
    size: str | None
    quality: str | None
    background: str | None
    output_format: str | None
    output_compression: int | None
    moderation: str | None
    partial_images: int | None
    complexity: str | None
    safety_identifier: str | None
    frame_count: int | None
    frame_duration_ms: int | None
    svg: dict[str, Any] | None


class EditOptions(ImageOptions, total=False):
    mask: Any
    markup: Any
    input_fidelity: str | None


class RespondOptions(TypedDict, total=False):
    model: str | None
    tools: list[dict[str, Any]] | None
    previous_response_id: str | None
    images: Any
    image_references: Any
    detail: str
    instructions: str | None
    tool_choice: Any
    safety_identifier: str | None


class DescribeOptions(TypedDict, total=False):
    model: str | None
    detail: str

# Any of these set means an API was configured: the simulator is then used only when asked for.
_API_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_ENDPOINT")
_announce_lock = threading.Lock()
_announced = False


def _announce_simulator(forced: bool = False) -> None:
    global _announced
    with _announce_lock:
        if _announced:
            return
        _announced = True
    if forced:  # a key or URL is set, but the local backend was asked for
        notice = ("nbimages: the local backend was chosen (NBIMAGES_BACKEND=local or backend='local'), so images "
                  "come from the built-in offline simulator (procedural pictures, no cost); the API key is not used.")
    else:
        notice = ("nbimages: no OPENAI_API_KEY set, so images come from the built-in offline simulator "
                  "(procedural pictures, no cost). Set OPENAI_API_KEY to use OpenAI.")
    if not _noted_in_kernel_cell(notice):
        sys.stderr.write(notice + "\n")


def _noted_in_kernel_cell(notice: str) -> bool:
    """Show ``notice`` as a muted note in the kernel cell this code works for (stderr would be
    shown as an error); False outside a kernel."""
    if "IPython" not in sys.modules:  # a plain script: IPython is not imported for this
        return False
    from IPython.core.interactiveshell import InteractiveShell

    if not InteractiveShell.initialized():
        return False
    import uuid

    from ._cell_output import this_cell
    from .display import note_bundle

    cell = this_cell(InteractiveShell.instance())
    if cell is None or cell.msg_id is None:  # a terminal, or another front end's publisher
        return False
    try:
        cell.publish(*note_bundle(notice, kind="notice"), display_id=uuid.uuid4().hex, update=False)
    except Exception:  # a kernel shutting down: a client is still made, and the notice goes to stderr
        return False
    return True


_simulator: Any = None


def _local_simulator() -> Any:
    """One simulator per process, as there is one API: a response or file id made through one
    client (a Studio's, a script's) is known to every other (the magics')."""
    global _simulator
    with _announce_lock:
        if _simulator is None:
            from .local import Simulator

            _simulator = Simulator()
        return _simulator


class _ClientBase:
    _http: Any

    def __init__(
        self,
        api_key: str | Provider | None = None,
        base_url: str | None = None,
        *,
        organization: str | None = None,
        project: str | None = None,
        max_retries: int = config.DEFAULT_MAX_RETRIES,
        timeout: float | httpx.Timeout | None = None,
        http_client: Any = None,
        backend: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        azure_ad_token: str | None = None,
        azure_ad_token_provider: Provider | None = None,
    ) -> None:
        """Where requests go, decided in this order (`config.resolve_backend`):

        1. ``backend=`` or ``NBIMAGES_BACKEND``: ``"local"``, ``"openai"`` or ``"azure"``;
        2. Azure OpenAI, when an Azure argument is given: ``azure_endpoint``, ``azure_deployment``,
           ``api_version``, ``azure_ad_token`` or ``azure_ad_token_provider``;
        3. OpenAI (or a compatible server at ``base_url``), when ``api_key`` or ``base_url`` is given
           or ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is set;
        4. Azure OpenAI, when ``AZURE_OPENAI_ENDPOINT`` is set;
        5. the offline simulator.

        ``api_key`` may be a function returning the key, called before every request (an async
        one for `AsyncClient`), as the SDK calls it: for keys that expire.

        Azure reads what `openai.AzureOpenAI` reads, arguments first: the endpoint (or
        ``AZURE_OPENAI_ENDPOINT``), ``api_version`` (or ``OPENAI_API_VERSION``) and one credential:
        ``api_key``, ``azure_ad_token`` or ``azure_ad_token_provider`` (called before every request),
        else ``AZURE_OPENAI_AD_TOKEN``, else ``AZURE_OPENAI_API_KEY``. Without ``azure_deployment``,
        image calls go to the deployment named like their model. A missing setting is a
        `ConfigurationError` here, before any request.
        """
        import os

        if base_url is None and http_client is not None and str(http_client.base_url):
            base_url = str(http_client.base_url)
        azure = {"azure_endpoint": azure_endpoint, "azure_deployment": azure_deployment, "api_version": api_version,
                 "azure_ad_token": azure_ad_token, "azure_ad_token_provider": azure_ad_token_provider}
        self._backend = config.resolve_backend(api_key, base_url, backend, azure=azure)
        _remember_credentials(self._backend)
        self._endpoint, self._endpoint_params = _split_query(self._backend.base_url)
        if self._backend.azure is not None:
            self._endpoint_params = self._backend.azure.query
        self.retry = RetryPolicy(max_retries=max_retries)
        headers = {"User-Agent": f"nbimages/{__version__}"}
        if self._backend.api_key and self._backend.azure is None:  # Azure signs each request itself
            headers.update(bearer(self._backend.api_key))
        organization = organization or os.environ.get("OPENAI_ORG_ID")
        project = project or os.environ.get("OPENAI_PROJECT_ID")
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        self._headers = headers
        self._timeout = _timeout(timeout)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else self._default_http()
        if self._backend.kind == "local" and http_client is None:
            configured = (api_key, base_url, *azure.values(), *map(os.environ.get, _API_ENV))
            _announce_simulator(forced=any(configured))

    # -- what a subclass provides ------------------------------------------------
    def _default_http(self) -> Any:
        raise NotImplementedError

    def _run(self, call: Call) -> Any:
        raise NotImplementedError

    def _local_transport(self) -> Any:
        from .local import LocalTransport

        return LocalTransport(**config.simulator_options(), simulator=_local_simulator())

    # -- facts --------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """``"openai"``, ``"custom"`` (a compatible server), ``"azure"`` or ``"local"`` (the simulator)."""
        return self._backend.kind

    @property
    def base_url(self) -> str:
        """Where requests go, fit to show: credentials in the URL are masked."""
        return self._backend.display_url

    def __repr__(self) -> str:
        return f"<nbimages.{type(self).__name__} backend={self.backend} base_url={self.base_url}>"

    def _request(self, call: Call, auth: dict[str, str] | None = None) -> Any:
        """The request of ``call``; ``auth``: the credential header made for this request alone."""
        import httpx

        try:
            return self._http.build_request(
                call.method,
                self._url(call),
                params=self._endpoint_params,
                json=call.json,
                data=call.data,
                files=call.parts,
                headers={**self._headers, **auth} if auth else self._headers,
                timeout=self._timeout,
            )
        except httpx.InvalidURL as exc:
            error = ConfigurationError(f"the base URL {self.base_url} is not valid: {redact(str(exc))}")
        raise error  # outside the handler: httpx's exception (holding the real URL) is not its context

    def _url(self, call: Call) -> str:
        azure = self._backend.azure
        if azure is None:
            return self._endpoint + call.path
        return azure.url(call.path, _model_of(call))

    # -- the API (written once; `_run` sends) ----------------------------------------
    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        moderation: str | None = None,
        partial_images: int | None = None,
        stream: bool = False,
        **extra: Any,
    ) -> Any:
        """Generate images. Returns a list of `Image`, or a `Stream` of events when ``stream=True``.

        Unknown keyword arguments are sent as they are (new API parameters work at once).
        """
        options = dict(
            n=n, size=size, quality=quality, background=background, output_format=output_format,
            output_compression=output_compression, moderation=moderation, partial_images=partial_images, **extra,
        )
        return self._run(build_generate(prompt, model=model, stream=stream, options=options))

    def edit(
        self,
        prompt: str,
        image: Any,
        *,
        mask: Any = None,
        model: str | None = None,
        n: int | None = None,
        size: str | None = None,
        quality: str | None = None,
        background: str | None = None,
        output_format: str | None = None,
        output_compression: int | None = None,
        input_fidelity: str | None = None,
        partial_images: int | None = None,
        markup: Any = None,
        stream: bool = False,
        **extra: Any,
    ) -> Any:
        """Edit one image or several (``image=[a, b]``); transparent pixels of ``mask`` mark where.

        ``markup`` (GPT Image 2.5) is a transparent PNG drawn over the first image to guide the
        edit, instead of a mask.
        """
        options = dict(
            n=n, size=size, quality=quality, background=background, output_format=output_format,
            output_compression=output_compression, input_fidelity=input_fidelity,
            partial_images=partial_images, markup=markup, **extra,
        )
        return self._run(build_edit(prompt, image, mask=mask, model=model, stream=stream, options=options))

    def variations(self, image: Any, *, n: int | None = None, size: str | None = None,
                   model: str | None = None, **extra: Any) -> Any:
        """Variations of a square PNG (a legacy endpoint that compatible servers still serve)."""
        return self._run(build_variations(image, model=model, options=dict(n=n, size=size, **extra)))

    def respond(
        self,
        input: Any,
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        previous_response_id: str | None = None,
        images: Any = None,
        image_references: Any = None,
        detail: str = "auto",
        instructions: str | None = None,
        tool_choice: Any = None,
        stream: bool = False,
        **extra: Any,
    ) -> Any:
        """Call the Responses API. Returns a `Response` (text, images, usage) or a `Stream`.

        ``images`` adds ``input_image`` parts (any image source, a URL or a file id);
        ``image_references`` adds earlier ``image_generation_call`` ids (or `Image` objects).
        """
        options = dict(instructions=instructions, tool_choice=tool_choice, **extra)
        call = build_respond(
            input, model=model, tools=tools, previous_response_id=previous_response_id, images=images,
            image_references=image_references, detail=detail, stream=stream, options=options,
        )
        return self._run(call)

    def describe(
        self,
        image: Any,
        question: str = "Describe this image.",
        *,
        model: str | None = None,
        detail: str = "auto",
        stream: bool = False,
        **extra: Any,
    ) -> Any:
        """Ask a vision model about one image or several (pass a list). Returns the answer text."""
        return self._run(build_describe(image, question, model=model, detail=detail, stream=stream, options=extra))

    def upload(self, image: Any, *, purpose: str = "vision") -> Any:
        """Upload an image through the Files API and return its id, reusable in later calls."""
        return self._run(build_upload(image, purpose=purpose))


def _reply(call: Call, response: httpx.Response) -> Any:
    """The result of an unstreamed call whose body was read.

    A successful status with a body that is not JSON, or that holds an ``error`` object,
    is an error too: parsing it would silently return nothing. The body is redacted before
    anything reads it (a server may echo the key it was sent).
    """
    body = _json_body(response)
    if body is _NOT_JSON:
        raise APIError(
            f"the server sent a malformed reply (not JSON): {server_text(response.text, 120)!r}",
            status=response.status_code,
            code="malformed_response",
            request_id=_request_id(response),
        )
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise api_error(response)
    if not isinstance(body, dict):
        raise _malformed(response, f"a JSON {type(body).__name__} instead of an object")
    try:
        return call.parse(redact_json(body), call.meta)
    except MalformedPayload as exc:
        raise _malformed(response, str(exc)) from None


def _malformed(response: httpx.Response, what: str) -> APIError:
    return APIError(f"the server sent a malformed reply: {what}", status=response.status_code,
                    code="malformed_response", request_id=_request_id(response))


_NOT_JSON = object()
# An unstreamed reply holds at most ten images of the largest size; an error says what it must in
# far less. A server sending more does not get to fill the kernel's memory.
MAX_REPLY_BYTES = 512 * 2**20
MAX_ERROR_BYTES = 2**20


class _Body:
    """The body of a reply, read chunk by chunk up to a limit (sans-IO: both clients feed it)."""

    def __init__(self, limit: int, *, truncate: bool = False) -> None:
        self.limit = limit
        self.truncate = truncate
        self._data = bytearray()

    def add(self, chunk: bytes) -> bool:
        """Keep ``chunk``; True once the limit is reached (when truncating), else an error past it."""
        self._data += chunk
        if len(self._data) <= self.limit:
            return False
        if self.truncate:
            del self._data[self.limit:]
            return True
        raise APIError(f"the server's reply is larger than {self.limit // 2**20} MB; it was not read further",
                       status=200, code="reply_too_large")

    def reply(self, response: httpx.Response) -> httpx.Response:
        """``response`` with this body, read."""
        import httpx

        # The bytes are decoded already: the new response must not decode them again.
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=bytes(self._data),
                              request=response.request)


def _json_body(response: httpx.Response) -> Any:
    """The decoded body, or `_NOT_JSON` (the decoder's error, which quotes the body, is dropped)."""
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _request_id(response: httpx.Response) -> str | None:
    value = response.headers.get("x-request-id")
    return redact(value) if value else None


def _remember_credentials(backend: config.Backend) -> None:
    """Whatever a server might echo back is redacted from then on: the key (also one given as
    ``api_key=``, not in the environment), an Azure AD token (those of a token provider are
    remembered as it makes them) and credentials in the base URL. The organization and
    project ids are not secrets (OpenAI's own error messages quote them), so they stay shown."""
    remember_secret(backend.api_key)
    if backend.azure is not None:
        remember_secret(backend.azure.ad_token)
    remember_url_secrets(backend.base_url)
    redact_http_logs()


def _model_of(call: Call) -> str | None:
    """The model a call names (in its JSON body or its form), which Azure takes for a deployment."""
    model = (call.json or call.data or {}).get("model")
    return model if isinstance(model, str) else None


def _split_query(url: str) -> tuple[str, dict[str, str] | None]:
    """A base URL without its query string (``?api-version=...``), and that query's parameters,
    which every request carries: the paths of the calls go before them."""
    from urllib.parse import parse_qsl

    base, question, query = url.partition("?")
    if not question:
        return url, None
    return base.rstrip("/"), dict(parse_qsl(query, keep_blank_values=True))


def _timeout(timeout: float | httpx.Timeout | None) -> Any:
    import httpx

    if isinstance(timeout, httpx.Timeout):
        return timeout
    read = config.DEFAULT_TIMEOUT if timeout is None else float(timeout)
    return httpx.Timeout(read, connect=min(config.DEFAULT_CONNECT_TIMEOUT, read))


class Client(_ClientBase):
    """Blocking client. ``Client()`` with no key and no base URL uses the offline simulator."""

    if TYPE_CHECKING:
        @overload  # type: ignore[override]
        def generate(self, prompt: str, *, stream: Literal[False] = False,
                     **options: Unpack[ImageOptions]) -> list[Image]: ...
        @overload
        def generate(self, prompt: str, *, stream: Literal[True],
                     **options: Unpack[ImageOptions]) -> Stream[list[Image]]: ...
        @overload
        def generate(self, prompt: str, *, stream: bool,
                     **options: Unpack[ImageOptions]) -> list[Image] | Stream[list[Image]]: ...
        def generate(self, prompt: str, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        def edit(self, prompt: str, image: Any, *, stream: Literal[False] = False,
                 **options: Unpack[EditOptions]) -> list[Image]: ...
        @overload
        def edit(self, prompt: str, image: Any, *, stream: Literal[True],
                 **options: Unpack[EditOptions]) -> Stream[list[Image]]: ...
        @overload
        def edit(self, prompt: str, image: Any, *, stream: bool,
                 **options: Unpack[EditOptions]) -> list[Image] | Stream[list[Image]]: ...
        def edit(self, prompt: str, image: Any, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        def respond(self, input: Any, *, stream: Literal[False] = False,
                    **options: Unpack[RespondOptions]) -> Response: ...
        @overload
        def respond(self, input: Any, *, stream: Literal[True],
                    **options: Unpack[RespondOptions]) -> Stream[Response | None]: ...
        @overload
        def respond(self, input: Any, *, stream: bool,
                    **options: Unpack[RespondOptions]) -> Response | Stream[Response | None]: ...
        def respond(self, input: Any, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        def describe(self, image: Any, question: str = ..., *, stream: Literal[False] = False,
                     **options: Unpack[DescribeOptions]) -> str: ...
        @overload
        def describe(self, image: Any, question: str = ..., *, stream: Literal[True],
                     **options: Unpack[DescribeOptions]) -> Stream[str]: ...
        @overload
        def describe(self, image: Any, question: str = ..., *, stream: bool,
                     **options: Unpack[DescribeOptions]) -> str | Stream[str]: ...
        def describe(self, image: Any, question: str = ..., *, stream: bool = False, **options: Any) -> Any: ...

        def variations(self, image: Any, *, n: int | None = None, size: str | None = None,
                       model: str | None = None, **extra: Any) -> list[Image]: ...
        def upload(self, image: Any, *, purpose: str = "vision") -> str: ...

    def _default_http(self) -> Any:
        import httpx

        transport = self._local_transport() if self._backend.kind == "local" else None
        return httpx.Client(transport=transport, timeout=self._timeout)

    def _send(self, call: Call) -> httpx.Response:
        import time

        import httpx

        attempt = 0
        while True:
            headers = None
            try:
                response: httpx.Response = self._http.send(self._request(call, self._auth()), stream=True)
            except httpx.TransportError as exc:
                error: Exception = connection_error(exc)
            else:
                if response.status_code < 400 and not_the_api(response) is None:
                    return response
                body = _Body(MAX_ERROR_BYTES, truncate=True)
                try:
                    for chunk in response.iter_bytes():
                        if body.add(chunk):
                            break
                except httpx.TransportError:
                    pass  # what arrived of the error says enough
                finally:
                    response.close()
                error, headers = api_error(body.reply(response)), response.headers
            delay = self.retry.after_error(attempt, error, headers)
            if delay is None:
                raise error
            time.sleep(delay)
            attempt += 1

    def _auth(self) -> dict[str, str] | None:
        backend = self._backend
        if backend.azure is not None:
            return backend.azure.headers()
        if backend.key_provider is not None:
            return bearer(current(backend.key_provider, "api_key"))
        return None

    def _run(self, call: Call) -> Any:
        import httpx

        response = self._send(call)
        if call.stream:
            return Stream(response, EventDecoder(call.meta), call.stream_result)
        error: Exception | None = None
        body = _Body(MAX_REPLY_BYTES)
        try:
            for chunk in response.iter_bytes():
                body.add(chunk)
        except httpx.TransportError as exc:
            error = connection_error(exc)
        finally:
            response.close()
        if error is not None:
            raise error  # outside the handler: httpx's exception (holding the request) is not its context
        return _reply(call, body.reply(response))

    def _lines(self, call: Call) -> Iterator[str]:
        """The body of ``call``'s reply a line at a time, as it arrives (a batch's output file:
        far larger than a reply is allowed to be, and never held whole)."""
        import httpx

        response = self._send(call)
        error: Exception | None = None
        try:
            yield from response.iter_lines()
        except httpx.TransportError as exc:
            error = connection_error(exc)
        finally:
            response.close()
        if error is not None:
            raise error

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_ClientBase):
    """The same methods as `Client`, as coroutines; streams are async iterators.

    ``stream = await client.generate(..., stream=True)`` then ``async for event in stream``.
    """

    if TYPE_CHECKING:
        @overload  # type: ignore[override]
        async def generate(self, prompt: str, *, stream: Literal[False] = False,
                           **options: Unpack[ImageOptions]) -> list[Image]: ...
        @overload
        async def generate(self, prompt: str, *, stream: Literal[True],
                           **options: Unpack[ImageOptions]) -> AsyncStream[list[Image]]: ...
        @overload
        async def generate(self, prompt: str, *, stream: bool,
                           **options: Unpack[ImageOptions]) -> list[Image] | AsyncStream[list[Image]]: ...
        async def generate(self, prompt: str, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        async def edit(self, prompt: str, image: Any, *, stream: Literal[False] = False,
                       **options: Unpack[EditOptions]) -> list[Image]: ...
        @overload
        async def edit(self, prompt: str, image: Any, *, stream: Literal[True],
                       **options: Unpack[EditOptions]) -> AsyncStream[list[Image]]: ...
        @overload
        async def edit(self, prompt: str, image: Any, *, stream: bool,
                       **options: Unpack[EditOptions]) -> list[Image] | AsyncStream[list[Image]]: ...
        async def edit(self, prompt: str, image: Any, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        async def respond(self, input: Any, *, stream: Literal[False] = False,
                          **options: Unpack[RespondOptions]) -> Response: ...
        @overload
        async def respond(self, input: Any, *, stream: Literal[True],
                          **options: Unpack[RespondOptions]) -> AsyncStream[Response | None]: ...
        @overload
        async def respond(self, input: Any, *, stream: bool,
                          **options: Unpack[RespondOptions]) -> Response | AsyncStream[Response | None]: ...
        async def respond(self, input: Any, *, stream: bool = False, **options: Any) -> Any: ...

        @overload  # type: ignore[override]
        async def describe(self, image: Any, question: str = ..., *, stream: Literal[False] = False,
                           **options: Unpack[DescribeOptions]) -> str: ...
        @overload
        async def describe(self, image: Any, question: str = ..., *, stream: Literal[True],
                           **options: Unpack[DescribeOptions]) -> AsyncStream[str]: ...
        @overload
        async def describe(self, image: Any, question: str = ..., *, stream: bool,
                           **options: Unpack[DescribeOptions]) -> str | AsyncStream[str]: ...
        async def describe(self, image: Any, question: str = ..., *, stream: bool = False, **options: Any) -> Any: ...

        async def variations(self, image: Any, *, n: int | None = None, size: str | None = None,
                             model: str | None = None, **extra: Any) -> list[Image]: ...
        async def upload(self, image: Any, *, purpose: str = "vision") -> str: ...

    def _default_http(self) -> Any:
        import httpx

        transport = self._local_transport() if self._backend.kind == "local" else None
        return httpx.AsyncClient(transport=transport, timeout=self._timeout)

    async def _send(self, call: Call) -> httpx.Response:
        import asyncio

        import httpx

        attempt = 0
        while True:
            headers = None
            try:
                request = self._request(call, await self._auth())
                response: httpx.Response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                error: Exception = connection_error(exc)
            else:
                if response.status_code < 400 and not_the_api(response) is None:
                    return response
                body = _Body(MAX_ERROR_BYTES, truncate=True)
                try:
                    async for chunk in response.aiter_bytes():
                        if body.add(chunk):
                            break
                except httpx.TransportError:
                    pass  # what arrived of the error says enough
                finally:
                    await response.aclose()
                error, headers = api_error(body.reply(response)), response.headers
            delay = self.retry.after_error(attempt, error, headers)
            if delay is None:
                raise error
            await asyncio.sleep(delay)
            attempt += 1

    async def _auth(self) -> dict[str, str] | None:
        backend = self._backend
        if backend.azure is not None:
            return await backend.azure.async_headers()
        if backend.key_provider is not None:
            return bearer(await current_async(backend.key_provider, "api_key"))
        return None

    async def _run(self, call: Call) -> Any:
        import httpx

        response = await self._send(call)
        if call.stream:
            return AsyncStream(response, EventDecoder(call.meta), call.stream_result)
        error: Exception | None = None
        body = _Body(MAX_REPLY_BYTES)
        try:
            async for chunk in response.aiter_bytes():
                body.add(chunk)
        except httpx.TransportError as exc:
            error = connection_error(exc)
        finally:
            await response.aclose()
        if error is not None:
            raise error
        return _reply(call, body.reply(response))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

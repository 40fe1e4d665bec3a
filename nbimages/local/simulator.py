"""The simulator's protocol core: requests in, OpenAI-shaped replies out (sans-IO).

:meth:`Simulator.handle` takes a method, path, headers and body bytes and returns a
:class:`~nbimages.local.protocol.SimResponse`; :mod:`.transport` (httpx) and
:mod:`.server` (HTTP on a socket) only move bytes and sleep.

A request is recorded, meets the rate limit if there is one (:mod:`.ratelimit`: image and
Responses requests only), then the fault plan (:mod:`.fault_replies`), and is routed to its
endpoint: :mod:`.images_api`, :mod:`.responses_api`, :mod:`.files_api`,
:mod:`.batches_api`, or the models list here. A batch's requests go straight to their
endpoint, from the batch's own thread: neither rate limit nor faults apply to them.
The endpoints never draw: they ask the painter (:mod:`.painter`) for pixels.
``/_simulator/...`` is the control API (faults, recorded requests, reset).

Azure OpenAI's paths are served too, as `openai.AzureOpenAI` calls them (`azure_call`):
``/openai/deployments/{deployment}/images/generations?api-version=...``, ``/openai/responses``,
``/openai/files``..., signed with an ``api-key`` header or a bearer token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple
from urllib.parse import unquote

from . import files_api, images_api, responses_api
from .batches_api import Batches, BatchPace
from .fault_replies import REPLACING, bend, instead
from .faults import FaultPlan
from .incoming import RecordedFile, RecordedRequest, Request
from .painter import Painter, ProceduralPainter
from .params import DEFAULT_IMAGE_MODEL, DEFAULT_MODEL, MODELS
from .protocol import APIError, SimResponse, dumps
from .ratelimit import Admission, RequestLimiter
from .replies import error_reply, json_reply
from .state import Context, State

__all__ = ["DEFAULT_IMAGE_MODEL", "DEFAULT_MODEL", "MODELS", "RecordedFile", "RecordedRequest", "Simulator"]

DEFAULT_PAINTER = ProceduralPainter()  # stateless: shared, so its encoded pictures are too

Endpoint = Callable[[Context, Request], SimResponse]
ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    ("POST", "/images/generations"): images_api.generations,
    ("POST", "/images/edits"): images_api.edits,
    ("POST", "/images/variations"): images_api.variations,
}
KNOWN_PATHS = ("/images/generations", "/images/edits", "/images/variations", "/models", "/files",
               "/responses", "/batches")


class Simulator:
    """An in-memory, deterministic stand-in for OpenAI's image and Responses APIs.

    ``painter`` makes the pixels (:class:`~nbimages.local.painter.ProceduralPainter` by
    default); the simulator does everything else.

    ``rpm_limit``: at most this many image and Responses requests a minute (none by
    default), ``rpm_burst`` of them at once (the whole minute's by default; a smaller burst
    spreads the limit over the minute); refused requests are counted in `rate_limited`.
    ``batch_start_delay``, ``batch_seconds_per_request`` and ``batch_window`` pace the
    Batch API (seconds: validating, each request, the time before a batch expires).
    """

    def __init__(self, *, latency: float = 0.0, partial_interval: float | None = None,
                 image_model: str = DEFAULT_IMAGE_MODEL, model: str = DEFAULT_MODEL,
                 painter: Painter | None = None, rpm_limit: int | None = None,
                 rpm_burst: int | None = None, batch_start_delay: float = BatchPace.start_delay,
                 batch_seconds_per_request: float = BatchPace.seconds_per_request,
                 batch_window: float = BatchPace.window) -> None:
        self.latency = latency
        self.partial_interval = partial_interval
        self.image_model = image_model
        self.model = model
        self.painter: Painter = painter if painter is not None else DEFAULT_PAINTER
        self.faults = FaultPlan()
        self.rate_limit = RequestLimiter(rpm_limit, rpm_burst) if rpm_limit else None
        self.rate_limited = 0  # requests refused with a 429 by ``rate_limit``
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._state = State()
        self.batches = Batches(self._state, self._run_batch_line,
                               BatchPace(batch_start_delay, batch_seconds_per_request, batch_window))

    # ------------------------------------------------------------ bookkeeping

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request handled so far (a copy)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def reset(self) -> None:
        """Forget requests, faults, batches, files, responses and served images; the rate
        limit starts afresh."""
        self.clear_requests()
        self.batches.clear()
        self._state.clear()
        self.faults.clear()
        if self.rate_limit is not None:
            self.rate_limit.reset()
        with self._lock:
            self.rate_limited = 0

    # ------------------------------------------------------------ entry point

    def handle(self, method: str, path: str,
               headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
               body: bytes = b"", *, query: str | None = None,
               base_url: str | None = None) -> SimResponse:
        """Answer one request.

        ``base_url`` is the public address of this API (``http://host:port/v1``) when
        served over HTTP; then ``response_format="url"`` gives real URLs, else data URLs.
        """
        req = Request.build(method, path, headers or {}, body, query, base_url)
        started = time.perf_counter()
        resp = self._control(req) if req.path.startswith("/_simulator/") else self._answer(req)
        resp.headers.append(("x-request-id", "req_" + uuid.uuid4().hex))
        resp.headers.append(("openai-processing-ms", str(int((time.perf_counter() - started) * 1000))))
        resp.headers.append(("openai-version", "2020-10-01"))
        return resp

    def _answer(self, req: Request) -> SimResponse:
        """The API's reply, as the fault plan has it; errors as the API words them."""
        record = req.record()
        with self._lock:
            self._requests.append(record)
        admission = self._admit(req)
        if admission is not None and not admission.allowed:
            return error_reply(admission.error())
        resp = self._faulted(req)
        if admission is not None:
            resp.headers.extend(admission.headers())
        return resp

    def _admit(self, req: Request) -> Admission | None:
        """The rate limit's verdict on an image or Responses request (None: not limited)."""
        limiter = self.rate_limit
        if limiter is None or req.method != "POST":
            return None
        call = azure_call(req.path)
        path = call.path if call is not None else req.path
        if not path.startswith(("/images/", "/responses")):
            return None
        admission = limiter.admit()
        if not admission.allowed:
            with self._lock:
                self.rate_limited += 1
        return admission

    def _faulted(self, req: Request) -> SimResponse:
        """The endpoint's reply, as the fault plan has it."""
        fault = self.faults.take(req.method, req.full_path)

        def reply(req: Request) -> SimResponse:
            if fault is not None and fault.kind in REPLACING:
                return instead(fault)
            resp = self._route(req)
            return bend(resp, fault) if fault is not None else resp

        return _guarded(reply, req)

    def _run_batch_line(self, url: str, body: dict[str, Any]) -> SimResponse:
        """One request of a batch, answered by its endpoint (as if sent alone, not streamed)."""
        req = Request.build("POST", url, {"content-type": "application/json"}, dumps(body), None, None)
        return _guarded(self._route, req)

    # ------------------------------------------------------------ routing

    def _route(self, req: Request) -> SimResponse:
        req, deployment = _unwrap_azure(req)
        # On Azure the deployment is the model: the one an image request without a model gets.
        image_model = deployment if deployment and req.path.startswith("/images/") else self.image_model
        ctx = Context(self._state, self.painter, image_model)
        parts = [x for x in req.path.split("/") if x]
        endpoint = ENDPOINTS.get((req.method, req.path))
        if endpoint is not None:
            return endpoint(ctx, req)
        if parts[:1] == ["models"] and req.method == "GET" and len(parts) <= 2:
            return _models(parts)
        if parts[:1] == ["files"]:
            return files_api.route(ctx, req, parts)
        if parts[:1] == ["batches"]:
            return self.batches.route(req, parts)
        resp = responses_api.route(ctx, req, parts) if parts[:1] == ["responses"] else None
        if resp is not None:
            return resp
        if parts[:1] == ["_files"] and len(parts) == 2 and req.method == "GET":
            return self._served(parts[1])
        if req.path in KNOWN_PATHS:
            raise APIError(405, f"Method {req.method} not allowed for {req.full_path}.",
                           code="method_not_allowed")
        raise APIError(404, f"Invalid URL ({req.method} {req.full_path})", code="unknown_url")

    def _served(self, name: str) -> SimResponse:
        served = self._state.served(name)
        if served is None:
            raise APIError(404, "No such image.", code="not_found")
        return SimResponse(200, [("content-type", served[1])], served[0])

    # ------------------------------------------------------------ control API

    def _control(self, req: Request) -> SimResponse:
        what = req.path[len("/_simulator/"):].strip("/")
        if what == "faults" and req.method in ("GET", "POST", "DELETE"):
            return self._control_faults(req)
        if what == "requests" and req.method == "GET":
            return json_reply(200, {"requests": [r.to_dict() for r in self.requests]})
        if what == "requests" and req.method == "DELETE":
            self.clear_requests()
            return json_reply(200, {"cleared": True})
        if what == "reset" and req.method == "POST":
            self.reset()
            return json_reply(200, {"reset": True})
        return error_reply(APIError(404, f"Unknown simulator control endpoint {req.path}", code="not_found"))

    def _control_faults(self, req: Request) -> SimResponse:
        if req.method == "GET":
            return json_reply(200, {"faults": [f.to_dict() for f in self.faults.pending]})
        if req.method == "DELETE":
            self.faults.clear()
            return json_reply(200, {"cleared": True})
        try:
            added = self.faults.extend(req.json())
        except (ValueError, TypeError, AttributeError) as exc:
            return error_reply(APIError(400, f"Invalid fault: {exc}", param="faults"))
        except APIError as err:
            return error_reply(err)
        return json_reply(200, {"added": [f.to_dict() for f in added]})


def _guarded(route: Callable[[Request], SimResponse], req: Request) -> SimResponse:
    """The route's reply; errors as the API words them."""
    try:
        return route(req)
    except APIError as err:
        return error_reply(err)
    except Exception as exc:  # a bug here must not look like a network failure
        return error_reply(APIError(500, f"The simulator failed: {type(exc).__name__}: {exc}",
                                    type="server_error", code="simulator_error"))


def _models(parts: list[str]) -> SimResponse:
    """``GET /models`` and ``GET /models/{id}`` (any gpt- or chatgpt- name exists)."""
    if len(parts) == 1:
        return json_reply(200, {"object": "list", "data": [_model(x) for x in MODELS]})
    if parts[1] in MODELS or parts[1].startswith(("gpt-", "chatgpt-")):
        return json_reply(200, _model(parts[1]))
    raise APIError(404, f"The model '{parts[1]}' does not exist or you do not have access to it.",
                   code="model_not_found")


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1735689600, "owned_by": "system"}


# ------------------------------------------------------------ Azure OpenAI

class AzureCall(NamedTuple):
    """What an Azure path stands for: the OpenAI path, the deployment it names, and whether it is
    the classic API (``?api-version=`` required) or Azure's v1 API (``/openai/v1/...``, none)."""

    path: str
    deployment: str | None
    versioned: bool


def azure_call(path: str) -> AzureCall | None:
    """The `AzureCall` of a request path (without its query), or None for an OpenAI path."""
    if not path.startswith("/openai/"):
        return None
    rest = path[len("/openai"):]
    if rest.startswith("/v1/"):
        return AzureCall(rest[len("/v1"):], None, False)
    parts = rest.split("/", 3)  # "", "deployments", name, the rest
    if len(parts) == 4 and parts[1] == "deployments" and parts[2]:
        return AzureCall("/" + parts[3], unquote(parts[2]), True)
    return AzureCall(rest, None, True)


def _unwrap_azure(req: Request) -> tuple[Request, str | None]:
    """An Azure request as the OpenAI request it stands for, and its deployment; refused as
    Azure refuses it without a credential or an API version."""
    call = azure_call(req.path)
    if call is None:
        return req, None
    if not (req.headers.get("api-key") or req.headers.get("authorization")):
        raise APIError(401, "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                       "provide a valid key for an active subscription and use a correct regional API endpoint "
                       "for your resource.", code="401")
    if call.versioned and not req.query.get("api-version", [""])[0]:
        raise APIError(400, "The api-version query parameter (?api-version=) is required for all requests.",
                       code="MissingApiVersionParameter", param="api-version")
    inner = replace(req, path=call.path)
    if call.deployment and call.path == "/responses":
        inner = _with_model(inner, call.deployment)
    return inner, call.deployment


def _with_model(req: Request, model: str) -> Request:
    """``req`` with ``model`` in its JSON body, unless the body names one (or is not an object)."""
    try:
        body = req.json()
    except APIError:
        return req  # the endpoint reports it
    if not isinstance(body, dict) or body.get("model"):
        return req
    return replace(req, body=dumps({**body, "model": model}), _json=None)

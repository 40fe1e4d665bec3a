"""The simulator's protocol core: requests in, OpenAI-shaped replies out (sans-IO).

:meth:`Simulator.handle` takes a method, path, headers and body bytes and returns a
:class:`~nbimages.local.protocol.SimResponse`; :mod:`.transport` (httpx) and
:mod:`.server` (HTTP on a socket) only move bytes and sleep.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import parse_qs

from . import multipart
from .faults import Fault, FaultPlan, tamper
from .protocol import (CUT, PAUSE, SHORT_PAUSE, APIError, SimResponse, Sleep, StreamItem, dumps, new_id,
                       parse_json_body, sse_event)

DEFAULT_IMAGE_MODEL = "gpt-image-1.5"
DEFAULT_MODEL = "gpt-5"
MODELS = ("gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "chatgpt-image-latest",
          "gpt-5", "gpt-5-mini", "gpt-4.1", "gpt-4o")
MAX_PROMPT = 32000
MODERATION_TRIGGER = "forbidden-content"

# output tokens of one 1024x1024 image, by quality
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
PARTIAL_TOKENS = 100
QUALITY_ALIASES = {None: "medium", "auto": "medium", "standard": "medium", "hd": "high"}
FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "webp": "webp", "gif": "gif"}
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}

_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[^,;]*)*?)(;base64)?,(.*)$", re.S)
_QUESTION = re.compile(
    r"^\s*(what|what's|whats|which|describe|how|is|are|does|do|can|could|who|where|why|"
    r"tell|explain|count|identify|caption|list|name|compare|analy[sz]e|read)\b", re.I)


# --------------------------------------------------------------------------- records


@dataclass
class RecordedFile:
    filename: str | None
    content_type: str | None
    size: int
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "content_type": self.content_type,
                "size": self.size}


@dataclass
class RecordedRequest:
    """One request as the simulator saw it (the authorization header is never kept)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[RecordedFile]] = field(default_factory=dict)
    body_size: int = 0
    time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": self.headers, "json": self.json, "form": self.form,
                "files": {k: [f.to_dict() for f in v] for k, v in self.files.items()},
                "body_size": self.body_size, "time": self.time}


@dataclass
class ImageOptions:
    model: str
    size: tuple[int, int] | None  # None = auto
    quality: str
    background: str  # requested: auto / opaque / transparent / other
    output_format: str
    compression: int | None
    n: int = 1
    partial_images: int = 0
    stream: bool = False
    response_format: str = "b64_json"

    @property
    def transparent(self) -> bool:
        return self.background == "transparent"


@dataclass
class _Request:
    method: str
    path: str  # without the /v1 prefix
    full_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base_url: str | None
    _json: Any = None
    _form: multipart.Form | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        if self._json is None:
            if not self.body.strip():
                raise APIError(400, "We could not parse the JSON body of your request: the "
                               "body is empty. (HINT: send a JSON object.)")
            self._json = parse_json_body(self.body)  # UTF-8, bounded nesting: a 400 otherwise
        return self._json

    def form(self) -> multipart.Form:
        if self._form is None:
            try:
                self._form = multipart.parse(self.body, self.content_type)
            except multipart.MultipartError as exc:
                raise APIError(400, f"Could not parse the multipart form: {exc}") from None
        return self._form

    @property
    def is_multipart(self) -> bool:
        return self.content_type.lower().startswith("multipart/")


# --------------------------------------------------------------------------- helpers


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _digest(*parts: Any) -> int:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, (bytes, bytearray)):
            h.update(hashlib.sha256(p).digest())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return int.from_bytes(h.digest()[:8], "big")


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def image_output_tokens(size: tuple[int, int], quality: str) -> int:
    base = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["medium"])
    return max(16, round(base * size[0] * size[1] / (1024 * 1024)))


def vision_tokens(size: tuple[int, int], detail: str | None, model: str) -> int:
    base, tile = (70, 140) if model.startswith("gpt-5") else (85, 170)
    if detail == "low":
        return base
    w, h = size
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 768 / min(w, h)) if min(w, h) > 0 else 1.0
    w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return base + tile * tiles


def image_input_tokens(size: tuple[int, int], fidelity: str | None) -> int:
    w, h = size
    scale = min(1.0, 2048 / max(w, h))
    w, h = w * scale, h * scale
    scale = min(1.0, 512 / min(w, h)) if min(w, h) > 0 else 1.0
    tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
    tokens = 65 + 129 * tiles
    if fidelity == "high":
        tokens += 4096 if max(size) >= 1024 else 1024
    return tokens


def _images_usage(prompt: str, out_tokens: int, image_tokens: int = 0) -> dict[str, Any]:
    tt = text_tokens(prompt)
    return {"input_tokens": tt + image_tokens,
            "input_tokens_details": {"text_tokens": tt, "image_tokens": image_tokens},
            "output_tokens": out_tokens,
            "output_tokens_details": {"image_tokens": out_tokens, "text_tokens": 0},
            "total_tokens": tt + image_tokens + out_tokens}


def _int_param(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise APIError(400, f"Invalid type for '{name}': expected an integer, but got a "
                       "boolean instead.", param=name, code="invalid_type")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise APIError(400, f"Invalid type for '{name}': expected an integer, but got "
                           "a string instead.", param=name, code="invalid_type") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise APIError(400, f"Invalid type for '{name}': expected an integer.", param=name,
                       code="invalid_type")
    if value < lo:
        raise APIError(400, f"Invalid '{name}': integer below minimum value. Expected a value "
                       f">= {lo}, but got {value} instead.", param=name,
                       code="integer_below_min_value")
    if value > hi:
        raise APIError(400, f"Invalid '{name}': integer above maximum value. Expected a value "
                       f"<= {hi}, but got {value} instead.", param=name,
                       code="integer_above_max_value")
    return value


def _bool_param(value: Any, name: str) -> bool:
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no"):
        return False
    raise APIError(400, f"Invalid value for '{name}': expected a boolean.", param=name,
                   code="invalid_type")


def parse_size(value: Any, param: str = "size") -> tuple[int, int] | None:
    """``"auto"``/None -> None; ``"WxH"`` -> (W, H) if the API would accept it."""
    if value is None or value == "" or value == "auto":
        return None
    m = _SIZE.match(str(value))
    if not m:
        raise APIError(400, f"Invalid value: '{value}'. Supported values are: 'auto', "
                       "'1024x1024', '1536x1024', '1024x1536', or 'WxH' with both sides "
                       "multiples of 16.", param=param, code="invalid_value")
    w, h = int(m.group(1)), int(m.group(2))
    problem = None
    if w < 16 or h < 16:
        problem = "both sides must be at least 16 pixels"
    elif w % 16 or h % 16:
        problem = "both sides must be multiples of 16"
    elif max(w, h) > 3840:
        problem = "the longest side must be at most 3840 pixels"
    elif max(w, h) / min(w, h) > 3:
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif w * h > 3840 * 2160:
        problem = "at most 3840x2160 pixels in total"
    if problem:
        raise APIError(400, f"Invalid value: '{value}' for size: {problem}.", param=param,
                       code="invalid_value")
    return (w, h)


def _size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _image_options(src: Mapping[str, Any], *, prefix: str = "", allow_n: bool = True,
                   default_model: str = DEFAULT_IMAGE_MODEL) -> ImageOptions:
    def p(name: str) -> str:
        return f"{prefix}{name}"

    model = src.get("model") or default_model
    size = parse_size(src.get("size"), p("size"))
    q = src.get("quality")
    quality = QUALITY_ALIASES.get(q, q) if not isinstance(q, str) or q in QUALITY_ALIASES \
        else q
    if quality is None or not isinstance(quality, str):
        quality = "medium"
    fmt_raw = src.get("output_format") or "png"
    fmt = FORMATS.get(str(fmt_raw).lower())
    if fmt is None:
        raise APIError(400, f"Invalid value: '{fmt_raw}'. The offline simulator supports "
                       "'png', 'jpeg', 'webp' and 'gif'.", param=p("output_format"),
                       code="invalid_value")
    background = src.get("background") or "auto"
    if background == "transparent" and fmt not in ("png", "webp"):
        raise APIError(400, "Transparent background requires output_format 'png' or 'webp'.",
                       param=p("background"), code="invalid_value")
    compression = src.get("output_compression")
    if compression is not None:
        compression = _int_param(compression, p("output_compression"), 0, 100, 100)
    n = _int_param(src.get("n"), p("n"), 1, 10, 1) if allow_n else 1
    partial = _int_param(src.get("partial_images"), p("partial_images"), 0, 3, 0)
    rf = src.get("response_format") or "b64_json"
    if rf not in ("b64_json", "url"):
        raise APIError(400, f"Invalid value: '{rf}'. Supported values are: 'url' and "
                       "'b64_json'.", param=p("response_format"), code="invalid_value")
    return ImageOptions(model=str(model), size=size, quality=quality,
                        background=str(background), output_format=fmt,
                        compression=compression, n=n, partial_images=partial,
                        stream=_bool_param(src.get("stream"), p("stream")),
                        response_format=rf)


def _check_prompt(prompt: Any, param: str = "prompt") -> str:
    if prompt is None:
        raise APIError(400, f"Missing required parameter: '{param}'.", param=param,
                       code="missing_required_parameter")
    if not isinstance(prompt, str):
        raise APIError(400, f"Invalid type for '{param}': expected a string.", param=param,
                       code="invalid_type")
    if not prompt.strip():
        raise APIError(400, f"Invalid '{param}': empty string. Expected a string with minimum "
                       "length 1, but got an empty string instead.", param=param,
                       code="empty_string")
    if len(prompt) > MAX_PROMPT:
        raise APIError(400, f"Invalid '{param}': string too long. Expected a string with "
                       f"maximum length {MAX_PROMPT}, but got a string with length "
                       f"{len(prompt)} instead.", param=param, code="string_above_max_length")
    _moderate(prompt)
    return prompt


def _moderate(text: str) -> None:
    if MODERATION_TRIGGER in text.lower():
        raise APIError(400, "Your request was rejected as a result of our safety system. "
                       "Your request may contain content that is not allowed by our safety "
                       "system.", type="image_generation_user_error",
                       code="moderation_blocked")


def _decode_data_url(url: str, param: str) -> bytes:
    m = _DATA_URL.match(url)
    if not m:
        if url.startswith(("http://", "https://")):
            raise APIError(400, f"The offline simulator cannot download '{url[:80]}': pass the "
                           "image as a data URL or upload it with the Files API.",
                           param=param, code="invalid_image_url")
        raise APIError(400, "Invalid image URL: expected a data URL "
                       "('data:image/png;base64,...') or a file_id.", param=param,
                       code="invalid_image_url")
    payload = m.group(4)
    try:
        if m.group(3):
            return base64.b64decode(payload, validate=False)
        from urllib.parse import unquote_to_bytes

        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise APIError(400, "Invalid base64 image data in data URL.", param=param,
                       code="invalid_image_url") from None


def _open(data: bytes, param: str, index: int | None = None) -> Any:
    from .painter.vision import UnreadableImage, open_image

    try:
        return open_image(data)
    except UnreadableImage:
        which = f" for image {index}" if index is not None else ""
        raise APIError(400, f"Invalid image file or mode{which}, please check your image "
                       "file.", param=param, code="invalid_image_file") from None


def _mask_region(mask_img: Any, size: tuple[int, int], param: str) -> Any:
    """The editable region ("L", 255 where the mask's alpha is 0) for an image of ``size``."""
    if mask_img.mode == "P" and "transparency" in mask_img.info:
        mask_img = mask_img.convert("RGBA")
    if "A" not in mask_img.getbands():
        raise APIError(400, "Invalid mask image format - mask image missing alpha channel. "
                       "The mask's fully transparent pixels (alpha 0) mark where to edit.",
                       param=param, code="invalid_image_format")
    if mask_img.size != size:
        raise APIError(400, f"Invalid mask image: the mask must have the same dimensions as "
                       f"the image (mask {mask_img.width}x{mask_img.height}, image "
                       f"{size[0]}x{size[1]}).", param=param, code="invalid_image_size")
    alpha = mask_img.getchannel("A")
    return alpha.point(lambda a: 255 if a == 0 else 0)


def _normalise_headers(headers: Mapping[str, str] | Sequence[tuple[str, str]] | Any) -> dict[
        str, str]:
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    for k, v in items:
        if isinstance(k, bytes):
            k = k.decode("latin-1")
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        out[str(k).lower()] = str(v)
    return out


def _sniff_mime(data: bytes, filename: str | None = None) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    if filename:
        import mimetypes

        guess = mimetypes.guess_type(filename)[0]
        if guess:
            return guess
    return "application/octet-stream"


def _split_text(text: str, pieces: int = 8) -> list[str]:
    """Cut ``text`` into word-aligned deltas (at least 3 when the text allows)."""
    words = re.findall(r"\S+\s*|\s+", text)
    if len(words) <= 1:
        return [text] if text else []
    per = max(1, math.ceil(len(words) / pieces))
    return ["".join(words[i:i + per]) for i in range(0, len(words), per)]


# --------------------------------------------------------------------------- simulator


@dataclass
class _StoredImage:
    data: bytes
    output_format: str
    prompt: str
    revised_prompt: str
    size: tuple[int, int]
    label: str = ""  # the text written in the picture's corner


def _cut_before(fault: Fault, n: int, event: dict[str, Any]) -> bool:
    """Whether a ``cut`` fault ends the stream before event ``n``."""
    if fault.get("after_type") is not None:
        return False
    if fault.get("after_partials") is not None:
        return int(fault.get("after_partials")) == 0 and _is_partial(event)
    return n >= int(fault.get("after_events", 1))


def _cut_after(fault: Fault, event: dict[str, Any], partials_sent: int) -> bool:
    """Whether a ``cut`` fault ends the stream right after ``event``."""
    if fault.get("after_type") is not None:
        return bool(fault.get("after_type") == event.get("type"))
    wanted = fault.get("after_partials")
    return wanted is not None and _is_partial(event) and partials_sent == int(wanted)


def _is_partial(event: dict[str, Any]) -> bool:
    return "partial_image" in str(event.get("type", ""))


class Simulator:
    """An in-memory, deterministic stand-in for OpenAI's image and Responses APIs."""

    def __init__(self, *, latency: float = 0.0, partial_interval: float | None = None,
                 image_model: str = DEFAULT_IMAGE_MODEL, model: str = DEFAULT_MODEL) -> None:
        self.latency = latency
        self.partial_interval = partial_interval
        self.image_model = image_model
        self.model = model
        self.faults = FaultPlan()
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self._responses: dict[str, dict[str, Any]] = {}
        self._response_images: dict[str, str] = {}  # response id -> latest ig id
        self._images: dict[str, _StoredImage] = {}  # ig id -> image
        self._served: dict[str, tuple[bytes, str]] = {}  # /_files/name -> (bytes, mime)

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
        """Forget requests, faults, files, responses and served images."""
        with self._lock:
            self._requests.clear()
            self._files.clear()
            self._responses.clear()
            self._response_images.clear()
            self._images.clear()
            self._served.clear()
        self.faults.clear()

    def _record(self, req: _Request) -> None:
        headers = {k: v for k, v in req.headers.items()
                   if k not in ("authorization", "api-key", "x-api-key")}
        rec = RecordedRequest(method=req.method, path=req.full_path, query=req.query,
                              headers=headers, body_size=len(req.body), time=time.time())
        if req.body:
            if req.is_multipart:
                try:
                    form = req.form()
                    rec.form = {k: (v[0] if len(v) == 1 else v) for k, v in form.fields.items()}
                    rec.files = {k: [RecordedFile(f.filename, f.content_type, f.size, f.data)
                                     for f in v] for k, v in form.files.items()}
                except APIError:
                    pass
            elif "json" in req.content_type or req.body[:1] in (b"{", b"["):
                try:
                    rec.json = req.json()
                except APIError:
                    pass
        with self._lock:
            self._requests.append(rec)

    # ------------------------------------------------------------ entry point

    def handle(self, method: str, path: str,
               headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
               body: bytes = b"", *, query: str | None = None,
               base_url: str | None = None) -> SimResponse:
        """Answer one request.

        ``base_url`` is the public address of this API (``http://host:port/v1``) when
        served over HTTP; then ``response_format="url"`` gives real URLs, else data URLs.
        """
        if query is None:
            path, _, query = path.partition("?")
        method = method.upper()
        hdrs = _normalise_headers(headers or {})
        full_path = path
        inner = path[3:] if path == "/v1" or path.startswith("/v1/") else path
        inner = "/" + inner.strip("/")
        req = _Request(method, inner, full_path, parse_qs(query or ""), hdrs, body or b"",
                       base_url)
        request_id = "req_" + uuid.uuid4().hex
        started = time.perf_counter()
        if inner.startswith("/_simulator/"):
            resp = self._control(req)
        else:
            self._record(req)
            fault = self.faults.take(method, full_path)
            try:
                if fault is not None and fault.kind in ("status", "drop", "reply"):
                    resp = self._fault_response(fault)
                else:
                    resp = self._route(req)
                    if fault is not None:
                        resp = self._apply_fault(resp, fault)
            except APIError as err:
                resp = self._error(err)
            except Exception as exc:  # a bug here must not look like a network failure
                resp = self._error(APIError(
                    500, f"The simulator failed: {type(exc).__name__}: {exc}",
                    type="server_error", code="simulator_error"))
        resp.headers.append(("x-request-id", request_id))
        resp.headers.append(("openai-processing-ms",
                             str(int((time.perf_counter() - started) * 1000))))
        resp.headers.append(("openai-version", "2020-10-01"))
        return resp

    # ------------------------------------------------------------ responses

    @staticmethod
    def _json(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> SimResponse:
        return SimResponse(status, [("content-type", "application/json")] + (headers or []),
                           dumps(obj))

    def _error(self, err: APIError) -> SimResponse:
        return self._json(err.status, err.body(), list(err.headers))

    def _stream(self, events: Iterator[dict[str, Any]]) -> SimResponse:
        return SimResponse(200, [("content-type", "text/event-stream; charset=utf-8"),
                                 ("cache-control", "no-cache")],
                           stream=self._frames(events, None))

    @staticmethod
    def _frames(events: Iterator[dict[str, Any]], fault: Fault | None) -> Iterator[StreamItem]:
        kind = fault.kind if fault else None
        at = int(fault.get("at_event", 0) or 0) if fault else 0
        partials_sent = 0
        n = -1
        for n, event in enumerate(events):
            if n:
                etype = str(event.get("type", ""))
                yield PAUSE if ("partial_image" in etype or etype.startswith(
                    "image_") or etype == "response.image_generation_call.completed") \
                    else SHORT_PAUSE
            if fault is None:
                yield sse_event(event)
                continue
            if kind == "stall" and fault.get("at_event") is not None and n == at:
                yield Sleep(float(fault.get("seconds", 5.0)))
            if kind == "cut" and _cut_before(fault, n, event):
                yield CUT
                return
            partials_sent += _is_partial(event)
            if kind == "error_event" and n == at:
                code = fault.get("code", "server_error")
                message = fault.get("message", "The server had an error while processing "
                                               "your request. Sorry about that!")
                if fault.get("shape", "flat") == "nested":
                    err = {"type": "error", "error": {"type": fault.get("type", "server_error"),
                                                      "code": code, "message": message,
                                                      "param": fault.get("param")}}
                else:
                    err = {"type": "error", "code": code, "message": message,
                           "param": fault.get("param"), "sequence_number": n}
                yield sse_event(err)
                return
            if kind == "malformed" and n == at:
                yield f"event: {event.get('type', 'message')}\ndata: {{not json\n\n".encode()
                continue
            if kind == "tamper" and fault.get("at_type") in (None, event.get("type")):
                yield sse_event(tamper(event, fault))
                continue
            if kind == "unknown_events":
                chunks = []
                if n == 0:
                    chunks.append(b": keep-alive\r\n\r\n")
                    chunks.append(b": simulator comment\r\n\r\n")
                chunks.append(sse_event({"type": "simulator.unknown_event", "index": n,
                                         "note": "clients must skip unknown event types"},
                                        crlf=True, comment="keep-alive"))
                chunks.append(sse_event(event, crlf=True, event_id=f"evt_{n}", retry=3000,
                                        comment="keep-alive"))
                data = b"".join(chunks)
                if fault.get("split"):
                    # odd cut points, including between \r and \n
                    cuts = sorted({1, 7, len(data) // 3, len(data) // 2 + 1,
                                   max(1, len(data) - 1)})
                    prev = 0
                    for c in cuts:
                        if prev < c < len(data):
                            yield data[prev:c]
                            prev = c
                    yield data[prev:]
                else:
                    yield data
                continue
            yield sse_event(event)
            if kind == "cut" and _cut_after(fault, event, partials_sent):
                yield CUT
                return
        if kind == "cut":
            yield CUT

    def _fault_response(self, fault: Fault) -> SimResponse:
        if fault.kind == "drop":
            return SimResponse(0, drop=True)
        if fault.kind == "reply":
            headers = [(str(k).lower(), str(v)) for k, v in (fault.get("headers") or {}).items()]
            return SimResponse(int(fault.get("status", 200)), headers, str(fault.get("body", "")).encode())
        status = int(fault.get("status", 500))
        defaults = {
            400: ("invalid_request_error", None, "Bad request (simulated)."),
            401: ("invalid_request_error", "invalid_api_key",
                  "Incorrect API key provided (simulated)."),
            403: ("invalid_request_error", "unsupported_country_region_territory",
                  "Forbidden (simulated)."),
            404: ("invalid_request_error", "not_found", "Not found (simulated)."),
            408: ("timeout", None, "Request timed out (simulated)."),
            409: ("conflict", None, "Conflict (simulated)."),
            429: ("requests", "rate_limit_exceeded",
                  "Rate limit reached for requests (simulated). Please try again later."),
        }
        etype, code, message = defaults.get(
            status, ("server_error", None,
                     "The server had an error while processing your request (simulated)."))
        headers: list[tuple[str, str]] = []
        if fault.get("retry_after") is not None:
            headers.append(("retry-after", str(fault.get("retry_after"))))
        if fault.get("retry_after_ms") is not None:
            headers.append(("retry-after-ms", str(fault.get("retry_after_ms"))))
        if status == 429:
            headers += [("x-ratelimit-limit-requests", "50"),
                        ("x-ratelimit-remaining-requests", "0"),
                        ("x-ratelimit-reset-requests", "1s")]
        for k, v in (fault.get("headers") or {}).items():
            headers.append((str(k).lower(), str(v)))
        err = APIError(status, fault.get("message", message), type=fault.get("type", etype),
                       param=fault.get("param"), code=fault.get("code", code),
                       headers=headers)
        resp = self._error(err)
        if fault.get("stall_seconds"):
            resp.stall = float(fault.get("stall_seconds"))
        return resp

    def _apply_fault(self, resp: SimResponse, fault: Fault) -> SimResponse:
        if fault.kind == "stall" and fault.get("at_event") is None:
            resp.stall = float(fault.get("seconds", 5.0))
            return resp
        if resp.stream is not None:
            # re-wrap the events: undo the plain framing by regenerating with the fault
            if resp.events is not None:
                resp.stream = self._frames(resp.events, fault)
            return resp
        if fault.kind == "cut":
            half = max(1, len(resp.body) // 2)
            resp.stream = iter([resp.body[:half], CUT])
            resp.body = b""
        elif fault.kind == "malformed":
            resp.body = b"{not json"
        elif fault.kind == "tamper":
            resp.body = dumps(tamper(json.loads(resp.body), fault))
        elif fault.kind == "error_event":
            resp.body = dumps({"error": {"message": fault.get("message", "simulated error"),
                                         "type": "server_error",
                                         "param": None, "code": fault.get("code")}})
        elif fault.kind == "stall":
            resp.stall = float(fault.get("seconds", 5.0))
        return resp

    def _event_stream(self, events: Iterator[dict[str, Any]]) -> SimResponse:
        resp = self._stream(events)
        resp.events = events
        return resp

    # ------------------------------------------------------------ control API

    def _control(self, req: _Request) -> SimResponse:
        what = req.path[len("/_simulator/"):].strip("/")
        if what == "faults":
            if req.method == "GET":
                return self._json(200, {"faults": [f.to_dict() for f in self.faults.pending]})
            if req.method == "DELETE":
                self.faults.clear()
                return self._json(200, {"cleared": True})
            if req.method == "POST":
                try:
                    added = self.faults.extend(req.json())
                except (ValueError, TypeError, AttributeError) as exc:
                    return self._error(APIError(400, f"Invalid fault: {exc}", param="faults"))
                except APIError as err:
                    return self._error(err)
                return self._json(200, {"added": [f.to_dict() for f in added]})
        elif what == "requests":
            if req.method == "GET":
                return self._json(200, {"requests": [r.to_dict() for r in self.requests]})
            if req.method == "DELETE":
                self.clear_requests()
                return self._json(200, {"cleared": True})
        elif what == "reset" and req.method == "POST":
            self.reset()
            return self._json(200, {"reset": True})
        return self._error(APIError(404, f"Unknown simulator control endpoint {req.path}",
                                    code="not_found"))

    # ------------------------------------------------------------ routing

    def _route(self, req: _Request) -> SimResponse:
        p, m = req.path, req.method
        parts = [x for x in p.split("/") if x]
        if p == "/images/generations" and m == "POST":
            return self._images_generate(req)
        if p == "/images/edits" and m == "POST":
            return self._images_edit(req)
        if p == "/images/variations" and m == "POST":
            return self._images_variations(req)
        if p == "/models" and m == "GET":
            return self._json(200, {"object": "list",
                                    "data": [self._model(x) for x in MODELS]})
        if len(parts) == 2 and parts[0] == "models" and m == "GET":
            if parts[1] in MODELS or parts[1].startswith(("gpt-", "chatgpt-")):
                return self._json(200, self._model(parts[1]))
            raise APIError(404, f"The model '{parts[1]}' does not exist or you do not have "
                           "access to it.", code="model_not_found")
        if parts and parts[0] == "files":
            return self._files_route(req, parts)
        if parts and parts[0] == "responses":
            if len(parts) == 1 and m == "POST":
                return self._responses_create(req)
            if len(parts) == 2 and m == "GET":
                return self._json(200, self._get_response(parts[1]))
            if len(parts) == 2 and m == "DELETE":
                with self._lock:
                    if self._responses.pop(parts[1], None) is None:
                        raise self._no_response(parts[1])
                return self._json(200, {"id": parts[1], "object": "response", "deleted": True})
            if len(parts) == 3 and parts[2] == "input_items" and m == "GET":
                rec = self._get_response(parts[1])
                return self._json(200, {"object": "list", "data": rec.get("_input_items", []),
                                        "has_more": False})
        if parts and parts[0] == "_files" and len(parts) == 2 and m == "GET":
            with self._lock:
                served = self._served.get(parts[1])
            if served is None:
                raise APIError(404, "No such image.", code="not_found")
            return SimResponse(200, [("content-type", served[1])], served[0])
        known = ("/images/generations", "/images/edits", "/images/variations", "/models",
                 "/files", "/responses")
        if p in known:
            raise APIError(405, f"Method {m} not allowed for {req.full_path}.",
                           code="method_not_allowed")
        raise APIError(404, f"Invalid URL ({m} {req.full_path})", code="unknown_url")

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1735689600, "owned_by": "system"}

    # ------------------------------------------------------------ images

    def _image_url(self, req: _Request, data: bytes, fmt: str) -> str:
        if req.base_url:
            name = f"img_{hashlib.sha256(data).hexdigest()[:24]}.{fmt}"
            with self._lock:
                self._served[name] = (data, MIME[fmt])
            return f"{req.base_url.rstrip('/')}/_files/{name}"
        return f"data:{MIME[fmt]};base64,{_b64(data)}"

    def _images_reply(self, req: _Request, opts: ImageOptions, prompt: str,
                      renders: list[Callable[[], Any]], size: tuple[int, int],
                      prefix: str, image_tokens: int = 0,
                      revised: str | None = None, keys: list[Any] | None = None) -> SimResponse:
        from .painter import render as R

        out_tokens = image_output_tokens(size, opts.quality) * opts.n
        if opts.stream:
            out_tokens += PARTIAL_TOKENS * opts.partial_images * opts.n
        usage = _images_usage(prompt, out_tokens, image_tokens)
        finals = [make() for make in renders]
        background = "transparent" if any(
            img.mode == "RGBA" and img.getchannel("A").getextrema()[0] < 255
            for img in finals) else "opaque"
        # ``keys`` name what each render depends on: a repeated request skips the PNG encoder,
        # the simulator's main cost (it would otherwise limit concurrent clients).
        encoded = [R.encode(img, opts.output_format, opts.compression) if key is None
                   else R.encode_cached(key, lambda img=img: img, opts.output_format, opts.compression)
                   for img, key in zip(finals, keys or [None] * len(finals))]
        created = int(time.time())
        common = {"background": background, "output_format": opts.output_format,
                  "quality": opts.quality, "size": _size_label(size)}
        if not opts.stream:
            data = []
            for blob in encoded:
                item: dict[str, Any] = {"revised_prompt": revised or prompt}
                if opts.response_format == "url":
                    item["url"] = self._image_url(req, blob, opts.output_format)
                else:
                    item["b64_json"] = _b64(blob)
                data.append(item)
            return self._json(200, {"created": created, "data": data, **common,
                                    "usage": usage})

        # the event models declare no output_tokens_details
        event_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"}

        def events() -> Iterator[dict[str, Any]]:
            for img, blob in zip(finals, encoded):
                for k in range(opts.partial_images):
                    part = R.partial(img, k, opts.partial_images)
                    yield {"type": f"{prefix}.partial_image",
                           "b64_json": _b64(R.encode(part, opts.output_format, opts.compression,
                                                     provenance=False)),
                           "partial_image_index": k, "created_at": created, **common}
                yield {"type": f"{prefix}.completed", "b64_json": _b64(blob),
                       "created_at": created, **common, "usage": event_usage}

        return self._event_stream(events())

    def _images_generate(self, req: _Request) -> SimResponse:
        from .painter import render as R

        body = req.json()
        if not isinstance(body, dict):
            raise APIError(400, "Expected a JSON object.")
        prompt = _check_prompt(body.get("prompt"))
        opts = _image_options(body, default_model=self.image_model)
        size = opts.size or (1024, 1024)

        def maker(i: int) -> Callable[[], Any]:
            seed = _digest("generations", prompt, opts.model, size, opts.quality, i,
                           opts.background)
            return lambda: R.render(prompt, size, seed, transparent=opts.transparent)

        keys = [("generations", prompt, opts.model, size, opts.quality, i, opts.background, opts.transparent)
                for i in range(opts.n)]
        return self._images_reply(req, opts, prompt, [maker(i) for i in range(opts.n)],
                                  size, "image_generation", keys=keys)

    def _load_image_ref(self, ref: Any, param: str) -> bytes:
        if isinstance(ref, str):
            return _decode_data_url(ref, param)
        if not isinstance(ref, dict):
            raise APIError(400, f"Invalid '{param}': expected an object with 'image_url' or "
                           "'file_id'.", param=param, code="invalid_type")
        if ref.get("file_id"):
            return self._file_bytes(ref["file_id"], param)
        url = ref.get("image_url")
        if isinstance(url, dict):
            url = url.get("url")
        if not url:
            raise APIError(400, f"Invalid '{param}': expected 'image_url' or 'file_id'.",
                           param=param, code="missing_required_parameter")
        return _decode_data_url(url, param)

    def _images_edit(self, req: _Request) -> SimResponse:
        from .painter import render as R

        if req.is_multipart:
            form = req.form()
            fields: dict[str, Any] = {k: v[-1] for k, v in form.fields.items()}
            images = [f.data for f in form.get_files("image", "image[]")]
            masks = form.get_files("mask")
            mask_bytes = masks[0].data if masks else None
            # the JSON-ish fields may also come as text parts (image_url=data:...)
            for key in ("image", "image[]"):
                for val in form.fields.get(key, []):
                    images.append(_decode_data_url(val, "image"))
        else:
            fields = req.json()
            if not isinstance(fields, dict):
                raise APIError(400, "Expected a JSON object.")
            refs = fields.get("images")
            if refs is None and fields.get("image") is not None:
                refs = fields["image"] if isinstance(fields["image"], list) else [fields["image"]]
            if refs is not None and not isinstance(refs, list):
                raise APIError(400, "Invalid 'images': expected an array.", param="images",
                               code="invalid_type")
            images = [self._load_image_ref(r, f"images[{i}]") for i, r in enumerate(refs or [])]
            mask_bytes = (self._load_image_ref(fields["mask"], "mask")
                          if fields.get("mask") else None)
        prompt = _check_prompt(fields.get("prompt"))
        if not images:
            raise APIError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        opts = _image_options(fields, default_model=self.image_model)
        if len(images) > 16:
            raise APIError(400, "Too many images: at most 16.", param="image",
                           code="invalid_value")
        pil = [_open(b, "image", i + 1 if len(images) > 1 else None) for i, b in enumerate(images)]
        base = pil[0]
        region = None
        if mask_bytes is not None:
            region = _mask_region(_open(mask_bytes, "mask"), base.size, "mask")
        size = opts.size or base.size
        mode = "RGBA" if (opts.transparent or (base.mode in ("RGBA", "LA", "PA") and
                                               opts.background != "opaque")
                          or (base.mode == "P" and "transparency" in base.info
                              and opts.background != "opaque")) else "RGB"
        base = base.convert(mode)
        if base.size != size:
            from PIL import Image

            base = base.resize(size, Image.Resampling.LANCZOS)
            if region is not None:
                region = region.resize(size, Image.Resampling.NEAREST)
        fidelity = fields.get("input_fidelity")
        image_tokens = sum(image_input_tokens(im.size, fidelity) for im in pil)
        digest_parts = [hashlib.sha256(b).hexdigest() for b in images]
        mask_digest = hashlib.sha256(mask_bytes).hexdigest() if mask_bytes else None

        def maker(i: int) -> Callable[[], Any]:
            seed = _digest("edits", prompt, opts.model, size, opts.quality, i, digest_parts,
                           mask_digest, opts.background)
            return lambda: R.render_edit(base, prompt, seed, mask=region, extra=pil[1:])

        return self._images_reply(req, opts, prompt, [maker(i) for i in range(opts.n)],
                                  size, "image_edit", image_tokens=image_tokens)

    def _images_variations(self, req: _Request) -> SimResponse:
        from .painter import render as R

        if not req.is_multipart:
            raise APIError(400, "Expected multipart/form-data with an 'image' file.",
                           param="image")
        form = req.form()
        files = form.get_files("image", "image[]")
        if not files:
            raise APIError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        fields = {k: v[-1] for k, v in form.fields.items()}
        n = _int_param(fields.get("n"), "n", 1, 10, 1)
        size = parse_size(fields.get("size")) or (1024, 1024)
        rf = fields.get("response_format") or "b64_json"
        if rf not in ("b64_json", "url"):
            raise APIError(400, f"Invalid value: '{rf}'. Supported values are: 'url' and "
                           "'b64_json'.", param="response_format", code="invalid_value")
        base = _open(files[0].data, "image")
        data = []
        for i in range(n):
            seed = _digest("variations", hashlib.sha256(files[0].data).hexdigest(), size, i)
            blob = R.encode(R.render_variation(base, size, seed), "png")
            data.append({"url": self._image_url(req, blob, "png")} if rf == "url"
                        else {"b64_json": _b64(blob)})
        return self._json(200, {"created": int(time.time()), "data": data})

    # ------------------------------------------------------------ files

    def _file_bytes(self, file_id: str, param: str) -> bytes:
        with self._lock:
            entry = self._files.get(file_id)
        if entry is None:
            raise APIError(404, f"No such File object: {file_id}", param=param,
                           code="file_not_found")
        return entry[1]

    def _files_route(self, req: _Request, parts: list[str]) -> SimResponse:
        m = req.method
        if len(parts) == 1 and m == "POST":
            if not req.is_multipart:
                raise APIError(400, "Expected multipart/form-data with 'file' and 'purpose'.",
                               param="file")
            form = req.form()
            files = form.get_files("file")
            if not files:
                raise APIError(400, "Missing required parameter: 'file'.", param="file",
                               code="missing_required_parameter")
            purpose = form.get("purpose")
            if not purpose:
                raise APIError(400, "Missing required parameter: 'purpose'.", param="purpose",
                               code="missing_required_parameter")
            f = files[0]
            fid = new_id("file-", 12)
            obj = {"id": fid, "object": "file", "bytes": f.size, "created_at": int(time.time()),
                   "filename": f.filename or "upload", "purpose": purpose,
                   "status": "processed", "expires_at": None, "status_details": None}
            with self._lock:
                self._files[fid] = (obj, f.data)
            return self._json(200, obj)
        if len(parts) == 1 and m == "GET":
            with self._lock:
                objs = [o for o, _ in self._files.values()]
            return self._json(200, {"object": "list", "data": objs, "has_more": False,
                                    "first_id": objs[0]["id"] if objs else None,
                                    "last_id": objs[-1]["id"] if objs else None})
        if len(parts) >= 2:
            fid = parts[1]
            with self._lock:
                entry = self._files.get(fid)
            if entry is None:
                raise APIError(404, f"No such File object: {fid}", param="id",
                               code="file_not_found")
            if len(parts) == 2 and m == "GET":
                return self._json(200, entry[0])
            if len(parts) == 2 and m == "DELETE":
                with self._lock:
                    self._files.pop(fid, None)
                return self._json(200, {"id": fid, "object": "file", "deleted": True})
            if len(parts) == 3 and parts[2] == "content" and m == "GET":
                return SimResponse(200, [("content-type",
                                          _sniff_mime(entry[1], entry[0]["filename"]))],
                                   entry[1])
        raise APIError(404, f"Invalid URL ({m} {req.full_path})", code="unknown_url")

    # ------------------------------------------------------------ responses API

    @staticmethod
    def _no_response(rid: str) -> APIError:
        return APIError(404, f"Response with id '{rid}' not found.", param="response_id",
                        code="not_found")

    def _get_response(self, rid: str) -> dict[str, Any]:
        with self._lock:
            rec = self._responses.get(rid)
        if rec is None:
            raise self._no_response(rid)
        return {k: v for k, v in rec.items() if not k.startswith("_")}

    def _parse_input(self, body: dict[str, Any]) -> tuple[str, list[str], list[tuple[bytes, str]],
                                                          list[str]]:
        """(latest user text, all texts, input images (bytes, detail), referenced ig ids)."""
        raw = body.get("input")
        texts: list[str] = []
        latest = ""
        images: list[tuple[bytes, str]] = []
        refs: list[str] = []
        if raw is None:
            raise APIError(400, "Missing required parameter: 'input'.", param="input",
                           code="missing_required_parameter")
        if isinstance(raw, str):
            return raw, [raw], [], []
        if not isinstance(raw, list):
            raise APIError(400, "Invalid 'input': expected a string or an array of items.",
                           param="input", code="invalid_type")

        def content_parts(content: Any, idx: int, role: str) -> list[str]:
            found: list[str] = []
            if isinstance(content, str):
                return [content]
            if not isinstance(content, list):
                return found
            for j, part in enumerate(content):
                if not isinstance(part, dict):
                    continue
                ptype = part.get("type")
                if ptype in ("input_text", "text", "output_text") and isinstance(
                        part.get("text"), str):
                    found.append(part["text"])
                elif ptype in ("input_image", "image_url") and role != "assistant":
                    param = f"input[{idx}].content[{j}]"
                    src = part.get("image_url")
                    if isinstance(src, dict):
                        src = src.get("url")
                    if part.get("file_id"):
                        data = self._file_bytes(part["file_id"], param + ".file_id")
                    elif src:
                        data = _decode_data_url(src, param + ".image_url")
                    else:
                        raise APIError(400, f"Invalid '{param}': an input_image needs "
                                       "'image_url' or 'file_id'.", param=param,
                                       code="missing_required_parameter")
                    detail = part.get("detail")
                    if not detail and isinstance(part.get("image_url"), dict):
                        detail = part["image_url"].get("detail")
                    detail = detail or "auto"
                    images.append((data, detail))
            return found

        for idx, item in enumerate(raw):
            if isinstance(item, str):
                texts.append(item)
                latest = item
                continue
            if not isinstance(item, dict):
                continue
            itype = item.get("type")
            if itype == "image_generation_call":
                ig = item.get("id")
                if item.get("result"):
                    try:
                        data = base64.b64decode(item["result"])
                    except (binascii.Error, ValueError):
                        raise APIError(400, "Invalid base64 in image_generation_call result.",
                                       param=f"input[{idx}].result") from None
                    stored = _StoredImage(data, "png", "", "", (0, 0))
                    key = ig or new_id("ig_")
                    with self._lock:
                        self._images.setdefault(key, stored)
                    refs.append(key)
                elif ig:
                    with self._lock:
                        known = ig in self._images
                    if not known:
                        raise APIError(404, f"Item with id '{ig}' not found.",
                                       param=f"input[{idx}].id", code="not_found")
                    refs.append(ig)
                continue
            if itype in ("input_text", "input_image"):
                found = content_parts([item], idx, "user")
                texts.extend(found)
                if found:
                    latest = " ".join(found)
                continue
            role = item.get("role")
            if role is None and itype not in (None, "message"):
                continue
            found = content_parts(item.get("content"), idx, role or "user")
            texts.extend(found)
            if role in (None, "user") and found:
                latest = " ".join(found)
        return latest, texts, images, refs

    def _chain_image(self, prev_id: str | None) -> _StoredImage | None:
        seen = set()
        with self._lock:
            while prev_id and prev_id not in seen:
                seen.add(prev_id)
                ig = self._response_images.get(prev_id)
                if ig and ig in self._images:
                    return self._images[ig]
                rec = self._responses.get(prev_id)
                prev_id = rec.get("previous_response_id") if rec else None
        return None

    def _responses_create(self, req: _Request) -> SimResponse:
        from .painter import render as R
        from .painter import vision

        body = req.json()
        if not isinstance(body, dict):
            raise APIError(400, "Expected a JSON object.")
        model = body.get("model")
        if not model:
            raise APIError(400, "Missing required parameter: 'model'.", param="model",
                           code="missing_required_parameter")
        prev_id = body.get("previous_response_id")
        if prev_id:
            with self._lock:
                known = prev_id in self._responses
            if not known:
                raise APIError(404, f"Previous response with id '{prev_id}' not found.",
                               param="previous_response_id",
                               code="previous_response_not_found")
        tools = body.get("tools") or []
        if not isinstance(tools, list):
            raise APIError(400, "Invalid 'tools': expected an array.", param="tools",
                           code="invalid_type")
        tool_index, tool = next(((i, t) for i, t in enumerate(tools)
                                 if isinstance(t, dict) and t.get("type") == "image_generation"),
                                (None, None))
        tool_choice = body.get("tool_choice", "auto")
        stream = _bool_param(body.get("stream"), "stream")
        store = body.get("store", True) is not False
        instructions = body.get("instructions")
        text, texts, images, refs = self._parse_input(body)
        _moderate(" ".join(texts))

        forced = tool_choice == "required" or (isinstance(tool_choice, dict) and
                                               tool_choice.get("type") == "image_generation")
        want_image = tool is not None and tool_choice != "none" and (
            forced or not (images and (not text.strip() or _QUESTION.match(text)
                                       or text.strip().endswith("?"))))
        rid = new_id("resp_", 24)
        created_at = int(time.time())
        output: list[dict[str, Any]] = []
        usage_in = text_tokens((instructions if isinstance(instructions, str) else "")
                               + " ".join(texts))
        image_item: dict[str, Any] | None = None
        partials: list[Any] = []
        tool_usage = None
        opts = None
        ig_id = None
        if want_image:
            prefix = f"tools[{tool_index}]."
            opts = _image_options(tool, prefix=prefix, allow_n=False,
                                  default_model=self.image_model)
            opts.stream = stream
            prompt = text.strip() or " ".join(texts).strip()
            if not prompt:
                raise APIError(400, "The image_generation tool needs a text prompt in 'input'.",
                               param="input", code="empty_string")
            action = tool.get("action") or "auto"
            base_bytes: bytes | None = None
            prev_prompt = ""
            prev_label = ""
            extras: list[bytes] = []
            if action != "generate":
                if images:
                    base_bytes, extras = images[0][0], [b for b, _ in images[1:]]
                elif refs:
                    with self._lock:
                        st = self._images[refs[-1]]
                    base_bytes, prev_prompt, prev_label = st.data, st.revised_prompt, st.label
                else:
                    st = self._chain_image(prev_id)
                    if st is not None:
                        base_bytes, prev_prompt = st.data, st.revised_prompt
                        prev_label = st.label
            if action == "edit" and base_bytes is None:
                raise APIError(400, "The image_generation tool was asked to edit, but there is "
                               "no image to edit: pass an input_image, an "
                               "image_generation_call id or previous_response_id.",
                               param=prefix + "action", code="invalid_value")
            is_edit = base_bytes is not None
            region = None
            if is_edit:
                assert base_bytes is not None
                base = _open(base_bytes, "input")
                mode = "RGBA" if opts.transparent or base.mode == "RGBA" else "RGB"
                base = base.convert(mode)
                if tool.get("input_image_mask"):
                    mask_bytes = self._load_image_ref(tool["input_image_mask"],
                                                      prefix + "input_image_mask")
                    region = _mask_region(_open(mask_bytes, prefix + "input_image_mask"),
                                          base.size, prefix + "input_image_mask")
                size = opts.size or base.size
                if base.size != size:
                    from PIL import Image

                    base = base.resize(size, Image.Resampling.LANCZOS)
                    if region is not None:
                        region = region.resize(size, Image.Resampling.NEAREST)
                seed = _digest("responses-edit", prompt, opts.model, size, opts.quality,
                               hashlib.sha256(base_bytes).hexdigest())
                extra_imgs = [_open(b, "input") for b in extras]
                final = R.render_edit(base, prompt, seed, mask=region, extra=extra_imgs,
                                      context=prev_prompt or None,
                                      old_label=prev_label or None)
                revised = (f"{prev_prompt.rstrip('. ')}; then: {prompt}" if prev_prompt
                           else f"Edit of the given image: {prompt}")
                image_tokens = image_input_tokens(base.size, tool.get("input_fidelity"))
                image_tokens += sum(image_input_tokens(im.size, None) for im in extra_imgs)
            else:
                size = opts.size or (1024, 1024)
                seed = _digest("responses", prompt, opts.model, size, opts.quality,
                               opts.background)
                final = R.render(prompt, size, seed, transparent=opts.transparent)
                revised = prompt
                image_tokens = 0
            blob = R.encode(final, opts.output_format, opts.compression)
            partials = [final]
            ig_id = new_id("ig_", 24)
            background = "transparent" if final.mode == "RGBA" and final.getchannel(
                "A").getextrema()[0] < 255 else "opaque"
            image_item = {"id": ig_id, "type": "image_generation_call", "status": "completed",
                          "action": "edit" if is_edit else "generate",
                          "background": background, "output_format": opts.output_format,
                          "quality": opts.quality, "revised_prompt": revised,
                          "size": _size_label(size), "result": _b64(blob)}
            output.append(image_item)
            out_tokens = image_output_tokens(size, opts.quality)
            if stream:
                out_tokens += PARTIAL_TOKENS * opts.partial_images
            ptoks = text_tokens(prompt)
            tool_usage = {"image_gen": {
                "input_tokens": ptoks + image_tokens,
                "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": ptoks},
                "output_tokens": out_tokens,
                "output_tokens_details": {"image_tokens": out_tokens, "text_tokens": 0},
                "total_tokens": ptoks + image_tokens + out_tokens},
                "web_search": {"num_requests": 0}}
            answer = (f"I edited the image: {prompt.strip()}" if is_edit else
                      f"Here is the image I generated for: {prompt.strip()}")
            if not answer.endswith((".", "!", "?")):
                answer += "."
            stored = _StoredImage(blob, opts.output_format, prompt, revised, size,
                                  label=prompt if region is None or not is_edit else prev_label)
        elif images:
            answer = vision.describe([(b, d) for b, d in images], question=text)
            usage_in += sum(vision_tokens(_open(b, "input").size, d, str(model))
                            for b, d in images)
        elif tool is not None and tool_choice == "none":
            answer = ("(offline simulator) The image_generation tool is available but "
                      f"tool_choice is 'none', so here is a text reply to: {text.strip()}")
        else:
            said = " ".join(text.split()) or "(nothing)"
            answer = ("This is the nbimages offline simulator: there is no language model "
                      "here, so I can only repeat what I received. You said: "
                      f"\u201c{said}\u201d. Add the image_generation tool to get a picture, "
                      "or an input_image to get a pixel analysis.")

        msg_id = new_id("msg_", 24)
        message = {"id": msg_id, "type": "message", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": answer, "annotations": [],
                                "logprobs": []}]}
        output.append(message)
        out_tok = text_tokens(answer)
        usage = {"input_tokens": usage_in,
                 "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                 "output_tokens": out_tok,
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": usage_in + out_tok}
        echoed_tools = []
        for t in tools:
            if isinstance(t, dict) and t.get("type") == "image_generation":
                echoed_tools.append({"type": "image_generation", "background": "auto",
                                     "model": self.image_model, "moderation": "auto",
                                     "output_compression": 100, "output_format": "png",
                                     "partial_images": 0, "quality": "auto", "size": "auto",
                                     **t})
            else:
                echoed_tools.append(t)

        def response_obj(status: str, out: list[dict[str, Any]], done: bool) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": rid, "object": "response", "created_at": created_at, "status": status,
                "background": False, "completed_at": int(time.time()) if done else None,
                "error": None, "incomplete_details": None, "instructions": instructions,
                "max_output_tokens": body.get("max_output_tokens"), "max_tool_calls": None,
                "model": model, "output": out,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": prev_id,
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "default", "store": store,
                "temperature": body.get("temperature", 1.0),
                "text": {"format": {"type": "text"}, "verbosity": "medium"},
                "tool_choice": tool_choice, "tools": echoed_tools,
                "top_p": body.get("top_p", 1.0), "truncation": "disabled",
                "usage": usage if done else None, "user": None,
                "metadata": body.get("metadata") or {},
            }
            if tool_usage is not None and done:
                obj["tool_usage"] = tool_usage
            return obj

        final_obj = response_obj("completed", output, True)
        if store:
            with self._lock:
                self._responses[rid] = {**final_obj, "_input_items": []}
                if image_item is not None and ig_id is not None:
                    self._images[ig_id] = stored
                    self._response_images[rid] = ig_id
        if not stream:
            return self._json(200, final_obj)

        def events() -> Iterator[dict[str, Any]]:
            seq = 0

            def ev(etype: str, **fields: Any) -> dict[str, Any]:
                nonlocal seq
                out = {"type": etype, **fields, "sequence_number": seq}
                seq += 1
                return out

            yield ev("response.created", response=response_obj("in_progress", [], False))
            yield ev("response.in_progress", response=response_obj("in_progress", [], False))
            index = 0
            if image_item is not None and opts is not None:
                iid = image_item["id"]
                yield ev("response.output_item.added", output_index=index,
                         item={"id": iid, "type": "image_generation_call",
                               "status": "in_progress", "result": None})
                yield ev("response.image_generation_call.in_progress", output_index=index,
                         item_id=iid)
                yield ev("response.image_generation_call.generating", output_index=index,
                         item_id=iid)
                for k in range(opts.partial_images):
                    part = R.partial(partials[0], k, opts.partial_images)
                    yield ev("response.image_generation_call.partial_image",
                             output_index=index, item_id=iid, partial_image_index=k,
                             partial_image_b64=_b64(R.encode(part, opts.output_format,
                                                             opts.compression,
                                                             provenance=False)),
                             size=image_item["size"], quality=image_item["quality"],
                             background=image_item["background"],
                             output_format=image_item["output_format"])
                yield ev("response.image_generation_call.completed", output_index=index,
                         item_id=iid)
                yield ev("response.output_item.done", output_index=index, item=image_item)
                index += 1
            yield ev("response.output_item.added", output_index=index,
                     item={**message, "status": "in_progress", "content": []})
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield ev("response.content_part.added", item_id=msg_id, output_index=index,
                     content_index=0, part=empty)
            for piece in _split_text(answer):
                yield ev("response.output_text.delta", item_id=msg_id, output_index=index,
                         content_index=0, delta=piece, logprobs=[])
            yield ev("response.output_text.done", item_id=msg_id, output_index=index,
                     content_index=0, text=answer, logprobs=[])
            yield ev("response.content_part.done", item_id=msg_id, output_index=index,
                     content_index=0, part=message["content"][0])
            yield ev("response.output_item.done", output_index=index, item=message)
            yield ev("response.completed", response=final_obj)

        return self._event_stream(events())

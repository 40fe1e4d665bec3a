"""A request as the simulator reads it, and as it records it for tests to inspect."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from . import multipart
from .protocol import APIError, parse_json_body

SECRET_HEADERS = ("authorization", "api-key", "x-api-key")  # never recorded


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
class Request:
    method: str
    path: str  # without the /v1 prefix
    full_path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    base_url: str | None  # the public address of the API when served over HTTP
    _json: Any = None
    _form: multipart.Form | None = None

    @classmethod
    def build(cls, method: str, path: str, headers: Mapping[str, str] | Sequence[tuple[str, str]],
              body: bytes, query: str | None, base_url: str | None) -> Request:
        if query is None:
            path, _, query = path.partition("?")
        inner = path[3:] if path == "/v1" or path.startswith("/v1/") else path
        return cls(method.upper(), "/" + inner.strip("/"), path, parse_qs(query or ""),
                   normalise_headers(headers), body or b"", base_url)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def is_multipart(self) -> bool:
        return self.content_type.lower().startswith("multipart/")

    def json(self) -> Any:
        if self._json is None:
            if not self.body.strip():
                raise APIError(400, "We could not parse the JSON body of your request: the "
                               "body is empty. (HINT: send a JSON object.)")
            self._json = parse_json_body(self.body)  # UTF-8, bounded nesting: a 400 otherwise
        return self._json

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise APIError(400, "Expected a JSON object.")
        return body

    def form(self) -> multipart.Form:
        if self._form is None:
            try:
                self._form = multipart.parse(self.body, self.content_type)
            except multipart.MultipartError as exc:
                raise APIError(400, f"Could not parse the multipart form: {exc}") from None
        return self._form

    def record(self) -> RecordedRequest:
        """What tests may see of this request: no secret header; the body parsed if it parses."""
        headers = {k: v for k, v in self.headers.items() if k not in SECRET_HEADERS}
        rec = RecordedRequest(method=self.method, path=self.full_path, query=self.query,
                              headers=headers, body_size=len(self.body), time=time.time())
        if self.body and self.is_multipart:
            with contextlib.suppress(APIError):
                form = self.form()
                rec.form = {k: (v[0] if len(v) == 1 else v) for k, v in form.fields.items()}
                rec.files = {k: [RecordedFile(f.filename, f.content_type, f.size, f.data)
                                 for f in v] for k, v in form.files.items()}
        elif self.body and ("json" in self.content_type or self.body[:1] in (b"{", b"[")):
            with contextlib.suppress(APIError):
                rec.json = self.json()
        return rec


def normalise_headers(headers: Mapping[str, str] | Sequence[tuple[str, str]] | Any) -> dict[str, str]:
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    for k, v in items:
        if isinstance(k, bytes):
            k = k.decode("latin-1")
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        out[str(k).lower()] = str(v)
    return out

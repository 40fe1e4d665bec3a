"""A small, strict-enough ``multipart/form-data`` parser (RFC 7578) for the simulator."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote


@dataclass
class UploadedFile:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Form:
    """Parsed form: text fields and files, each name mapping to a list (repeated parts)."""

    fields: dict[str, list[str]]
    files: dict[str, list[UploadedFile]]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else default

    def get_files(self, *names: str) -> list[UploadedFile]:
        out: list[UploadedFile] = []
        for name in names:
            out.extend(self.files.get(name, []))
        return out


class MultipartError(ValueError):
    pass


_PARAM = re.compile(r';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename="b.png"'`` -> ``("form-data", {...})``."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(";" + rest):
        key, val = m.group(1).lower(), m.group(2).strip()
        if val.startswith('"') and val.endswith('"') and len(val) >= 2:
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        if key.endswith("*"):  # RFC 5987: utf-8''percent-encoded
            key = key[:-1]
            _, _, enc = val.partition("''")
            val = unquote(enc or val)
        params[key] = val
    return main.strip().lower(), params


# RFC 2046 section 5.1.1: 1 to 70 of these characters, the last one not a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
MAX_PARTS = 1000
MAX_PART_HEADER = 16 * 1024  # bytes of header lines in one part


def boundary_from(content_type: str) -> str:
    kind, params = parse_header_params(content_type)
    if kind != "multipart/form-data" or not params.get("boundary"):
        raise MultipartError("expected multipart/form-data with a boundary")
    boundary = params["boundary"]
    if not _BOUNDARY.fullmatch(boundary):
        raise MultipartError("the boundary must be 1 to 70 letters, digits or "
                             "'()+_,-./:=? (RFC 2046)")
    return boundary


def parse(body: bytes, content_type: str) -> Form:
    boundary = boundary_from(content_type).encode("latin-1")
    delim = b"--" + boundary
    fields: dict[str, list[str]] = {}
    files: dict[str, list[UploadedFile]] = {}
    start = body.find(delim)
    if start < 0:
        raise MultipartError("multipart boundary not found in body")
    pos = start + len(delim)
    parts = 0
    while True:
        if body[pos:pos + 2] == b"--":
            break  # closing delimiter
        parts += 1
        if parts > MAX_PARTS:
            raise MultipartError(f"more than {MAX_PARTS} parts")
        # skip transport padding and the CRLF after the delimiter
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise MultipartError("truncated multipart body")
        pos = eol + 2
        nxt = body.find(b"\r\n" + delim, pos)
        if nxt < 0:
            raise MultipartError("multipart body has no closing boundary")
        part = body[pos:nxt]
        pos = nxt + 2 + len(delim)
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            if part.startswith(b"\r\n"):  # no headers at all
                head, data = b"", part[2:]
            else:
                raise MultipartError("multipart part without a header block")
        if len(head) > MAX_PART_HEADER:
            raise MultipartError(f"a part's headers are longer than {MAX_PART_HEADER} bytes")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            if not line.strip():
                continue
            k, _, v = line.decode("utf-8", "replace").partition(":")
            headers[k.strip().lower()] = v.strip()
        disp, params = parse_header_params(headers.get("content-disposition", ""))
        name = params.get("name")
        if disp != "form-data" or name is None:
            continue
        if "filename" in params:
            files.setdefault(name, []).append(
                UploadedFile(name, params["filename"], headers.get("content-type"), data))
        else:
            fields.setdefault(name, []).append(data.decode("utf-8", "replace"))
    return Form(fields, files)

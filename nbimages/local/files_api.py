"""The Files API: upload (``purpose`` vision, user_data or batch), list, get, content, delete.

A ``batch`` upload must be a ``.jsonl`` file of at most 200 MB (the Batch API's limits);
it expires after 30 days, as on the API. The content of a file is sent a piece at a time
when it is kept on disk (see :mod:`.state`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .codec import sniff_mime
from .incoming import Request
from .protocol import APIError, SimResponse, missing_parameter, new_id
from .replies import json_reply

if TYPE_CHECKING:
    from .state import Context, StoredFile

BATCH_FILE_BYTES = 200 * 1024 * 1024
EXPIRING_PURPOSES = ("batch", "batch_output")
EXPIRES_AFTER = 30 * 24 * 3600  # seconds


def route(ctx: Context, req: Request, parts: list[str]) -> SimResponse:
    """``parts``: the path's segments, ``["files", ...]``."""
    if len(parts) == 1 and req.method == "POST":
        return _upload(ctx, req)
    if len(parts) == 1 and req.method == "GET":
        return _list(ctx, req.query.get("purpose", [None])[0])
    if len(parts) >= 2:
        return _one(ctx, req, parts)
    raise _unknown(req)


def _upload(ctx: Context, req: Request) -> SimResponse:
    if not req.is_multipart:
        raise APIError(400, "Expected multipart/form-data with 'file' and 'purpose'.", param="file")
    form = req.form()
    files = form.get_files("file")
    if not files:
        raise missing_parameter("file")
    purpose = form.get("purpose")
    if not purpose:
        raise missing_parameter("purpose")
    f = files[0]
    filename = f.filename or "upload"
    if purpose == "batch":
        _check_batch_input(filename, f.size)
    obj = file_object(filename, f.size, purpose)
    ctx.state.add_file(obj["id"], obj, f.data)
    return json_reply(200, obj)


def file_object(filename: str, size: int, purpose: str) -> dict[str, Any]:
    """A new file's object, as the API describes it."""
    created = int(time.time())
    expires = created + EXPIRES_AFTER if purpose in EXPIRING_PURPOSES else None
    return {"id": new_id("file-", 12), "object": "file", "bytes": size, "created_at": created,
            "filename": filename, "purpose": purpose, "status": "processed",
            "expires_at": expires, "status_details": None}


def _check_batch_input(filename: str, size: int) -> None:
    if not filename.lower().endswith(".jsonl"):
        raise APIError(400, "Invalid file format for Batch API. Must be .jsonl", param="file",
                       code="invalid_file_format")
    if size > BATCH_FILE_BYTES:
        raise APIError(400, f"File is too large: {size} bytes. The Batch API accepts files of at most "
                       f"{BATCH_FILE_BYTES} bytes (200 MB).", param="file", code="file_too_large")


def _list(ctx: Context, purpose: str | None) -> SimResponse:
    objs = [obj for obj in ctx.state.files() if purpose in (None, obj["purpose"])]
    return json_reply(200, {"object": "list", "data": objs, "has_more": False,
                            "first_id": objs[0]["id"] if objs else None,
                            "last_id": objs[-1]["id"] if objs else None})


def _one(ctx: Context, req: Request, parts: list[str]) -> SimResponse:
    fid = parts[1]
    stored = ctx.state.stored_file(fid, "id")
    if len(parts) == 2 and req.method == "GET":
        return json_reply(200, stored.obj)
    if len(parts) == 2 and req.method == "DELETE":
        ctx.state.delete_file(fid)
        return json_reply(200, {"id": fid, "object": "file", "deleted": True})
    if len(parts) == 3 and parts[2] == "content" and req.method == "GET":
        return _content(stored)
    raise _unknown(req)


def _content(stored: StoredFile) -> SimResponse:
    headers = [("content-type", sniff_mime(stored.head(), stored.obj["filename"]))]
    if stored.data is not None:
        return SimResponse(200, headers, stored.data)
    return SimResponse(200, headers, stream=stored.chunks())


def _unknown(req: Request) -> APIError:
    return APIError(404, f"Invalid URL ({req.method} {req.full_path})", code="unknown_url")

"""The Files API: upload (``purpose`` vision or user_data), list, get, content, delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .codec import sniff_mime
from .incoming import Request
from .protocol import APIError, SimResponse, missing_parameter, new_id
from .replies import json_reply

if TYPE_CHECKING:
    from .state import Context


def route(ctx: Context, req: Request, parts: list[str]) -> SimResponse:
    """``parts``: the path's segments, ``["files", ...]``."""
    if len(parts) == 1 and req.method == "POST":
        return _upload(ctx, req)
    if len(parts) == 1 and req.method == "GET":
        return _list(ctx)
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
    fid = new_id("file-", 12)
    obj = {"id": fid, "object": "file", "bytes": f.size, "created_at": int(time.time()),
           "filename": f.filename or "upload", "purpose": purpose,
           "status": "processed", "expires_at": None, "status_details": None}
    ctx.state.add_file(fid, obj, f.data)
    return json_reply(200, obj)


def _list(ctx: Context) -> SimResponse:
    objs = ctx.state.files()
    return json_reply(200, {"object": "list", "data": objs, "has_more": False,
                            "first_id": objs[0]["id"] if objs else None,
                            "last_id": objs[-1]["id"] if objs else None})


def _one(ctx: Context, req: Request, parts: list[str]) -> SimResponse:
    fid = parts[1]
    entry = ctx.state.file(fid)
    if entry is None:
        raise APIError(404, f"No such File object: {fid}", param="id", code="file_not_found")
    obj, data = entry
    if len(parts) == 2 and req.method == "GET":
        return json_reply(200, obj)
    if len(parts) == 2 and req.method == "DELETE":
        ctx.state.delete_file(fid)
        return json_reply(200, {"id": fid, "object": "file", "deleted": True})
    if len(parts) == 3 and parts[2] == "content" and req.method == "GET":
        return SimResponse(200, [("content-type", sniff_mime(data, obj["filename"]))], data)
    raise _unknown(req)


def _unknown(req: Request) -> APIError:
    return APIError(404, f"Invalid URL ({req.method} {req.full_path})", code="unknown_url")

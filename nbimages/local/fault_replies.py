"""Faults applied to replies: a reply in place of the API's, or the API's reply bent.

``status``, ``drop`` and ``reply`` faults answer instead of the API (:func:`instead`);
the others change the reply the API made (:func:`bend`): its body, or its event stream
framed anew, one event at a time (:func:`faulty_frames`). :mod:`.faults` says what each
kind and parameter means.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from .faults import Fault, tamper
from .protocol import CUT, APIError, SimResponse, Sleep, StreamItem, dumps, sse_event
from .replies import error_reply, pause_before

REPLACING = ("status", "drop", "reply")  # kinds that answer instead of the API

_STATUS_DEFAULTS = {
    400: ("invalid_request_error", None, "Bad request (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (simulated)."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden (simulated)."),
    404: ("invalid_request_error", "not_found", "Not found (simulated)."),
    408: ("timeout", None, "Request timed out (simulated)."),
    409: ("conflict", None, "Conflict (simulated)."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests (simulated). Please try again later."),
}
_SERVER_ERROR = ("server_error", None, "The server had an error while processing your request (simulated).")


# --------------------------------------------------------------------------- instead of the API


def instead(fault: Fault) -> SimResponse:
    """The reply of a ``status``, ``drop`` or ``reply`` fault."""
    if fault.kind == "drop":
        return SimResponse(0, drop=True)
    if fault.kind == "reply":
        headers = [(str(k).lower(), str(v)) for k, v in (fault.get("headers") or {}).items()]
        return SimResponse(int(fault.get("status", 200)), headers, str(fault.get("body", "")).encode())
    return _status(fault)


def _status(fault: Fault) -> SimResponse:
    status = int(fault.get("status", 500))
    etype, code, message = _STATUS_DEFAULTS.get(status, _SERVER_ERROR)
    resp = error_reply(APIError(status, fault.get("message", message), type=fault.get("type", etype),
                                param=fault.get("param"), code=fault.get("code", code),
                                headers=_status_headers(fault, status)))
    if fault.get("stall_seconds"):
        resp.stall = float(fault.get("stall_seconds"))
    return resp


def _status_headers(fault: Fault, status: int) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if fault.get("retry_after") is not None:
        headers.append(("retry-after", str(fault.get("retry_after"))))
    if fault.get("retry_after_ms") is not None:
        headers.append(("retry-after-ms", str(fault.get("retry_after_ms"))))
    if status == 429:
        headers += [("x-ratelimit-limit-requests", "50"), ("x-ratelimit-remaining-requests", "0"),
                    ("x-ratelimit-reset-requests", "1s")]
    headers += [(str(k).lower(), str(v)) for k, v in (fault.get("headers") or {}).items()]
    return headers


# --------------------------------------------------------------------------- the API's reply, bent


def bend(resp: SimResponse, fault: Fault) -> SimResponse:
    """``resp`` changed by any other kind of fault."""
    resp.json_value = None  # the body may change below
    if fault.kind == "stall" and fault.get("at_event") is None:
        resp.stall = float(fault.get("seconds", 5.0))
    elif resp.stream is not None:
        if resp.events is not None:  # frame the events anew, with the fault
            resp.stream = faulty_frames(resp.events, fault)
    elif fault.kind == "cut":
        half = max(1, len(resp.body) // 2)
        pieces: list[StreamItem] = [resp.body[:half], CUT]
        resp.stream = iter(pieces)
        resp.body = b""
    elif fault.kind == "malformed":
        resp.body = b"{not json"
    elif fault.kind == "tamper":
        resp.body = dumps(tamper(json.loads(resp.body), fault))
    elif fault.kind == "error_event":
        resp.body = dumps({"error": {"message": fault.get("message", "simulated error"),
                                     "type": "server_error", "param": None, "code": fault.get("code")}})
    elif fault.kind == "stall":
        resp.stall = float(fault.get("seconds", 5.0))
    return resp


# One event under a fault: (what to send, whether the stream ends there). Arguments: the
# fault, the event's index, the event, and how many partial images were sent with it.
EventFault = Callable[[Fault, int, dict[str, Any], int], tuple[list[StreamItem], bool]]


def faulty_frames(events: Iterator[dict[str, Any]], fault: Fault) -> Iterator[StreamItem]:
    """``events`` framed as SSE with ``fault`` applied."""
    apply = _EVENT_FAULTS.get(fault.kind, _untouched)
    partials_sent = 0
    for n, event in enumerate(events):
        if n:
            yield pause_before(event)
        partials_sent += _is_partial(event)
        items, stop = apply(fault, n, event, partials_sent)
        yield from items
        if stop:
            return
    if fault.kind == "cut":
        yield CUT


def _at(fault: Fault) -> int:
    return int(fault.get("at_event", 0) or 0)


def _untouched(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    return [sse_event(event)], False


def _stall(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    if fault.get("at_event") is not None and n == _at(fault):
        return [Sleep(float(fault.get("seconds", 5.0))), sse_event(event)], False
    return [sse_event(event)], False


def _cut(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    if _cut_before(fault, n, event):
        return [CUT], True
    if _cut_after(fault, event, partials_sent):
        return [sse_event(event), CUT], True
    return [sse_event(event)], False


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


def _error_event(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    if n != _at(fault):
        return [sse_event(event)], False
    code = fault.get("code", "server_error")
    message = fault.get("message", "The server had an error while processing your request. Sorry about that!")
    err: dict[str, Any]
    if fault.get("shape", "flat") == "nested":
        err = {"type": "error", "error": {"type": fault.get("type", "server_error"), "code": code,
                                          "message": message, "param": fault.get("param")}}
    else:
        err = {"type": "error", "code": code, "message": message, "param": fault.get("param"),
               "sequence_number": n}
    return [sse_event(err)], True


def _malformed(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    if n != _at(fault):
        return [sse_event(event)], False
    return [f"event: {event.get('type', 'message')}\ndata: {{not json\n\n".encode()], False


def _tamper(fault: Fault, n: int, event: dict[str, Any], partials_sent: int) -> tuple[list[StreamItem], bool]:
    if fault.get("at_type") in (None, event.get("type")):
        return [sse_event(tamper(event, fault))], False
    return [sse_event(event)], False


def _unknown_events(fault: Fault, n: int, event: dict[str, Any],
                    partials_sent: int) -> tuple[list[StreamItem], bool]:
    """Valid SSE a strict reader trips on: comments, an unknown event, ids, CRLF."""
    chunks = [b": keep-alive\r\n\r\n", b": simulator comment\r\n\r\n"] if n == 0 else []
    chunks.append(sse_event({"type": "simulator.unknown_event", "index": n,
                             "note": "clients must skip unknown event types"},
                            crlf=True, comment="keep-alive"))
    chunks.append(sse_event(event, crlf=True, event_id=f"evt_{n}", retry=3000, comment="keep-alive"))
    data = b"".join(chunks)
    return (_split_oddly(data) if fault.get("split") else [data]), False


def _split_oddly(data: bytes) -> list[StreamItem]:
    """``data`` in pieces cut at odd points, including between \\r and \\n."""
    cuts = sorted({1, 7, len(data) // 3, len(data) // 2 + 1, max(1, len(data) - 1)})
    pieces: list[StreamItem] = []
    prev = 0
    for c in cuts:
        if prev < c < len(data):
            pieces.append(data[prev:c])
            prev = c
    pieces.append(data[prev:])
    return pieces


_EVENT_FAULTS: dict[str, EventFault] = {
    "stall": _stall, "cut": _cut, "error_event": _error_event, "malformed": _malformed,
    "tamper": _tamper, "unknown_events": _unknown_events,
}

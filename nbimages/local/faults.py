"""Fault injection: make the next matching request(s) fail in a chosen way.

A fault is a kind plus parameters, queued with :meth:`FaultPlan.add` (or as a JSON
dict ``{"kind": "status", "status": 429, "times": 1, "path": "/images/generations",
...}`` posted to ``/_simulator/faults``). Each request takes the first queued fault
that matches its method and path; a fault is used ``times`` times, then dropped.

Kinds and parameters:

``status``          ``status`` (default 500), ``code``, ``type``, ``message``, ``param``,
                    ``retry_after`` (s, ``retry-after``), ``retry_after_ms``
                    (``retry-after-ms``), ``headers`` (extra response headers)
``drop``            the connection closes before any response header
``cut``             ``after_events`` (default 1): the event stream stops abruptly
                    after that many events; or ``after_partials``: after that many
                    partial image events (0: before the first); or ``after_type``:
                    right after the first event of that type (a non-streamed body
                    is cut in half)
``malformed``       ``at_event`` (default 0): that event's data becomes ``{not json``
``error_event``     ``at_event`` (default 0), ``shape`` ``"flat"``/``"nested"``,
                    ``code``, ``message``, ``param``: an ``error`` event, then the end
``unknown_events``  unknown event types, comments, ``id:``/``retry:`` lines and CRLF
                    line endings interleaved (valid SSE); ``split=True`` also cuts the
                    bytes at odd places across chunks
``stall``           ``seconds`` (default 5), ``at_event`` (None: before the headers)
``tamper``          ``at_type`` (an event type; None: every event) and ``set`` (field path ->
                    JSON value, e.g. ``{"b64_json": "aGk="}``, ``{"item.result": 5}``;
                    a path into lists uses indexes: ``"data.0.b64_json"``) and/or
                    ``remove`` (field paths): events, or a non-streamed body, altered
                    in place (a server that sends wrong types or misses fields)
``reply``           ``status`` (default 200), ``headers``, ``body`` (text): this reply
                    instead of the API's (a redirect, an HTML login page, a proxy's error)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "drop", "cut", "malformed", "error_event", "unknown_events", "stall", "tamper", "reply")


@dataclass
class Fault:
    kind: str
    times: int = 1
    path: str | None = None
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if not self.path:
            return True
        want = self.path.rstrip("/")
        if not want.startswith("/"):
            want = "/" + want
        bare = path[3:] if path.startswith("/v1/") else path
        return any(p == want or p.startswith(want + "/") or p.endswith(want) for p in (path, bare))

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "times": self.times, "path": self.path,
                "method": self.method, **self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        data = dict(data)
        kind = data.pop("kind", None)
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        times = int(data.pop("times", 1))
        path = data.pop("path", None)
        method = data.pop("method", None)
        return cls(kind=kind, times=times, path=path, method=method, params=data)


class FaultPlan:
    """A thread-safe queue of faults for the simulator."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, kind: str, times: int = 1, path: str | None = None, **params: Any) -> Fault:
        """Queue a fault for the next ``times`` requests whose path matches ``path``."""
        method = params.pop("method", None)
        fault = Fault.from_dict({"kind": kind, "times": times, "path": path,
                                 "method": method, **params})
        with self._lock:
            self._faults.append(fault)
        return fault

    def extend(self, items: list[dict[str, Any]] | dict[str, Any]) -> list[Fault]:
        if isinstance(items, dict):
            items = [items]
        faults = [Fault.from_dict(item) for item in items]
        with self._lock:
            self._faults.extend(faults)
        return faults

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any (consumes one use)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[i]
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"FaultPlan({[f.to_dict() for f in self.pending]!r})"


def tamper(obj: dict[str, Any], fault: Fault) -> dict[str, Any]:
    """A copy of one event or reply with the fault's ``set`` and ``remove`` paths applied."""
    import copy

    out = copy.deepcopy(obj)
    for path, value in (fault.get("set") or {}).items():
        parent, last = _walk(out, str(path))
        if parent is not None:
            parent[last] = value
    for path in fault.get("remove") or []:
        parent, last = _walk(out, str(path))
        if isinstance(parent, dict):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            del parent[last]
    return out


def _walk(obj: Any, path: str) -> tuple[Any, Any]:
    """(container, key) of a dotted path; (None, None) where the path leads nowhere."""
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return None, None
    return obj, parts[-1]

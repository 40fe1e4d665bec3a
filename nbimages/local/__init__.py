"""The offline simulator: an OpenAI-compatible image API with procedural images.

- :class:`LocalTransport`: an httpx transport (sync and async) answering in-process.
- :func:`start_server`: the same simulator over HTTP on 127.0.0.1, in a thread.
- :class:`Simulator`: the sans-IO core (routing, protocol, state, recorded requests).
- :class:`FaultPlan`: inject failures (statuses, drops, cut streams, stalls...).
- :class:`RequestLimiter`: the requests-per-minute limit (``Simulator(rpm_limit=...)``).
- :class:`Painter`: what makes the pixels (``Simulator(painter=...)``);
  :class:`ProceduralPainter` is the default, :class:`Picture` what a painter returns.

Imports are lazy: ``import nbimages.local`` loads neither httpx nor Pillow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .faults import Fault, FaultPlan
    from .painter import Painter, Picture, ProceduralPainter
    from .ratelimit import RequestLimiter
    from .server import ServerHandle, start_server
    from .simulator import RecordedRequest, Simulator
    from .transport import LocalTransport

__all__ = ["Fault", "FaultPlan", "LocalTransport", "Painter", "Picture", "ProceduralPainter",
           "RecordedRequest", "RequestLimiter", "ServerHandle", "Simulator", "start_server"]

_WHERE = {
    "Fault": "faults", "FaultPlan": "faults", "LocalTransport": "transport",
    "Painter": "painter", "Picture": "painter", "ProceduralPainter": "painter",
    "RecordedRequest": "simulator", "RequestLimiter": "ratelimit", "ServerHandle": "server",
    "Simulator": "simulator", "start_server": "server",
}


__getattr__, __dir__ = lazy_attributes(globals(), _WHERE)

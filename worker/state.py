"""Live facts about this worker process that the edges and the heartbeat share."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["WorkerState"]


@dataclass
class WorkerState:
    """Mutable, owned by the server; read by GetStatus and the heartbeat.

    ``draining`` turns true when a stop was requested: health goes NOT_SERVING and the
    master stops placing chunks here while in-flight requests finish.
    """

    worker_id: str
    zone: str = ""
    draining: bool = False
    inflight_requests: int = 0

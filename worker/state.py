"""Live facts about this worker process that the edges and the heartbeat share."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["WorkerState"]


@dataclass
class WorkerState:
    """Mutable, owned by the server; read by GetStatus and the heartbeat.

    ``draining`` turns true when a stop was requested: health goes NOT_SERVING and the
    master stops placing chunks here while in-flight requests finish. ``peers`` maps
    the address of every registered, healthy worker to its id, as the master's last
    heartbeat answer listed them: ReplicateChunk copies only to those.
    """

    worker_id: str
    zone: str = ""
    draining: bool = False
    inflight_requests: int = 0
    peers: dict[str, str] = field(default_factory=dict)

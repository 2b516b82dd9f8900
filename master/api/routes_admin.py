"""Admin-only routes. The role is checked in the backend (``ClusterService``), on every
request."""

from __future__ import annotations

from aiohttp import web

from master.api.common import ok, principal_of, services_of
from master.services.cluster import DrainStatus

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/api/v1/admin/cluster")
async def cluster_view(request: web.Request) -> web.Response:
    view = await services_of(request).cluster.overview(principal_of(request))
    return ok({
        "workers": [
            {"worker_id": w.worker_id, "address": w.address, "zone": w.zone, "state": w.state,
             "capacity_bytes": w.capacity_bytes, "used_bytes": w.used_bytes,
             "chunk_count": w.chunk_count}
            for w in view.workers
        ],
        "files": view.totals.files,
        "chunks": view.totals.chunks,
        "stored_bytes": view.totals.stored_bytes,
        "raw_bytes": view.totals.raw_bytes,
        "under_replicated_chunks": view.under_replicated_chunks,
        "oldest_repair_item_seconds": round(view.oldest_repair_item_s, 3),
        "bytes_at_risk": view.bytes_at_risk,
        "replication_factor": view.replication_factor,
    })


def _progress(drain: DrainStatus) -> dict[str, int]:
    return {"chunks_total": drain.chunks_total, "chunks_remaining": drain.chunks_remaining}


@routes.post("/api/v1/admin/workers/{worker_id}/drain")
async def start_drain(request: web.Request) -> web.Response:
    """Stop placing on the worker and copy each of its chunks to N other workers; the
    worker becomes ``removed`` once nothing depends on it. Progress: GET on this path."""
    drain = await services_of(request).cluster.start_drain(
        principal_of(request), request.match_info["worker_id"])
    return ok({"worker_id": drain.worker_id, "state": drain.state, "queued": drain.queued,
               **_progress(drain)}, "drain started", status=202)


@routes.get("/api/v1/admin/workers/{worker_id}/drain")
async def drain_status(request: web.Request) -> web.Response:
    drain = await services_of(request).cluster.drain_status(
        principal_of(request), request.match_info["worker_id"])
    return ok({"worker_id": drain.worker_id, "state": drain.state, "done": drain.done,
               **_progress(drain)})

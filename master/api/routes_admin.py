"""Admin-only routes. The role is checked here, in the backend, on every request."""

from __future__ import annotations

from aiohttp import web

from common.errors import Forbidden, NotFound
from master.api.common import ok, principal_of, services_of

__all__ = ["routes"]

routes = web.RouteTableDef()


def _require_admin(request: web.Request) -> None:
    if not principal_of(request).is_admin:
        raise Forbidden("this route needs the admin role")


@routes.get("/api/v1/admin/cluster")
async def cluster_view(request: web.Request) -> web.Response:
    _require_admin(request)
    services = services_of(request)
    workers = await services.workers.all()
    repair = await services.repair_queue.stats()
    async with services.db.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS chunks, COALESCE(sum(stored_size), 0) AS stored_bytes,"
            " COALESCE(sum(raw_size), 0) AS raw_bytes FROM chunks"
        )
        totals = await cur.fetchone()
        cur = await conn.execute("SELECT count(*) AS files FROM files")
        files = await cur.fetchone()
    assert totals is not None and files is not None
    return ok({
        "workers": [
            {"worker_id": w.worker_id, "address": w.address, "zone": w.zone,
             "state": (v.state if (v := services.registry.view(w.worker_id)) else w.state),
             "capacity_bytes": w.capacity_bytes, "used_bytes": w.used_bytes,
             "chunk_count": w.chunk_count}
            for w in workers
        ],
        "files": int(files["files"]),
        "chunks": int(totals["chunks"]),
        "stored_bytes": int(totals["stored_bytes"]),
        "raw_bytes": int(totals["raw_bytes"]),
        "under_replicated_chunks": repair["items"],
        "oldest_repair_item_seconds": round(repair["oldest_s"], 3),
        "bytes_at_risk": repair["bytes_at_risk"],
        "replication_factor": services.settings.replication_factor,
    })


@routes.post("/api/v1/admin/workers/{worker_id}/drain")
async def start_drain(request: web.Request) -> web.Response:
    """Stop placing on the worker and copy each of its chunks to N other workers; the
    worker becomes ``removed`` once nothing depends on it. Progress: GET on this path."""
    _require_admin(request)
    services = services_of(request)
    worker_id = request.match_info["worker_id"]
    if not await services.workers.start_drain(worker_id):
        raise NotFound(f"no worker {worker_id!r} that can be drained")
    queued = await services.replicas.enqueue_chunks_of_worker(worker_id, "drain")
    await services.registry.refresh()
    progress = await services.replicas.drain_progress(
        worker_id, services.settings.replication_factor)
    return ok({"worker_id": worker_id, "state": "draining", "queued": queued, **progress},
              "drain started", status=202)


@routes.get("/api/v1/admin/workers/{worker_id}/drain")
async def drain_status(request: web.Request) -> web.Response:
    _require_admin(request)
    services = services_of(request)
    worker_id = request.match_info["worker_id"]
    record = await services.workers.get(worker_id)
    if record is None:
        raise NotFound(f"no worker {worker_id!r}")
    progress = await services.replicas.drain_progress(
        worker_id, services.settings.replication_factor)
    return ok({"worker_id": worker_id, "state": record.state,
               "done": record.state == "removed", **progress})

"""Admin-only routes. The role is checked in the backend (``ClusterService``,
``AuditService``, ``QuotaService``), on every request."""

from __future__ import annotations

from aiohttp import web

from common.errors import InvalidInput
from master.api.common import ok, principal_of, query_text, read_json_object, services_of
from master.services.cluster import DrainStatus
from master.services.quotas import parse_quotas

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


@routes.get("/api/v1/admin/audit")
async def audit_log(request: web.Request) -> web.Response:
    """Audit rows after id ``after`` (default 0), oldest first, at most ``limit``
    (default 100), optionally only one ``action`` or ``actor``."""
    try:
        after = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise InvalidInput("after and limit must be integers") from None
    entries = await services_of(request).audit.page(
        principal_of(request), after, limit,
        action=query_text(request, "action", max_len=64) or None,
        actor=query_text(request, "actor", max_len=64) or None,
    )
    return ok({
        "entries": [
            {"id": e.id, "at": e.at.isoformat() if e.at else None, "actor": e.actor,
             "actor_id": e.actor_id, "via": e.via, "action": e.action, "target": e.target,
             "outcome": e.outcome, "client": e.client, "details": e.details}
            for e in entries
        ],
        "next_after": entries[-1].id if entries else after,
    })


@routes.patch("/api/v1/admin/users/{username}")
async def set_user_quota(request: web.Request) -> web.Response:
    """``{quota_bytes?, quota_files?}`` (null: no limit): the user's quota over all the
    buckets the user owns. Admins only; audited as ``quota.set``."""
    quotas = parse_quotas(await read_json_object(request))
    username = request.match_info["username"]
    usage = await services_of(request).quotas.set_user_quota(
        principal_of(request), username, quotas)
    return ok({"username": username, "user_id": usage.scope_id,
               "used_bytes": usage.used_bytes, "files": usage.files,
               "quota_bytes": usage.quota_bytes, "quota_files": usage.quota_files}, "updated")


@routes.patch("/api/v1/admin/groups/{group}")
async def set_group_quota(request: web.Request) -> web.Response:
    """``{quota_bytes?, quota_files?}`` (null: no limit): the group's quota over the
    buckets charged to it (a bucket's ``group`` setting). Admins only; audited as
    ``quota.set``."""
    quotas = parse_quotas(await read_json_object(request))
    group = request.match_info["group"]
    usage = await services_of(request).quotas.set_group_quota(
        principal_of(request), group, quotas)
    return ok({"group": group, "used_bytes": usage.used_bytes, "files": usage.files,
               "quota_bytes": usage.quota_bytes, "quota_files": usage.quota_files}, "updated")

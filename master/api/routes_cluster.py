"""Health, worker membership (cluster credential) and the workers' health view.

Worker routes need the cluster credential (``X-EchoFS-Cluster-Auth``, signed for that
method and path; see ``common.cluster_auth``) and the worker's identity key
(``X-EchoFS-Worker-Key``): the id is bound to the key's hash at first registration,
and any later registration or heartbeat of that id with another key is refused (409
``identity_mismatch``) and logged. Both answers list the registered, healthy workers
(``peers``), the only targets a worker will replicate to.
"""

from __future__ import annotations

import hashlib
import logging
import re

from aiohttp import web

from common.chunks import CHUNK_ID_RE
from common.errors import IdentityMismatch, InvalidInput, NotFound, Unauthenticated
from common.metrics import CONTENT_TYPE_LATEST, render
from master.api.common import ok, read_json_object, require_str, services_of

__all__ = ["routes"]

routes = web.RouteTableDef()
log = logging.getLogger(__name__)

_WORKER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]{1,255}:\d{1,5}$")
_MAX_CORRUPT_REPORT = 10_000


@routes.get("/api/v1/health")
async def health(request: web.Request) -> web.Response:
    services = services_of(request)
    postgres_ok = await services.db.ping()
    try:
        redis_ok = bool(await services.redis.ping())
    except Exception:  # a health check reports, it never raises
        redis_ok = False
    views = [v for v in services.registry.views() if v.state != "removed"]
    healthy = sum(1 for v in views if v.state == "healthy")
    quorum_possible = healthy >= services.settings.replication_factor // 2 + 1
    status = "ok" if postgres_ok and redis_ok and healthy == len(views) and views else (
        "degraded" if postgres_ok and quorum_possible else "unavailable")
    body = {
        "status": status,
        "service": "echofs-master",
        "checks": {"postgres": postgres_ok, "redis": redis_ok,
                   "workers_healthy": healthy, "workers_total": len(views)},
    }
    return web.json_response(
        {"success": status != "unavailable", "message": status, "data": body, **body},
        status=200 if status != "unavailable" else 503,
    )


_WORKER_KEY_HEADER = "X-EchoFS-Worker-Key"


def _check_cluster_call(request: web.Request) -> str:
    """The caller proves cluster membership; returns the hash of its worker key.

    Raises Unauthenticated (nothing is read or changed).
    """
    identity = services_of(request).identity
    if not identity.verify_http(request.headers, request.method, request.path):
        raise Unauthenticated("missing or invalid cluster credential (X-EchoFS-Cluster-Auth)")
    key = request.headers.get(_WORKER_KEY_HEADER, "")
    if not 32 <= len(key) <= 256:
        raise Unauthenticated(f"missing or malformed {_WORKER_KEY_HEADER}")
    return hashlib.sha256(key.encode()).hexdigest()


def _refused(worker_id: str, request: web.Request, error: IdentityMismatch) -> IdentityMismatch:
    log.warning("refused worker %s from %s: bound to another identity", worker_id,
                request.remote, extra={"worker_id": worker_id, "remote": request.remote})
    return error


def _int_field(body: dict, key: str) -> int:
    value = body.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
        raise InvalidInput(f"field {key!r} must be a non-negative integer below 2**62")
    return value


@routes.post("/api/v1/workers/register")
async def register_worker(request: web.Request) -> web.Response:
    key_sha256 = _check_cluster_call(request)
    body = await read_json_object(request)
    worker_id = require_str(body, "worker_id")
    address = require_str(body, "address")
    if not _WORKER_ID_RE.fullmatch(worker_id):
        raise InvalidInput("worker_id must be 1-64 characters of letters, digits, _ . -")
    if not _ADDRESS_RE.fullmatch(address):
        raise InvalidInput("address must be host:port")
    services = services_of(request)
    try:
        record = await services.workers.register(
            worker_id, address, str(body.get("metrics_url", ""))[:512],
            str(body.get("zone", ""))[:64], _int_field(body, "capacity_bytes"),
            _int_field(body, "used_bytes"), _int_field(body, "chunk_count"), key_sha256,
        )
    except IdentityMismatch as exc:
        raise _refused(worker_id, request, exc) from None
    await services.registry.refresh()
    await services.repair_queue.wake()
    return ok({"worker_id": record.worker_id, "state": record.state,
               "peers": services.registry.peers()}, "registered")


@routes.post("/api/v1/workers/{worker_id}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    key_sha256 = _check_cluster_call(request)
    body = await read_json_object(request)
    worker_id = request.match_info["worker_id"]
    services = services_of(request)
    try:
        known = await services.workers.heartbeat(
            worker_id, _int_field(body, "capacity_bytes"), _int_field(body, "used_bytes"),
            _int_field(body, "chunk_count"), key_sha256,
        )
    except IdentityMismatch as exc:
        raise _refused(worker_id, request, exc) from None
    if not known:
        raise NotFound(f"worker {worker_id!r} is not registered")
    corrupt = body.get("corrupt_chunk_ids", [])
    if not isinstance(corrupt, list) or len(corrupt) > _MAX_CORRUPT_REPORT:
        raise InvalidInput("corrupt_chunk_ids must be a list of chunk ids")
    for chunk_id in corrupt:
        if not isinstance(chunk_id, str) or not CHUNK_ID_RE.fullmatch(chunk_id):
            raise InvalidInput("corrupt_chunk_ids must be a list of chunk ids")
        await services.replicas.mark_bad(chunk_id, worker_id, "corrupt", reason="scrub")
    return ok({"worker_id": worker_id, "peers": services.registry.peers()},
              "heartbeat recorded")


@routes.get("/api/v1/workers/health")
async def workers_health(request: web.Request) -> web.Response:
    services = services_of(request)
    records = await services.workers.all()
    result = []
    for record in records:
        view = services.registry.view(record.worker_id)
        rtt_s = view.rtt_ewma_s if view is not None else None
        result.append({
            "worker_id": record.worker_id, "address": record.address, "zone": record.zone,
            "state": view.state if view is not None else record.state,
            "rtt_ms": round(rtt_s * 1000, 3) if rtt_s is not None else record.rtt_ms,
            "last_heartbeat": record.last_heartbeat.isoformat(),
            "capacity_bytes": record.capacity_bytes, "used_bytes": record.used_bytes,
            "chunk_count": record.chunk_count, "metrics_url": record.metrics_url,
            "rtt_p99_ms": round(view.rtt_p99_s * 1000, 3)
            if view is not None and view.rtt_p99_s is not None else None,
        })
    return ok({"workers": result})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = render(services_of(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

"""Health, worker membership (cluster credential) and the workers' health view.

Worker routes need the cluster credential and the worker's identity key; the rules
(and the 409 ``identity_mismatch`` for an id bound to another key) are
``ClusterService``'s (see ``master.services.cluster``).
"""

from __future__ import annotations

import re

from aiohttp import web

from common.chunks import CHUNK_ID_RE
from common.errors import InvalidInput
from common.metrics import CONTENT_TYPE_LATEST, render
from master.api.common import ok, read_json_object, require_str, services_of
from master.services.cluster import WorkerStats

__all__ = ["routes"]

routes = web.RouteTableDef()

_WORKER_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9_.\-\[\]:]{1,255}:\d{1,5}$")
_MAX_CORRUPT_REPORT = 10_000


@routes.get("/api/v1/health")
async def health(request: web.Request) -> web.Response:
    report = await services_of(request).cluster.health()
    body = {
        "status": report.status,
        "service": "echofs-master",
        "checks": {"postgres": report.postgres, "redis": report.redis,
                   "workers_healthy": report.workers_healthy,
                   "workers_total": report.workers_total},
    }
    return web.json_response(
        {"success": report.status != "unavailable", "message": report.status, "data": body,
         **body},
        status=200 if report.status != "unavailable" else 503,
    )


def _check_cluster_call(request: web.Request) -> str:
    """The hash of the calling worker's key, or Unauthenticated (nothing read yet)."""
    return services_of(request).cluster.check_cluster_call(
        request.headers, request.method, request.path)


def _int_field(body: dict, key: str) -> int:
    value = body.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
        raise InvalidInput(f"field {key!r} must be a non-negative integer below 2**62")
    return value


def _stats(body: dict) -> WorkerStats:
    return WorkerStats(_int_field(body, "capacity_bytes"), _int_field(body, "used_bytes"),
                       _int_field(body, "chunk_count"))


def _corrupt_chunk_ids(body: dict) -> list[str]:
    corrupt = body.get("corrupt_chunk_ids", [])
    if (not isinstance(corrupt, list) or len(corrupt) > _MAX_CORRUPT_REPORT
            or not all(isinstance(c, str) and CHUNK_ID_RE.fullmatch(c) for c in corrupt)):
        raise InvalidInput("corrupt_chunk_ids must be a list of chunk ids")
    return corrupt


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
    membership = await services_of(request).cluster.register(
        worker_id, address=address, metrics_url=str(body.get("metrics_url", ""))[:512],
        zone=str(body.get("zone", ""))[:64], stats=_stats(body), key_sha256=key_sha256,
        remote=request.remote,
    )
    return ok({"worker_id": membership.worker_id, "state": membership.state,
               "peers": membership.peers}, "registered")


@routes.post("/api/v1/workers/{worker_id}/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    key_sha256 = _check_cluster_call(request)
    body = await read_json_object(request)
    worker_id = request.match_info["worker_id"]
    peers = await services_of(request).cluster.heartbeat(
        worker_id, stats=_stats(body), key_sha256=key_sha256, remote=request.remote,
        corrupt_chunk_ids=_corrupt_chunk_ids(body),
    )
    return ok({"worker_id": worker_id, "peers": peers}, "heartbeat recorded")


@routes.get("/api/v1/workers/health")
async def workers_health(request: web.Request) -> web.Response:
    workers = await services_of(request).cluster.workers_health()
    return ok({"workers": [
        {"worker_id": w.worker_id, "address": w.address, "zone": w.zone, "state": w.state,
         "rtt_ms": w.rtt_ms, "last_heartbeat": w.last_heartbeat.isoformat(),
         "capacity_bytes": w.capacity_bytes, "used_bytes": w.used_bytes,
         "chunk_count": w.chunk_count, "metrics_url": w.metrics_url,
         "rtt_p99_ms": w.rtt_p99_ms}
        for w in workers
    ]})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = render(services_of(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

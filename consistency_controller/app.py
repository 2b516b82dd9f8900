"""HTTP edge of the controller: parse, call the service, translate errors once.

``GET /v1/mode`` answers a flat ``{mode, ttl_seconds, reason, timestamp}`` so masters parse
it simply; every other success uses the EchoFS envelope ``{success, message, data}``.
Errors leave through the edge the master uses too (``common.http_edge``):
``{"success": false, "message", "code", "data": null[, "details"]}`` with the status from
``common.errors.http_status_of``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from common.cluster_auth import ClusterIdentity
from common.config import ControllerSettings
from common.errors import BadJson, InvalidInput, Unavailable
from common.http_edge import json_errors
from common.logging import REQUEST_ID, new_request_id
from common.metrics import CONTENT_TYPE_LATEST, render
from common.quorum import Hint, Mode
from common.singleton import SingletonRunner, holder_id

from .auth import WriteGuard
from .leases import EVALUATION, ControllerLeases
from .loop import EvaluationLoop
from .metrics import ControllerMetrics
from .publisher import RedisPublisher
from .read_model import check_read_model
from .service import ControllerService, check_object_id
from .signals import Prober, SignalReader
from .store import CLUSTER, Store

__all__ = [
    "LOOP",
    "METRICS",
    "PUBLISHER",
    "SERVICE",
    "build_app",
]

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", ControllerSettings)
METRICS = web.AppKey("metrics", ControllerMetrics)
STORE = web.AppKey("store", Store)
PUBLISHER = web.AppKey("publisher", RedisPublisher)
SERVICE = web.AppKey("service", ControllerService)
PROBER = web.AppKey("prober", Prober)
LOOP = web.AppKey("loop", EvaluationLoop)
GUARD = web.AppKey("guard", WriteGuard)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- edge helpers -----------------------------------------------------------------------


def _ok(message: str, data: Any) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data})


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadJson(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadJson("request body must be a JSON object")
    return body


def _parse_hint(value: object) -> Hint:
    if isinstance(value, str):
        for hint in Hint:
            if value.lower() == hint.value.lower():
                return hint
    raise InvalidInput("hint must be one of Auto, Strong, Available")


def _parse_keys(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise InvalidInput(f"{name} must be a list of object ids")
    return [check_object_id(key) for key in value]


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id in, request id out; every answer (errors too: ``json_errors`` sits
    inside) counted by method, route and status."""
    REQUEST_ID.set(request.headers.get("X-Request-Id") or new_request_id())
    started = time.perf_counter()
    metrics = request.app[METRICS]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    response = await handler(request)
    metrics.http_requests.labels(request.method, route, str(response.status)).inc()
    metrics.http_duration.labels(request.method, route).observe(time.perf_counter() - started)
    response.headers["X-Request-Id"] = REQUEST_ID.get()
    return response


@web.middleware
async def write_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every write needs the cluster credential or an admin's token (``auth.WriteGuard``);
    before the guard exists (the controller is starting) no write is accepted."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if GUARD not in request.app:
            raise Unavailable("the controller is starting; writes are not accepted yet")
        await request.app[GUARD].check(request)
    return await handler(request)


# --- handlers ---------------------------------------------------------------------------


async def get_mode(request: web.Request) -> web.Response:
    object_id = request.query.get("object_id")
    if object_id is not None and object_id != CLUSTER:
        check_object_id(object_id)
    answer = request.app[SERVICE].mode_for(object_id)
    return web.json_response(answer.as_json())


async def post_hint(request: web.Request) -> web.Response:
    body = await _json_object(request)
    object_id = check_object_id(body.get("object_id"))
    hint = _parse_hint(body.get("hint"))
    record = await request.app[SERVICE].set_hint(object_id, hint)
    return _ok("hint set", {"object_id": record.object_id, "hint": record.hint.value})


async def post_register(request: web.Request) -> web.Response:
    body = await _json_object(request)
    object_id = check_object_id(body.get("object_id"))
    hint = _parse_hint(body["hint"]) if body.get("hint") is not None else None
    critical = body.get("critical")
    if critical is not None and not isinstance(critical, bool):
        raise InvalidInput("critical must be true or false")
    service = request.app[SERVICE]
    record = await service.register(object_id, hint, critical)
    answer = service.mode_for(object_id)
    return _ok(
        "registered",
        {
            "object_id": object_id,
            "hint": record.hint.value,
            "critical": object_id in service.critical_keys,
            **answer.as_json(),
        },
    )


async def post_override(request: web.Request) -> web.Response:
    body = await _json_object(request)
    if "mode" not in body:
        raise InvalidInput('body must have "mode": "C", "A" or null')
    raw = body["mode"]
    if raw is not None and raw not in (Mode.STRONG.value, Mode.AVAILABLE.value):
        raise InvalidInput('mode must be "C", "A" or null')
    mode = Mode(raw) if raw is not None else None
    answer = await request.app[SERVICE].set_override(mode)
    return _ok(
        "override cleared" if mode is None else f"mode pinned to {mode.value}",
        {"override": raw, **answer.as_json()},
    )


async def get_critical_keys(request: web.Request) -> web.Response:
    keys = sorted(request.app[SERVICE].critical_keys)
    return _ok(f"{len(keys)} critical keys", {"critical_keys": keys})


async def post_critical_keys(request: web.Request) -> web.Response:
    body = await _json_object(request)
    add = _parse_keys(body, "add")
    if "object_id" in body:
        add.append(check_object_id(body["object_id"]))
    remove = _parse_keys(body, "remove")
    if not add and not remove:
        raise InvalidInput('give "add" and/or "remove" lists (or "object_id")')
    keys = await request.app[SERVICE].change_critical_keys(add, remove)
    return _ok("critical keys updated", {"critical_keys": keys})


async def get_status(request: web.Request) -> web.Response:
    app = request.app
    service = app[SERVICE]
    status = app[LOOP].status()
    status["override"] = service.override.value if service.override else None
    status["critical_keys"] = sorted(service.critical_keys)
    status["cluster"] = {"object_id": "*", **service.mode_for(None).as_json()}
    status["decisions"] = await app[STORE].recent_decisions(limit=50)
    return _ok("status", status)


async def get_health(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, Any] = {}
    try:
        await asyncio.wait_for(app[STORE].ping(), timeout=2.0)
        checks["postgres"] = "ok"
    except Exception as exc:  # the health answer reports any failure, it never raises
        checks["postgres"] = f"error: {exc!r}"
    publisher = app[PUBLISHER]
    checks["redis"] = "ok" if publisher.healthy else "publish failing; retrying"
    checks["last_evaluation_age_s"] = app[LOOP].last_success_age_s()
    healthy = checks["postgres"] == "ok"
    return web.json_response(
        {
            "status": "ok" if healthy else "degraded",
            "service": "echofs-controller",
            "checks": checks,
            "cluster_mode": app[SERVICE].mode_for(None).mode.value,
        },
        status=200 if healthy else 503,
    )


async def get_metrics(request: web.Request) -> web.Response:
    body = render(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- resources, one cleanup_ctx each ----------------------------------------------------


def _resources(
    settings: ControllerSettings, database_url: str, redis_url: str, run_loop: bool
) -> list[Callable[[web.Application], AsyncIterator[None]]]:
    async def postgres(app: web.Application) -> AsyncIterator[None]:
        await Store.migrate(database_url)
        pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=4, open=False, name="controller"
        )
        await pool.open(wait=True, timeout=30)
        await check_read_model(pool)  # logs whether the master's views are there yet
        app[STORE] = Store(pool)
        app[GUARD] = WriteGuard(
            ClusterIdentity.from_settings(settings), settings.jwt_secret, pool
        )
        try:
            yield
        finally:
            await pool.close()

    async def redis(app: web.Application) -> AsyncIterator[None]:
        metrics = app[METRICS]
        publisher = RedisPublisher(redis_url, on_failure=metrics.publish_failures.inc)
        app[PUBLISHER] = publisher
        try:
            yield
        finally:
            await publisher.close()

    async def service(app: web.Application) -> AsyncIterator[None]:
        svc = ControllerService(
            app[STORE],
            app[PUBLISHER],
            ttl_seconds=settings.mode_ttl_seconds,
            active_window_s=settings.active_object_window_seconds,
        )
        await svc.load()
        app[SERVICE] = svc
        yield

    async def evaluation(app: web.Application) -> AsyncIterator[None]:
        prober = Prober(timeout_s=settings.controller_probe_timeout_seconds,
                        identity=ClusterIdentity.from_settings(settings))
        metrics = app[METRICS]
        # One active controller: the loop evaluates only while holding the lease.
        singleton = SingletonRunner(
            ControllerLeases(app[STORE].pool), EVALUATION,
            holder_id(settings.controller_port), ttl_s=settings.lease_ttl_seconds,
            on_change=lambda job, held: metrics.singleton_leader.labels(job).set(
                1.0 if held else 0.0),
        )
        loop = EvaluationLoop(
            app[SERVICE],
            SignalReader(app[STORE].pool, lag_grace_s=settings.replication_lag_grace_seconds),
            prober,
            app[METRICS],
            interval_s=settings.evaluation_interval_seconds,
            active_window_s=settings.active_object_window_seconds,
            decision_retention_s=settings.decision_retention_seconds,
            replication_factor=settings.replication_factor,
            latency_budget_s=settings.controller_latency_budget_seconds,
            startup_grace_s=settings.controller_startup_grace_seconds,
            repair_grace_s=settings.repair_grace_seconds,
            singleton=singleton,
        )
        app[PROBER] = prober
        app[LOOP] = loop
        if run_loop:
            loop.start()
        try:
            yield
        finally:
            await loop.stop()
            await prober.close()

    return [postgres, redis, service, evaluation]


def build_app(
    settings: ControllerSettings, database_url: str, redis_url: str, *, run_loop: bool = True
) -> web.Application:
    """The controller app; ``run_loop=False`` lets tests call ``app[LOOP].run_once()``."""
    app = web.Application(
        middlewares=[request_context, json_errors(), write_guard], client_max_size=64 * 1024
    )
    app[SETTINGS] = settings
    app[METRICS] = ControllerMetrics.create()
    app.cleanup_ctx.extend(_resources(settings, database_url, redis_url, run_loop))
    app.router.add_get("/v1/mode", get_mode)
    app.router.add_post("/v1/hint", post_hint)
    app.router.add_post("/v1/register", post_register)
    app.router.add_post("/v1/override", post_override)
    app.router.add_get("/v1/critical-keys", get_critical_keys)
    app.router.add_post("/v1/critical-keys", post_critical_keys)
    app.router.add_get("/status", get_status)
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    return app


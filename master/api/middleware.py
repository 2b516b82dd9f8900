"""Request ids, JSON errors, auth gate, metrics and one log line per request.

A client that goes away mid-request (its connection reset or closed while we read its
body or write our answer) is its own outcome, not a server error: counted with status
``499`` (nginx's "client closed request"), logged at info without a traceback, and
answered with nothing (there is no one to answer). Its upload commits nothing: the
read raises, so the service never reaches its commit. A cancelled handler counts as
499 too, and the cancellation still propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from common.errors import EchoError, InvalidInput
from common.http_edge import json_errors as json_errors_middleware
from common.logging import REQUEST_ID, new_request_id
from common.pacing import ForegroundActivity
from master.api.common import PRINCIPAL, services_of

__all__ = ["CLIENT_CLOSED", "FOREGROUND", "PUBLIC_ROUTES", "middlewares"]

log = logging.getLogger("master.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Route templates that need no user token (worker routes check the cluster secret).
PUBLIC_ROUTES = {
    "/api/v1/health",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/workers/register",
    "/api/v1/workers/{worker_id}/heartbeat",
    "/api/v1/openapi.json",
    "/metrics",
    "/d/{token}",  # download links: the token is the credential (routes_links)
    # The web UI's login, register and static files (master/ui, DESIGN §18).
    "/ui/login",
    "/ui/register",
    "/ui/static",
}


# Client requests in flight (repair and GC yield to them: common.pacing). The cluster's
# own bookkeeping is not client traffic: heartbeats alone would keep the master "busy".
FOREGROUND = web.AppKey("foreground", ForegroundActivity)
_BOOKKEEPING_ROUTES = {
    "/api/v1/health",
    "/api/v1/workers/register",
    "/api/v1/workers/{worker_id}/heartbeat",
    "/metrics",
    # The web UI's live admin views: an SSE stream an open page holds for minutes is
    # not client load (it would keep the master "busy" and pace repair while watched).
    "/ui/admin/workers/live",
    "/ui/admin/consistency/live",
}

CLIENT_CLOSED = 499

# What reading a body or writing an answer raises when the peer went away.
_PEER_GONE = (ConnectionResetError, BrokenPipeError, ClientPayloadError, HttpProcessingError)


def _client_went_away(request: web.Request, exc: BaseException) -> bool:
    """Such an error *and* the client's connection closed: a reset of one of our own
    outgoing connections, the client still waiting, stays a server error."""
    transport = request.transport
    return isinstance(exc, _PEER_GONE) and (transport is None or transport.is_closing())


def _route_of(request: web.Request) -> str:
    info = request.match_info
    resource = info.route.resource if info.http_exception is None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else new_request_id()
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    route = _route_of(request)
    status = 500
    foreground = request.app.get(FOREGROUND) if route not in _BOOKKEEPING_ROUTES else None
    if foreground is not None:
        foreground.begin()
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    except Exception as exc:
        if not _client_went_away(request, exc):
            raise
        status = CLIENT_CLOSED
        log.info("client closed the request: %r", exc)
        # Nobody reads it: aiohttp's write fails quietly on the closed connection.
        return web.Response(status=CLIENT_CLOSED)
    finally:
        if foreground is not None:
            foreground.end()
        elapsed = time.perf_counter() - started
        metrics = services_of(request).metrics
        metrics.http_requests.labels(request.method, route, str(status)).inc()
        metrics.http_duration.labels(request.method, route).observe(elapsed)
        log.info("%s %s -> %s", request.method, route, status, extra={
            "method": request.method, "route": route, "status": status,
            "duration_ms": round(elapsed * 1000, 2)})
        REQUEST_ID.reset(token)


def _malformed_body(exc: Exception) -> EchoError | None:
    """Malformed bytes inside a body we parse ourselves (multipart part headers) are the
    client's fault: 400, unless the client went away (``request_context`` counts that)."""
    if isinstance(exc, HttpProcessingError):
        return InvalidInput(f"malformed request: {exc.message}")
    return None


# Every failure leaves as JSON with a stable code in the envelope the controller uses too
# (common.http_edge); nothing else escapes as a 500 page, but a client that went away gets
# no answer: ``request_context`` counts it.
json_errors = json_errors_middleware(reraise=_client_went_away, translate=_malformed_body)


@web.middleware
async def auth_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Fail closed: every route needs a valid token unless it is listed as public.

    An authenticated request then counts against its user's and its API key's request
    rate (429 ``rate_limited`` with ``Retry-After`` beyond them): the one place rate
    limits apply (``services.rate_limits``)."""
    if _route_of(request) not in PUBLIC_ROUTES and request.match_info.http_exception is None:
        services = services_of(request)
        principal = await services.auth.authenticate(request.headers.get("Authorization"))
        request[PRINCIPAL] = principal
        await services.rate_limits.check(principal)
    return await handler(request)


middlewares = [request_context, json_errors, auth_gate]

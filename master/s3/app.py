"""The gateway's aiohttp application: one route, addressing, auth, dispatch, S3 errors.

Every request is answered in S3's terms: the operation is found (``router``), the
caller authenticated (``sigv4``: a signature, or AccessDenied), the handler called;
every failure becomes S3's XML error with S3's code and status (``errors``),
unimplemented operations 501 ``NotImplemented``, and nothing escapes as a 500 page.
It runs in the master process on ``S3_PORT`` beside the REST app, on the same services.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from common.config import MasterSettings
from common.errors import EchoError, RateLimited
from common.logging import REQUEST_ID, new_request_id
from master.s3 import handlers_bucket, handlers_list, handlers_multipart, handlers_object
from master.s3.addressing import Target, parse_target
from master.s3.context import S3_SERVICES, S3Call
from master.s3.errors import S3Error, Subject, s3_error_for
from master.s3.router import IMPLEMENTED, route
from master.s3.sigv4 import RequestParts, authenticate
from master.s3.xml import error_document
from master.services.container import Services

__all__ = ["build_s3_app"]

log = logging.getLogger("master.s3")

Handler = Callable[[S3Call], Awaitable[web.StreamResponse]]
_HANDLERS: dict[str, Handler] = {
    **handlers_bucket.HANDLERS, **handlers_list.HANDLERS, **handlers_object.HANDLERS,
    **handlers_multipart.HANDLERS,
}
assert set(_HANDLERS) == IMPLEMENTED, set(_HANDLERS) ^ IMPLEMENTED
_PEER_GONE = (ConnectionResetError, BrokenPipeError, ClientPayloadError, HttpProcessingError)
CLIENT_CLOSED = 499


def build_s3_app(settings: MasterSettings, services: Callable[[], Services]) -> web.Application:
    """The gateway app; ``services`` returns the master's services once they exist."""
    app = web.Application(client_max_size=1024 * 1024)
    app[S3_SERVICES] = services
    app.router.add_route("*", "/{tail:.*}", _dispatcher(settings))
    return app


def _parts(request: web.Request) -> RequestParts:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return RequestParts(request.method, request.host, request.rel_url.raw_path,
                        list(request.rel_url.query.items()), headers)


def _dispatcher(settings: MasterSettings) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        request_id = new_request_id()
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        services = request.app[S3_SERVICES]()
        operation, status, code = "unknown", 500, ""
        call: S3Call | None = None
        try:
            target = parse_target(request.host, request.rel_url.raw_path, settings.s3_domain)
            operation = route(request.method, target.bucket, target.key,
                              request.rel_url.query, request.headers)
            call = S3Call(request, services, target, operation, request_id,
                          subject=Subject.BUCKET if target.bucket else Subject.KEY)
            call.extra_headers["x-amz-request-id"] = request_id
            call.auth = await authenticate(_parts(request), services.gateway.keys,
                                           datetime.now(UTC),
                                           settings.s3_max_skew_seconds)
            await services.rate_limits.check(call.caller)  # as on the REST API (§12)
            if operation not in IMPLEMENTED:
                raise S3Error("NotImplemented",
                              f"{operation} is not implemented by the EchoFS gateway", 501)
            response = await _HANDLERS[operation](call)
            status = response.status
            return response
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        except Exception as exc:
            transport = request.transport
            if isinstance(exc, _PEER_GONE) and (transport is None or transport.is_closing()):
                status = CLIENT_CLOSED
                log.info("client closed the request: %r", exc)
                return web.Response(status=CLIENT_CLOSED)
            error = _as_s3_error(exc, call)
            status, code = error.status, error.code
            return _error_response(request, error, call, request_id)
        finally:
            elapsed = time.perf_counter() - started
            metrics = services.metrics
            metrics.s3_operations.labels(operation, str(status)).inc()
            metrics.s3_duration.labels(operation).observe(elapsed)
            if code:
                metrics.s3_errors.labels(operation, code).inc()
            log.info("s3 %s -> %s", operation, status, extra={
                "operation": operation, "status": status, "code": code,
                "duration_ms": round(elapsed * 1000, 2)})
            REQUEST_ID.reset(token)

    return dispatch


def _as_s3_error(exc: Exception, call: S3Call | None) -> S3Error:
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, EchoError):
        error = s3_error_for(exc, call.subject if call is not None else Subject.KEY)
        if isinstance(exc, RateLimited):
            error.headers["Retry-After"] = str(exc.retry_after_s)
        if error.status >= 500:
            log.warning("s3 request failed: %s", exc.message, extra={"code": exc.code})
        return error
    if isinstance(exc, web.HTTPException):
        if exc.status == 413:
            return S3Error("EntityTooLarge", "the request body is too large")
        return S3Error("InvalidRequest", exc.reason or "bad request", exc.status)
    if isinstance(exc, HttpProcessingError):
        return S3Error("InvalidRequest", f"malformed request: {exc.message}")
    log.error("unhandled error in the S3 gateway", exc_info=exc)
    return S3Error("InternalError", "internal error; see the server log", 500)


def _error_response(
    request: web.Request, error: S3Error, call: S3Call | None, request_id: str
) -> web.Response:
    target = call.target if call is not None else Target(None, None)
    headers = {"x-amz-request-id": request_id}
    if call is not None:
        headers.update(call.extra_headers)
    headers.update(error.headers)
    if request.method == "HEAD":  # S3 answers HEAD errors with the status alone
        return web.Response(status=error.status, headers=headers)
    body = error_document(error.code, error.message, target.resource, request_id)
    return web.Response(status=error.status, body=body.encode(),
                        content_type="application/xml", headers=headers)

"""The HTTP error edge every EchoFS aiohttp service shares (DESIGN.md §8, STYLE.md "one
error edge per protocol"): the master and the controller answer failures with one body.

Every failure leaves as JSON in one envelope::

    {"success": false, "message": str, "code": str, "data": null[, "details": {...}]}

- an :class:`~common.errors.EchoError` → its status from
  :func:`common.errors.http_status_of`, its stable ``code``, its ``details`` when it has
  any; ``RateLimited`` adds ``Retry-After``; a 5xx one is logged at warning;
- aiohttp's own ``HTTPException`` of status ≥ 400 (unknown route, wrong method, body too
  large) → the same envelope with ``not_found`` / ``method_not_allowed`` /
  ``payload_too_large`` / ``http_error``, keeping its ``Allow`` header; below 400
  (redirects) it passes untouched;
- anything else is a bug: logged with its traceback, answered 500 ``internal`` with no
  internals in the body.

A service with special cases of its own passes them to :func:`json_errors`: ``reraise``
for errors another middleware owns (the master's "client went away"), ``translate`` for
foreign exceptions that mean a domain error (the master's malformed multipart → 400).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from common.errors import EchoError, RateLimited, http_status_of

__all__ = [
    "ENVELOPE_KEYS",
    "error_body",
    "error_response",
    "json_errors",
    "response_of",
]

log = logging.getLogger(__name__)

# The keys of every error body (``details`` is added only when the error carries some).
ENVELOPE_KEYS = frozenset({"success", "message", "code", "data"})

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
_KEPT_HEADERS = ("Allow",)
_INTERNAL_MESSAGE = "internal error; see the server log"


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "message": message, "code": code, "data": None}
    if details:
        body["details"] = dict(details)
    return body


def error_response(
    status: int, code: str, message: str, details: Mapping[str, Any] | None = None
) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status)


def _of_echo_error(error: EchoError) -> web.Response:
    status = http_status_of(error)
    if status >= 500:
        log.warning("request failed: %s", error.message, extra={"code": error.code})
    response = error_response(status, error.code, error.message, error.details)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def _of_http_exception(exc: web.HTTPException) -> web.Response:
    code = _HTTP_CODES.get(exc.status, "http_error")
    response = error_response(exc.status, code, exc.reason or exc.text or "error")
    for header in _KEPT_HEADERS:
        if header in exc.headers:
            response.headers[header] = exc.headers[header]
    return response


def response_of(exc: Exception) -> web.Response:
    """The JSON answer to ``exc`` (an ``HTTPException`` here has status ≥ 400)."""
    if isinstance(exc, EchoError):
        return _of_echo_error(exc)
    if isinstance(exc, web.HTTPException):
        return _of_http_exception(exc)
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal", _INTERNAL_MESSAGE)


def _never(_request: web.Request, _exc: Exception) -> bool:
    return False


def _nothing(_exc: Exception) -> EchoError | None:
    return None


def json_errors(
    *,
    reraise: Callable[[web.Request, Exception], bool] = _never,
    translate: Callable[[Exception], EchoError | None] = _nothing,
) -> Middleware:
    """A middleware that answers every failure below it in the shared envelope.

    ``reraise(request, exc)`` true: ``exc`` propagates (an outer middleware owns it).
    ``translate(exc)`` returning an ``EchoError``: that error is the answer.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _of_http_exception(exc)
        except Exception as exc:
            if reraise(request, exc):
                raise
            return response_of(translate(exc) or exc)

    return middleware

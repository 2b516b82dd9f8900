"""The UI's one session middleware: cookie -> the API's bearer token, CSRF, headers.

Runs between the JSON error edge and the REST auth gate, for ``/ui/`` pages and for
REST calls a UI page makes with its cookie (the uploader's chunk sessions, downloads):

- every state-changing request (not GET/HEAD/OPTIONS) that carries a session cookie or
  targets ``/ui/`` must present the page's CSRF token (form field ``csrf_token`` or
  header ``X-CSRF-Token``), checked here and nowhere else (``WebSessions.check_csrf``);
- the session cookie's JWT becomes ``Authorization: Bearer`` unless the request brought
  its own, so ``auth_gate`` authenticates a browser exactly as it does an API client;
- ``/ui/`` answers carry a strict Content-Security-Policy (scripts and styles from this
  origin only, no inline script, no framing) and errors there become HTML pages; an
  unauthenticated page view is sent to the login page.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
from aiohttp import web

from common.errors import EchoError, Unauthenticated, http_status_of
from master.services.web_sessions import CSRF_COOKIE, SESSION_COOKIE, WebSessions
from master.ui.context import FORM, NEW_NONCE, services_of

__all__ = ["CSP", "session_middleware"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
_SAFE = {"GET", "HEAD", "OPTIONS"}
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
MAX_FORM_BYTES = 64 * 1024


def _is_ui(request: web.Request) -> bool:
    return request.path == "/ui" or request.path.startswith("/ui/")


async def _check_csrf(request: web.Request, sessions: WebSessions, ui: bool) -> None:
    presented = request.headers.get("X-CSRF-Token")
    if ui and presented is None and request.content_type in _FORM_TYPES:
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES,
                                                actual_size=request.content_length)
        form = await request.post()
        request[FORM] = form
        token = form.get("csrf_token")
        presented = token if isinstance(token, str) else None
    sessions.check_csrf(request.cookies.get(CSRF_COOKIE), presented)


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    ui = _is_ui(request)
    session_jwt = request.cookies.get(SESSION_COOKIE, "")
    uses_cookie = bool(session_jwt) and "Authorization" not in request.headers
    if not ui and not uses_cookie:
        return await handler(request)
    sessions = services_of(request).web_sessions
    if uses_cookie:  # before the body is read: a request cannot be cloned after that
        headers = request.headers.copy()
        headers["Authorization"] = f"Bearer {session_jwt}"
        request = request.clone(headers=headers)
    try:
        if request.method not in _SAFE:
            await _check_csrf(request, sessions, ui)
        if ui and FORM not in request and request.method not in _SAFE:
            request[FORM] = await request.post()
        if ui and not request.cookies.get(CSRF_COOKIE):
            request[NEW_NONCE] = sessions.new_nonce()
        response = await handler(request)
    except EchoError as exc:
        if not ui:
            raise
        response = _error_page(request, exc)
    except web.HTTPException as exc:
        if not ui:
            raise
        if exc.status < 400:  # a redirect: it still gets the headers and new cookies
            _secure(request, exc, sessions)
            raise
        response = _error_page(request, EchoError(exc.reason), exc.status)
    if ui:
        _secure(request, response, sessions)
    return response


def _error_page(request: web.Request, exc: EchoError, status: int | None = None
                ) -> web.StreamResponse:
    if isinstance(exc, Unauthenticated) and request.method in _SAFE:
        target = request.path_qs if request.path not in ("/ui", "/ui/") else "/ui/buckets"
        raise web.HTTPSeeOther(f"/ui/login?next={quote(target, safe='')}")
    code = status or http_status_of(exc)
    log.info("ui page %s failed: %s", request.path, exc.code)
    return aiohttp_jinja2.render_template(
        "error.html", request,
        {"message": exc.message, "code": exc.code, "status": code, "back": _back_link(request)},
        status=code)


def _back_link(request: web.Request) -> str:
    """Where the error page's link leads: the page of ours the user came from (same host,
    under /ui/, not the failed address itself), else the buckets."""
    came_from = urlsplit(request.headers.get("Referer", ""))
    if (came_from.netloc == request.host and came_from.path.startswith("/ui/")
            and came_from.path != request.path):
        return came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return "/ui/buckets"


def _secure(request: web.Request, response: web.StreamResponse, sessions: WebSessions
            ) -> None:
    if response.prepared:  # a live stream: headers went out with ``prepare``
        return
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/ui/static/"):
        response.headers["Cache-Control"] = "no-store"
    nonce = request.get(NEW_NONCE)
    if nonce:
        response.set_cookie(CSRF_COOKIE, nonce, **sessions.policy.attributes(None))  # type: ignore[arg-type]

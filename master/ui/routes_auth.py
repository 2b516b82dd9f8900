"""Login, register, logout: the session cookie holds the API's own JWT."""

from __future__ import annotations

from aiohttp import web
from aiohttp_jinja2 import render_template

from common.errors import EchoError
from master.services.web_sessions import CSRF_COOKIE, SESSION_COOKIE
from master.ui.context import NEW_NONCE, field, services_of

__all__ = ["routes"]

routes = web.RouteTableDef()


def _next_page(raw: str) -> str:
    """Only a path on this site (never ``//host`` or a scheme): no open redirect."""
    if raw.startswith("/ui/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/ui/buckets"


@routes.get("/ui")
@routes.get("/ui/")
async def root(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/ui/buckets")


@routes.get("/ui/login")
async def login_page(request: web.Request) -> web.Response:
    return render_template("login.html", request, {
        "next": _next_page(request.query.get("next", "")), "error": "", "username": ""})


@routes.post("/ui/login")
async def login(request: web.Request) -> web.Response:
    services = services_of(request)
    username, next_page = field(request, "username", max_len=64), _next_page(field(request, "next"))
    try:
        token, ttl_s, _user = await services.auth.login(
            username, field(request, "password", max_len=1024), request.remote or "")
    except EchoError as exc:
        return render_template("login.html", request, {
            "next": next_page, "error": exc.message, "username": username},
            status=429 if exc.code == "rate_limited" else 401)
    response = web.HTTPSeeOther(next_page)
    _start_session(request, response, token, ttl_s)
    raise response


def _start_session(request: web.Request, response: web.StreamResponse, token: str,
                   ttl_s: int) -> None:
    sessions = services_of(request).web_sessions
    response.set_cookie(SESSION_COOKIE, token, **sessions.policy.attributes(ttl_s))  # type: ignore[arg-type]
    # A fresh CSRF nonce at login: one planted before it is worthless afterwards.
    request[NEW_NONCE] = sessions.new_nonce()


@routes.get("/ui/register")
async def register_page(request: web.Request) -> web.Response:
    return render_template("register.html", request, {"error": "", "username": ""})


@routes.post("/ui/register")
async def register(request: web.Request) -> web.Response:
    services = services_of(request)
    username = field(request, "username", max_len=64)
    password = field(request, "password", max_len=1024)
    try:
        if password != field(request, "password2", max_len=1024):
            return render_template("register.html", request, {
                "error": "the two passwords differ", "username": username}, status=400)
        await services.auth.register(username, password)
        token, ttl_s, _user = await services.auth.login(username, password,
                                                       request.remote or "")
    except EchoError as exc:
        return render_template("register.html", request, {
            "error": exc.message, "username": username}, status=400)
    response = web.HTTPSeeOther("/ui/buckets")
    _start_session(request, response, token, ttl_s)
    raise response


@routes.post("/ui/logout")
async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/ui/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    raise response

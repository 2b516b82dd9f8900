"""POST /api/v1/auth/register, POST /api/v1/auth/login, GET /api/v1/auth/profile."""

from __future__ import annotations

from aiohttp import web

from master.api.common import ok, principal_of, read_json_object, require_str, services_of

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/api/v1/auth/register")
async def register(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    user = await services_of(request).auth.register(
        require_str(body, "username"), require_str(body, "password")
    )
    return ok({"user_id": user.id, "username": user.username, "is_admin": user.is_admin,
               "home_bucket": user.home_bucket}, "registered", status=201)


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    token, ttl_s, user = await services_of(request).auth.login(
        require_str(body, "username"), require_str(body, "password"), request.remote or ""
    )
    return ok({"token": token, "token_type": "Bearer", "expires_in": ttl_s,
               "user_id": user.id, "username": user.username,
               "home_bucket": user.home_bucket})


@routes.get("/api/v1/auth/profile")
async def profile(request: web.Request) -> web.Response:
    principal = principal_of(request)
    usage = await services_of(request).quotas.of_user(principal)
    return ok({"user_id": principal.user_id, "username": principal.username,
               "is_admin": principal.is_admin, "home_bucket": principal.home_bucket,
               "usage": {"used_bytes": usage.used_bytes, "files": usage.files,
                         "quota_bytes": usage.quota_bytes, "quota_files": usage.quota_files}})

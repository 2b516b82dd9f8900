"""API keys (``/api/v1/keys``, DESIGN §12): create (the secret and token are in this one
answer only), list (never a secret), revoke."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from common.errors import InvalidInput
from master.api.common import ok, principal_of, read_json_object, services_of
from master.domain.access import ApiKeyRecord

__all__ = ["routes"]

routes = web.RouteTableDef()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _key_json(key: ApiKeyRecord, now: datetime) -> dict[str, Any]:
    return {"key_id": key.key_id, "name": key.name, "permission": key.scope,
            "buckets": list(key.bucket_names) if key.bucket_names is not None else None,
            "created_at": _iso(key.created_at), "expires_at": _iso(key.expires_at),
            "revoked_at": _iso(key.revoked_at), "state": key.state(now)}


@routes.post("/api/v1/keys")
async def create_key(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    unknown = set(body) - {"name", "permission", "buckets", "expires_in_s"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    made = await services_of(request).api_keys.create(
        principal_of(request), body.get("name"), body.get("permission"), body.get("buckets"),
        body.get("expires_in_s"))
    return ok({**_key_json(made.record, datetime.now(UTC)), "secret": made.secret,
               "token": made.token},
              "key created; its secret and token are shown this once", status=201)


@routes.get("/api/v1/keys")
async def list_keys(request: web.Request) -> web.Response:
    keys = await services_of(request).api_keys.of_caller(principal_of(request))
    now = datetime.now(UTC)
    return ok({"keys": [_key_json(k, now) for k in keys]})


@routes.delete("/api/v1/keys/{key_id}")
async def revoke_key(request: web.Request) -> web.Response:
    key = await services_of(request).api_keys.revoke(principal_of(request),
                                                     request.match_info["key_id"])
    return ok(_key_json(key, datetime.now(UTC)), "key revoked")

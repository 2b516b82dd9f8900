"""Groups (``/api/v1/groups``) and bucket shares (``/api/v1/buckets/{bucket}/shares``),
DESIGN §12: parse, call one service method, render. Who may do what is decided in
``services/groups.py`` and ``services/shares.py`` (through ``BucketAccess``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.errors import InvalidInput
from master.api.common import ok, principal_of, query_text, read_json_object, services_of
from master.domain.access import GroupRecord, ShareRecord
from master.services.shares import grantee_of_body, parse_grantee

__all__ = ["routes"]

routes = web.RouteTableDef()


def _group_json(group: GroupRecord, members: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"name": group.name, "created_by": group.created_by_name or None,
                            "created_at": group.created_at.isoformat(),
                            "usage": {"used_bytes": group.used_bytes, "files": group.files,
                                      "quota_bytes": group.quota_bytes,
                                      "quota_files": group.quota_files}}
    if members:
        body["members"] = list(group.members)
    return body


def _share_json(share: ShareRecord) -> dict[str, Any]:
    return {share.kind: share.name, "permission": share.permission,
            "granted_by": share.granted_by_name or None,
            "created_at": share.created_at.isoformat(),
            "updated_at": share.updated_at.isoformat()}


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")


@routes.get("/api/v1/groups")
async def list_groups(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        raise InvalidInput("limit must be an integer") from None
    groups = await services_of(request).groups.visible(
        principal_of(request), query_text(request, "after", max_len=64), limit)
    return ok({"groups": [_group_json(g) for g in groups],
               "next_after": groups[-1].name if len(groups) == limit else None})


@routes.post("/api/v1/groups")
async def create_group(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, {"name"})
    group = await services_of(request).groups.create(principal_of(request), body.get("name"))
    return ok(_group_json(group), "group created", status=201)


@routes.put("/api/v1/groups/{group}/members/{username}")
async def add_member(request: web.Request) -> web.Response:
    group, username = request.match_info["group"], request.match_info["username"]
    added = await services_of(request).groups.add_member(principal_of(request), group,
                                                          username)
    return ok({"group": group, "username": username, "added": added},
              "member added" if added else "already a member")


@routes.delete("/api/v1/groups/{group}/members/{username}")
async def remove_member(request: web.Request) -> web.Response:
    group, username = request.match_info["group"], request.match_info["username"]
    await services_of(request).groups.remove_member(principal_of(request), group, username)
    return ok({"group": group, "username": username}, "member removed")


@routes.put("/api/v1/buckets/{bucket}/shares")
async def put_share(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    _only(body, {"user", "group", "permission"})
    share, created = await services_of(request).shares.put(
        principal_of(request), request.match_info["bucket"], grantee_of_body(body),
        body.get("permission"))
    return ok({"bucket": request.match_info["bucket"], **_share_json(share)},
              "shared" if created else "share updated")


@routes.get("/api/v1/buckets/{bucket}/shares")
async def list_shares(request: web.Request) -> web.Response:
    bucket = request.match_info["bucket"]
    shares = await services_of(request).shares.of_bucket(principal_of(request), bucket)
    return ok({"bucket": bucket, "shares": [_share_json(s) for s in shares]})


@routes.delete("/api/v1/buckets/{bucket}/shares/{grantee}")
async def delete_share(request: web.Request) -> web.Response:
    bucket = request.match_info["bucket"]
    grantee = parse_grantee(request.match_info["grantee"])
    await services_of(request).shares.delete(principal_of(request), bucket, grantee)
    return ok({"bucket": bucket, grantee.kind: grantee.name}, "share removed")

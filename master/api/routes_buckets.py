"""Buckets (``/api/v1/buckets``), tasks (``/api/v1/tasks``) and namespace operations
(``/api/v1/ops/move|copy|restore``): parse, call one service method, render."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from common.errors import InvalidInput, NotFound
from master.api.common import (
    ok,
    principal_of,
    query_text,
    read_json_object,
    require_str,
    services_of,
)
from master.api.routes_fs import etag_of, flag
from master.domain.records import TaskRecord
from master.services.buckets import BucketView, parse_settings
from master.services.paths import normalize_path, split_bucket_path

__all__ = ["routes"]

routes = web.RouteTableDef()


def _bucket_json(view: BucketView) -> dict[str, Any]:
    b = view.bucket
    return {
        "name": b.name, "owner_id": b.owner_id, "home": b.home_of is not None,
        "permission": view.permission,
        "versioning": b.versioning, "keep_versions": b.keep_versions,
        "keep_days": b.keep_days, "quota_bytes": b.quota_bytes, "quota_files": b.quota_files,
        "used_bytes": b.used_bytes, "files": b.files, "group": b.group_name,
        "state": b.state,
        "created_at": b.created_at.isoformat(),
    }


def _task_json(task: TaskRecord) -> dict[str, Any]:
    return {"task_id": str(task.id), "kind": task.kind, "state": task.state,
            "done": min(task.done, task.total) if task.state != "done" else task.done,
            "total": max(task.total, task.done) if task.state == "done" else task.total,
            "error": task.error}


@routes.get("/api/v1/buckets")
async def list_buckets(request: web.Request) -> web.Response:
    caller = principal_of(request)
    try:
        limit = int(request.query.get("limit", "1000"))
    except ValueError:
        raise InvalidInput("limit must be an integer") from None
    after = query_text(request, "after", max_len=63)
    found = await services_of(request).buckets.list(caller, after, limit)
    return ok({"buckets": [_bucket_json(v) for v in found],
               "next_after": found[-1].bucket.name if len(found) == limit else None})


@routes.post("/api/v1/buckets")
async def create_bucket(request: web.Request) -> web.Response:
    caller = principal_of(request)
    body = await read_json_object(request)
    unknown = set(body) - {"name", "versioning", "keep_versions", "keep_days", "quota_bytes",
                           "quota_files", "group"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    bucket = await services_of(request).buckets.create(
        caller, require_str(body, "name"), parse_settings(body))
    return ok(_bucket_json(bucket), "bucket created", status=201)


@routes.get("/api/v1/buckets/{bucket}")
async def get_bucket(request: web.Request) -> web.Response:
    bucket = await services_of(request).buckets.get(principal_of(request),
                                                    request.match_info["bucket"])
    return ok(_bucket_json(bucket))


@routes.patch("/api/v1/buckets/{bucket}")
async def update_bucket(request: web.Request) -> web.Response:
    caller = principal_of(request)
    body = await read_json_object(request)
    settings = parse_settings(body)
    if set(body) - set(settings):
        extra = ", ".join(sorted(set(body) - set(settings)))
        raise InvalidInput(f"unknown or fixed fields: {extra}")
    bucket = await services_of(request).buckets.update(
        caller, request.match_info["bucket"], settings)
    return ok(_bucket_json(bucket), "updated")


@routes.delete("/api/v1/buckets/{bucket}")
async def delete_bucket(request: web.Request) -> web.Response:
    name = request.match_info["bucket"]
    task = await services_of(request).buckets.delete(
        principal_of(request), name, flag(request, "recursive"))
    if task is None:
        return ok({"name": name}, "bucket deleted")
    return ok({"task_id": str(task.id), "total": task.total}, "deleting", status=202)


@routes.get("/api/v1/tasks/{task_id}")
async def get_task(request: web.Request) -> web.Response:
    raw = request.match_info["task_id"]
    try:
        task_id = uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no task {raw[:64]!r}") from None
    task = await services_of(request).namespace.task(principal_of(request), task_id)
    return ok(_task_json(task))


def _target_condition(request: web.Request) -> tuple[str | None, bool]:
    """If-Match / If-None-Match: * on a move or copy, about its target (412 if unmet)."""
    none_match = request.headers.get("If-None-Match")
    if none_match is not None and none_match.strip() != "*":
        raise InvalidInput("If-None-Match takes only '*' (the target must not exist)")
    return etag_of(request.headers.get("If-Match")), none_match is not None


def _overwrite(body: dict[str, Any]) -> bool:
    value = body.get("overwrite", False)
    if not isinstance(value, bool):
        raise InvalidInput("overwrite must be true or false")
    return value


@routes.post("/api/v1/ops/move")
async def move(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    src = split_bucket_path(require_str(body, "from"))
    dst = split_bucket_path(require_str(body, "to"))
    moved = await services_of(request).namespace.move(
        principal_of(request), src, dst, _overwrite(body), _target_condition(request))
    return ok({"from": "/".join(src), "to": "/".join(dst), "files": moved}, "moved")


@routes.post("/api/v1/ops/copy")
async def copy(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    src = split_bucket_path(require_str(body, "from"))
    dst = split_bucket_path(require_str(body, "to"))
    copied = await services_of(request).namespace.copy(
        principal_of(request), src, dst, _overwrite(body), _target_condition(request))
    return ok({"from": "/".join(src), "to": "/".join(dst), "files": copied}, "copied",
              status=201)


@routes.post("/api/v1/ops/restore")
async def restore(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    bucket, path = split_bucket_path(require_str(body, "path"))
    path = normalize_path(path)
    try:
        version_id = uuid.UUID(require_str(body, "version_id"))
    except ValueError:
        raise NotFound("no such version") from None
    new_version = await services_of(request).namespace.restore(
        principal_of(request), bucket, path, version_id)
    return ok({"bucket": bucket, "path": path, "version_id": str(new_version)}, "restored",
              status=201)

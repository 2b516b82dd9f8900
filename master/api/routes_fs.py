"""``/api/v1/fs/{bucket}/{path}``: files and directories by path (DESIGN §11).

The URL is parsed once, still percent-encoded (``parse_fs_url``): the first segment is
the bucket, a trailing slash addresses a directory, ``%2F`` inside a segment and
doubled slashes are refused (``bad_path``), never silently re-split.

- ``PUT`` file: upload (``If-Match`` / ``If-None-Match: *`` -> 412, nothing stored; over a
  quota -> 507 ``quota_exceeded``, before the body is read when ``Content-Length`` says so)
- ``GET``/``HEAD`` file: download / stat; ``?version_id=``; ``?versions=true`` lists them
- ``GET`` dir/: listing; ``POST`` dir/: mkdir; ``DELETE`` dir/: empty dir, or
  ``?recursive=true`` -> 202 ``{task_id}``; ``DELETE`` file: delete (marker if versioned)
"""

from __future__ import annotations

import uuid

from aiohttp import web

from common.errors import BadPath, InvalidInput, NotFound
from master.api.common import ok, principal_of, query_text, services_of
from master.api.file_responses import send_file
from master.api.request_needs import parse_write_needs
from master.api.routes_files import check_declared_length, parse_hint
from master.services.files import FileSnapshot
from master.services.namespace import ListingQuery, decode_cursor
from master.services.paths import FsTarget, parse_fs_url

__all__ = ["etag_of", "flag", "routes"]

routes = web.RouteTableDef()
_ROUTE = r"/api/v1/fs/{bucket}/{path:[\s\S]*}"  # any path, newlines too


def _target(request: web.Request) -> FsTarget:
    return parse_fs_url(request.rel_url.raw_path)


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: true/1/yes or false/0/no (absent: false)."""
    raw = request.query.get(name, "false").strip().lower()
    if raw in {"true", "1", "yes"}:
        return True
    if raw in {"false", "0", "no", ""}:
        return False
    raise InvalidInput(f"query parameter {name!r} must be true or false")


def _int_query(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"query parameter {name!r} must be an integer") from None


def etag_of(raw: str | None) -> str | None:
    """The etag an If-Match header names (quotes and a weak W/ prefix dropped)."""
    if raw is None:
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


@routes.put(_ROUTE)
async def put_file(request: web.Request) -> web.Response:
    services = services_of(request)
    target = _target(request)
    if target.is_dir:
        raise BadPath("a file path cannot end in '/'; create directories with POST …/{dir}/")
    check_declared_length(request, services.settings.max_upload_bytes)
    hint = parse_hint(query_text(request, "consistency") or request.headers.get("X-Consistency"))
    none_match = request.headers.get("If-None-Match")
    if none_match is not None and none_match.strip() != "*":
        raise InvalidInput("on PUT, If-None-Match takes only '*' (create, never replace)")
    needs = parse_write_needs(request, services.settings.replication_factor)
    # A declared size that is sure to exceed a quota is refused before the body is read.
    await services.quotas.refuse_doomed_upload(principal_of(request), target.bucket,
                                               target.path, request.content_length)
    receipt = await services.uploads.upload(
        principal_of(request), target.bucket, target.path, hint, request.content.read,
        if_match=etag_of(request.headers.get("If-Match")), if_none_match=none_match is not None,
        needs=needs,
    )
    return ok(receipt.to_json(), "uploaded", status=201)


@routes.get(_ROUTE)
async def get_path(request: web.Request) -> web.StreamResponse:
    services, caller = services_of(request), principal_of(request)
    target = _target(request)
    if target.is_dir:
        if request.method == "HEAD":
            raise InvalidInput("HEAD addresses files; list a directory with GET")
        listing = await services.namespace.list_dir(caller, target.bucket, ListingQuery(
            directory=target.path, recursive=flag(request, "recursive"),
            max_depth=_int_query(request, "max_depth", None),
            limit=_int_query(request, "limit", 1000) or 0,
            after=decode_cursor(query_text(request, "cursor", max_len=4096)),
        ))
        return ok({
            "bucket": target.bucket, "path": target.path,
            "entries": [{"name": e.name, "type": e.type, "size": e.size, "etag": e.etag,
                         "modified": e.modified.isoformat()} for e in listing.entries],
            "next_cursor": listing.next_cursor,
        })
    if flag(request, "versions"):
        versions = await services.namespace.versions(caller, target.bucket, target.path)
        return ok({"versions": [
            {"version_id": str(v.version_id), "size": v.size, "etag": v.etag or None,
             "modified": v.modified.isoformat(), "current": v.current, "deleted": v.deleted}
            for v in versions]})
    version_id = _version_id(query_text(request, "version_id"))
    snapshot = await services.files.snapshot_by_path(caller, target.bucket, target.path,
                                                     version_id)
    if request.method == "HEAD":
        return await send_file(request, FileSnapshot(snapshot.record, []))
    return await send_file(request, snapshot)


def _version_id(raw: str) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no version {raw[:64]!r}") from None


@routes.post(_ROUTE)
async def make_directory(request: web.Request) -> web.Response:
    target = _target(request)
    if not target.is_dir:
        raise BadPath("POST creates a directory: end the path in '/'")
    created = await services_of(request).namespace.mkdir(
        principal_of(request), target.bucket, target.path)
    return ok({"bucket": target.bucket, "path": target.path, "created": created},
              "directory created" if created else "directory exists",
              status=201 if created else 200)


@routes.delete(_ROUTE)
async def delete_path(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    target = _target(request)
    if target.is_dir:
        if flag(request, "recursive"):
            task = await services.namespace.delete_tree(caller, target.bucket, target.path)
            return ok({"task_id": str(task.id), "total": task.total}, "deleting", status=202)
        await services.namespace.delete_empty_dir(caller, target.bucket, target.path)
        return ok({"bucket": target.bucket, "path": target.path}, "deleted")
    record = await services.files.delete_by_path(caller, target.bucket, target.path)
    return ok({"file_id": str(record.id), "bucket": record.bucket, "path": record.path},
              "deleted")

"""Buckets and the file browser: listing, folders, move/copy/delete, versions, shares.

Every handler parses, calls one or two services and renders; permissions are the
services' own checks (``BucketAccess``), exactly as for the REST API. A state change
answers a redirect (post/redirect/get), so reloading never repeats it.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp_jinja2 import render_template

from common.errors import InvalidInput, NotFound
from master.services.access import Permission
from master.services.buckets import parse_settings
from master.services.namespace import ListingQuery, decode_cursor
from master.services.paths import normalize_dir, normalize_path, split_bucket_path
from master.services.shares import Grantee
from master.ui.context import field, principal_of, services_of

__all__ = ["PAGE_SIZE", "routes"]

routes = web.RouteTableDef()

PAGE_SIZE = 50
_SORTS = {"name", "size", "modified"}


def dir_url(bucket: str, directory: str) -> str:
    tail = quote(directory, safe="/") + "/" if directory else ""
    return f"/ui/b/{quote(bucket)}/{tail}"


def file_url(bucket: str, path: str) -> str:
    return f"/ui/f/{quote(bucket)}/{quote(path, safe='/')}"


def _crumbs(bucket: str, directory: str) -> list[tuple[str, str]]:
    crumbs = [(bucket, dir_url(bucket, ""))]
    parts = directory.split("/") if directory else []
    for depth, part in enumerate(parts, 1):
        crumbs.append((part, dir_url(bucket, "/".join(parts[:depth]))))
    return crumbs


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


@routes.get("/ui/buckets")
async def buckets_page(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    buckets = await services.buckets.list(caller, "", 1000)
    usage = await services.quotas.of_user(caller)
    return render_template("buckets.html", request, {
        "buckets": buckets, "usage": usage, "dir_url": dir_url})


@routes.post("/ui/buckets")
async def create_bucket(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    name = field(request, "name", max_len=63)
    settings = parse_settings({"versioning": field(request, "versioning") == "on"})
    await services.buckets.create(caller, name, settings)
    raise web.HTTPSeeOther(dir_url(name, ""))


@routes.get("/ui/b/{bucket}/{path:.*}")
async def browse(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket = request.match_info["bucket"]
    directory = normalize_dir(request.match_info["path"]) if request.match_info["path"] else ""
    sort = request.query.get("sort", "name")
    sort = sort if sort in _SORTS else "name"
    descending = request.query.get("order") == "desc"
    cursor = request.query.get("cursor", "")[:512]
    listing = await services.namespace.list_dir(caller, bucket, ListingQuery(
        directory=directory, limit=PAGE_SIZE, after=decode_cursor(cursor)))
    entries = sorted(listing.entries, key=lambda e: _sort_key(e, sort), reverse=descending)
    if sort == "name" or not descending:
        entries.sort(key=lambda e: e.type != "dir")  # folders first (stable)
    view = await services.buckets.get(caller, bucket)
    shares = (await services.shares.of_bucket(caller, bucket)
              if view.permission == "owner" else [])
    held = Permission.of_label(view.permission)

    def sort_link(column: str) -> str:
        order = "desc" if column == sort and not descending else "asc"
        return "?" + urlencode({"sort": column, "order": order})

    next_url = ("?" + urlencode({"sort": sort, "order": "desc" if descending else "asc",
                                 "cursor": listing.next_cursor})
                if listing.next_cursor else "")
    return render_template("browse.html", request, {
        "bucket": view.bucket, "permission": view.permission, "directory": directory,
        "crumbs": _crumbs(bucket, directory), "entries": entries, "sort": sort,
        "descending": descending, "sort_link": sort_link, "next_url": next_url,
        "first_url": "?" + urlencode({"sort": sort, "order": "desc" if descending else "asc"})
        if cursor else "",
        "shares": shares, "can_write": held >= Permission.WRITE,
        "can_delete": held >= Permission.DELETE, "dir_url": dir_url, "file_url": file_url,
        "join": lambda name: f"{directory}/{name}" if directory else name,
    })


def _sort_key(entry: Any, sort: str) -> Any:
    if sort == "size":
        return entry.size or 0
    if sort == "modified":
        return entry.modified
    return entry.name


@routes.get("/ui/f/{bucket}/{path:.+}")
async def file_page(request: web.Request) -> web.Response:
    return await _render_file(request, request.match_info["bucket"],
                              normalize_path(request.match_info["path"]))


async def _render_file(request: web.Request, bucket: str, path: str,
                       link: dict[str, Any] | None = None) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    versions = await services.namespace.versions(caller, bucket, path)
    view = await services.buckets.get(caller, bucket)
    held = Permission.of_label(view.permission)
    directory = _parent(path)
    return render_template("file.html", request, {
        "bucket": bucket, "path": path, "name": path.rsplit("/", 1)[-1],
        "crumbs": _crumbs(bucket, directory), "versions": versions, "link": link,
        "download_url": f"/api/v1/fs/{quote(bucket)}/{quote(path, safe='/')}",
        "can_write": held >= Permission.WRITE, "can_delete": held >= Permission.DELETE,
        "dir_url": dir_url(bucket, directory), "permission": view.permission,
    })


@routes.post("/ui/mkdir")
async def mkdir(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, directory = field(request, "bucket"), field(request, "dir")
    name = field(request, "name", max_len=1024)
    if not name or "/" in name:
        raise InvalidInput("a folder name is one path segment (no '/')")
    path = normalize_dir(f"{directory}/{name}" if directory else name)
    await services.namespace.mkdir(caller, bucket, path)
    raise web.HTTPSeeOther(dir_url(bucket, path))


def _target(request: web.Request) -> tuple[str, str]:
    """The ``to`` field: "bucket/path", or a bare name meaning "beside the source"."""
    raw, bucket, path = field(request, "to"), field(request, "bucket"), field(request, "path")
    if not raw:
        raise InvalidInput("say where to: a new name or bucket/path")
    if "/" not in raw:
        parent = _parent(path)
        return bucket, normalize_path(f"{parent}/{raw}" if parent else raw)
    return split_bucket_path(raw)


@routes.post("/ui/ops/move")
async def move(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    src = (field(request, "bucket"), normalize_path(field(request, "path")))
    dst = _target(request)
    await services.namespace.move(caller, src, dst, overwrite=False)
    raise web.HTTPSeeOther(_landing(request, dst))


@routes.post("/ui/ops/copy")
async def copy(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    src = (field(request, "bucket"), normalize_path(field(request, "path")))
    dst = _target(request)
    await services.namespace.copy(caller, src, dst, overwrite=False)
    raise web.HTTPSeeOther(_landing(request, dst))


def _landing(request: web.Request, dst: tuple[str, str]) -> str:
    if field(request, "kind") == "dir":
        return dir_url(dst[0], dst[1])
    return file_url(*dst)


@routes.post("/ui/ops/delete")
async def delete(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, path = field(request, "bucket"), normalize_path(field(request, "path"))
    back = dir_url(bucket, _parent(path))
    if field(request, "kind") == "dir":
        task = await services.namespace.delete_tree(caller, bucket, path)
        raise web.HTTPSeeOther(f"/ui/tasks/{task.id}?" + urlencode({"back": back}))
    await services.files.delete_by_path(caller, bucket, path)
    raise web.HTTPSeeOther(back)


@routes.get("/ui/tasks/{task_id}")
async def task_page(request: web.Request) -> web.Response:
    try:
        task_id = uuid.UUID(request.match_info["task_id"])
    except ValueError:
        raise NotFound("no such task") from None
    task = await services_of(request).namespace.task(principal_of(request), task_id)
    back = request.query.get("back", "/ui/buckets")
    back = back if back.startswith("/ui/") and not back.startswith("//") else "/ui/buckets"
    template = "_task.html" if request.headers.get("HX-Request") else "task.html"
    return render_template(template, request, {"task": task, "back": back,
                                               "self_url": request.path_qs})


@routes.post("/ui/ops/restore")
async def restore(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, path = field(request, "bucket"), normalize_path(field(request, "path"))
    try:
        version_id = uuid.UUID(field(request, "version_id"))
    except ValueError:
        raise InvalidInput("version_id must be a version's id") from None
    await services.namespace.restore(caller, bucket, path, version_id)
    raise web.HTTPSeeOther(file_url(bucket, path))


@routes.post("/ui/links")
async def create_link(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, path = field(request, "bucket"), normalize_path(field(request, "path"))
    body: dict[str, Any] = {"path": f"{bucket}/{path}",
                            "expires_in_s": _int_field(request, "expires_in_s", 3600)}
    max_uses = _int_field(request, "max_uses", 0)
    if max_uses:
        body["max_uses"] = max_uses
    created = await services.links.create(caller, body, request.remote or "")
    link = {"url": f"{request.scheme}://{request.host}{created.url}",
            "expires_at": created.link.expires_at, "max_uses": created.link.max_uses}
    return await _render_file(request, bucket, path, link)


@routes.get("/ui/links")
async def links_page(request: web.Request) -> web.Response:
    """The caller's links, newest first, with their uses and state; revocable."""
    page = await services_of(request).links.list_links(principal_of(request), limit=200)
    return render_template("links.html", request, {"links": page.links,
                                                   "file_url": file_url})


@routes.post("/ui/links/revoke")
async def revoke_link(request: web.Request) -> web.Response:
    await services_of(request).links.revoke(principal_of(request), field(request, "link_id"),
                                            request.remote or "")
    raise web.HTTPSeeOther("/ui/links")


def _int_field(request: web.Request, name: str, default: int) -> int:
    raw = field(request, name)
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12:
        raise InvalidInput(f"{name} must be a whole number")
    return int(raw)


@routes.post("/ui/shares")
async def put_share(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, kind = field(request, "bucket"), field(request, "kind")
    if kind not in ("user", "group"):
        raise InvalidInput("share with a user or a group")
    await services.shares.put(caller, bucket, Grantee(kind, field(request, "name")),
                              field(request, "permission"))
    raise web.HTTPSeeOther(dir_url(bucket, field(request, "dir")) + "#shares")


@routes.post("/ui/shares/delete")
async def delete_share(request: web.Request) -> web.Response:
    services, caller = services_of(request), principal_of(request)
    bucket, kind = field(request, "bucket"), field(request, "kind")
    await services.shares.delete(caller, bucket, Grantee(kind, field(request, "name")))
    raise web.HTTPSeeOther(dir_url(bucket, field(request, "dir")) + "#shares")

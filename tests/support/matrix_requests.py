"""How the permission matrix (tests/integration/test_permission_matrix.py) builds each
route's request for one caller: a path and the request's keyword arguments, after any
setup the owner does first (a file to delete, a session to use, a key to revoke), and
the cleanup of what a cell leaves open (upload sessions count against a user's limit).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tests.support.access_world import Cell, World

__all__ = [
    "TUS",
    "Build",
    "Cleanup",
    "Request",
    "abort_session",
    "at",
    "b_copy",
    "b_delete_by_id",
    "b_delete_file",
    "b_delete_tree",
    "b_doomed_bucket",
    "b_group_quota",
    "b_link_download",
    "b_login",
    "b_mkdir",
    "b_move",
    "b_new_bucket",
    "b_new_group",
    "b_new_key",
    "b_new_link",
    "b_new_webhook",
    "b_owners_webhook",
    "b_put_file",
    "b_register",
    "b_remove_member",
    "b_restore",
    "b_revoke_key",
    "b_revoke_link",
    "b_session",
    "b_session_complete",
    "b_session_init",
    "b_session_part",
    "b_share",
    "b_tus",
    "b_tus_create",
    "b_tus_patch",
    "b_unshare",
    "b_user_quota",
    "b_wave1_upload",
    "delete_webhook",
    "fs",
    "multipart",
    "owners_file",
    "owners_session",
    "owners_tus_upload",
    "terminate_tus",
]

Request = tuple[str, dict[str, Any]]  # path, keyword arguments of the request
Build = Callable[[Cell], Awaitable[Request]]
Cleanup = Callable[[World, str], Awaitable[None]]
TUS = {"Tus-Resumable": "1.0.0"}


def at(path: str | Callable[[World], str], **kwargs: Any) -> Build:
    """The same request for every caller (``path`` may depend on the world)."""
    async def build(cell: Cell) -> Request:
        return (path(cell.world) if callable(path) else path), dict(kwargs)
    return build


def fs(path: str) -> Callable[[World], str]:
    return lambda w: f"/api/v1/fs/{w.bucket}/{path}"


async def owners_file(world: World, path: str) -> str:
    status, body = await world.owner.upload_raw(b"data", path, bucket=world.bucket)
    assert status == 201, body
    return str(body["data"]["file_id"])


async def owners_session(world: World) -> str:
    data = await world.as_owner("POST", "/api/v1/files/upload/init", 201, json={
        "bucket": world.bucket, "path": world.unique("mx/ses"), "file_name": "f",
        "file_size": 1})
    return f"/api/v1/files/upload/{data['session_id']}"


async def owners_tus_upload(world: World) -> str:
    async with world.http.post(f"{world.base_url}/api/v1/tus/", headers={
            **world.owner.auth, **TUS, "Upload-Length": "1"}) as response:
        assert response.status == 201, await response.text()
        return "/api/v1/tus/" + response.headers["Location"].rsplit("/", 1)[1]


async def abort_session(world: World, path: str) -> None:
    base = "/".join(path.split("/")[:6])  # /api/v1/files/upload/{session_id}
    async with world.http.delete(f"{world.base_url}{base}", headers=world.owner.auth):
        pass


async def terminate_tus(world: World, path: str) -> None:
    async with world.http.delete(f"{world.base_url}{path}",
                                 headers={**world.owner.auth, **TUS}):
        pass


def multipart(cell: Cell) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("path", cell.world.unique("mx-wave1"))
    form.add_field("file", io.BytesIO(b"x"), filename="f")
    return form


async def b_register(c: Cell) -> Request:
    return "/api/v1/auth/register", {"json": {"username": c.world.unique("reg"),
                                              "password": "pw-123456789"}}


async def b_login(c: Cell) -> Request:
    return "/api/v1/auth/login", {"json": {"username": c.world.usernames["owner"],
                                           "password": "pw-123456789"}}


async def b_new_bucket(c: Cell) -> Request:
    return "/api/v1/buckets", {"json": {"name": c.world.unique("mxn")}}


async def b_doomed_bucket(c: Cell) -> Request:
    name = c.world.unique("mxd")
    await c.world.as_owner("POST", "/api/v1/buckets", 201, json={"name": name})
    await c.world.share_like_the_shared_bucket(name)
    return f"/api/v1/buckets/{name}", {}


async def b_share(c: Cell) -> Request:
    return f"/api/v1/buckets/{c.bucket}/shares", {"json": {"user": c.world.bystander,
                                                           "permission": "ro"}}


async def b_unshare(c: Cell) -> Request:
    await c.world.as_owner("PUT", f"/api/v1/buckets/{c.bucket}/shares", 200,
                           json={"user": c.world.bystander, "permission": "ro"})
    return f"/api/v1/buckets/{c.bucket}/shares/user:{c.world.bystander}", {}


async def b_put_file(c: Cell) -> Request:
    return f"/api/v1/fs/{c.bucket}/{c.world.unique('mx/put')}", {"data": b"x"}


async def b_mkdir(c: Cell) -> Request:
    return f"/api/v1/fs/{c.bucket}/{c.world.unique('mx/dir')}/", {}


async def b_delete_file(c: Cell) -> Request:
    path = c.world.unique("mx/del")
    await owners_file(c.world, path)
    return f"/api/v1/fs/{c.bucket}/{path}", {}


async def b_delete_tree(c: Cell) -> Request:
    tree = c.world.unique("mx/tree")
    await owners_file(c.world, f"{tree}/f")
    return f"/api/v1/fs/{c.bucket}/{tree}/", {"params": {"recursive": "true"}}


async def b_delete_by_id(c: Cell) -> Request:
    return f"/api/v1/files/{await owners_file(c.world, c.world.unique('mx/id'))}", {}


async def b_wave1_upload(c: Cell) -> Request:
    return "/api/v1/files/upload", {"data": multipart(c)}


async def b_session_init(c: Cell) -> Request:
    return "/api/v1/files/upload/init", {"json": {
        "bucket": c.bucket, "path": c.world.unique("mx/init"), "file_name": "f",
        "file_size": 1}}


async def b_session(c: Cell) -> Request:
    return await owners_session(c.world), {}


async def b_session_part(c: Cell) -> Request:
    return f"{await owners_session(c.world)}/chunks/0", {"data": b"x"}


async def b_session_complete(c: Cell) -> Request:
    session = await owners_session(c.world)
    await c.world.as_owner("PUT", f"{session}/chunks/0", 200, data=b"x")
    return f"{session}/complete", {}


async def b_tus_create(c: Cell) -> Request:
    return "/api/v1/tus/", {"headers": {**TUS, "Upload-Length": "1"}}


async def b_tus(c: Cell) -> Request:
    return await owners_tus_upload(c.world), {"headers": dict(TUS)}


async def b_tus_patch(c: Cell) -> Request:
    return await owners_tus_upload(c.world), {"data": b"x", "headers": {
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}}


async def b_move(c: Cell) -> Request:
    source = c.world.unique("mx/mv")
    await owners_file(c.world, source)
    return "/api/v1/ops/move", {"json": {"from": f"{c.bucket}/{source}",
                                         "to": f"{c.bucket}/{source}-moved"}}


async def b_copy(c: Cell) -> Request:
    return "/api/v1/ops/copy", {"json": {"from": f"{c.bucket}/mx/read.txt",
                                         "to": f"{c.bucket}/{c.world.unique('mx/cp')}"}}


async def b_restore(c: Cell) -> Request:
    # Its current version (a restore in an unversioned bucket replaces the one before).
    meta = await c.world.as_owner("GET", f"/api/v1/files/{c.world.restore_file_id}", 200)
    return "/api/v1/ops/restore", {"json": {"path": f"{c.bucket}/mx/restore.txt",
                                            "version_id": meta["version_id"]}}


async def b_new_group(c: Cell) -> Request:
    return "/api/v1/groups", {"json": {"name": c.world.unique("mxg")}}


async def b_remove_member(c: Cell) -> Request:
    path = f"/api/v1/groups/{c.world.managed_group}/members/{c.world.bystander}"
    await c.world.as_owner("PUT", path, 200)
    return path, {}


async def b_new_key(c: Cell) -> Request:
    return "/api/v1/keys", {"json": {"name": "matrix", "permission": "ro"}}


async def b_revoke_key(c: Cell) -> Request:
    key = await c.world.as_owner("POST", "/api/v1/keys", 201,
                                 json={"name": "victim", "permission": "ro"})
    return f"/api/v1/keys/{key['key_id']}", {}


# -- links, quotas, webhooks (issues 17 and 18) ------------------------------------
HOOK_URL = "http://127.0.0.1:9/matrix-hook"  # allowed by the matrix cluster; nobody listens


async def b_new_link(c: Cell) -> Request:
    return "/api/v1/links", {"json": {"path": f"{c.bucket}/mx/read.txt", "expires_in_s": 600}}


async def b_revoke_link(c: Cell) -> Request:
    link = await c.world.as_owner("POST", "/api/v1/links", 201, json={
        "path": f"{c.bucket}/mx/read.txt", "expires_in_s": 600})
    return f"/api/v1/links/{link['link_id']}", {}


async def b_link_download(c: Cell) -> Request:
    """An unlimited link of the owner's: it needs no credential, any caller's is ignored."""
    link = await c.world.as_owner("POST", "/api/v1/links", 201, json={
        "path": f"{c.bucket}/mx/read.txt", "expires_in_s": 600})
    return str(link["url"]), {}


async def b_user_quota(c: Cell) -> Request:
    return f"/api/v1/admin/users/{c.world.bystander}", {"json": {"quota_bytes": None}}


async def b_group_quota(c: Cell) -> Request:
    return f"/api/v1/admin/groups/{c.world.managed_group}", {"json": {"quota_bytes": None}}


async def b_new_webhook(c: Cell) -> Request:
    return "/api/v1/webhooks", {"json": {"url": HOOK_URL, "bucket": c.bucket,
                                         "secret": "matrix-webhook-secret"}}


async def b_owners_webhook(c: Cell) -> Request:
    hook = await c.world.as_owner("POST", "/api/v1/webhooks", 201, json={
        "url": HOOK_URL, "bucket": c.bucket, "secret": "matrix-webhook-secret"})
    return f"/api/v1/webhooks/{hook['webhook_id']}", {}


async def delete_webhook(world: World, path: str) -> None:
    """Whatever a row registered goes again (a webhook on a dead port only backs off)."""
    status, body = await world.logins["admin"].call("GET", "/api/v1/webhooks")
    assert status == 200, body
    for hook in body["data"]["webhooks"]:
        await world.logins["admin"].call("DELETE", f"/api/v1/webhooks/{hook['webhook_id']}")

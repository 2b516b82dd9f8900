"""The cast of the permission matrix (tests/integration/test_permission_matrix.py).

One bucket owner and the ten callers the matrix asks about, on a real cluster:

- ``owner`` owns the shared bucket; ``rwd`` and ``ro`` hold user shares on it; ``rw``
  holds its share through a group; ``none`` holds nothing; ``admin`` is an admin;
- ``key-ro`` / ``key-rw`` are the owner's API keys of those scopes; ``revoked`` is one
  of its keys, revoked; ``expired`` one whose expiry has passed.

``send`` makes one request as one caller and returns only the status, so every route
(JSON, bytes, tus, HEAD) is answered the same way.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.access import admin_client, make_key, new_user
from tests.support.api import ApiClient

__all__ = ["CALLERS", "OWNER_KEYS", "Cell", "World", "build_world"]

CALLERS = ("owner", "rwd", "rw", "ro", "none", "admin", "key-ro", "key-rw", "revoked",
           "expired")
# Callers that are API keys (of the owner): they act as the owner's user.
OWNER_KEYS = ("key-ro", "key-rw", "revoked", "expired")


@dataclass
class World:
    base_url: str
    http: aiohttp.ClientSession
    bucket: str  # the shared bucket
    tokens: dict[str, str]  # caller -> bearer token
    logins: dict[str, ApiClient]  # caller -> its user's login (keys: the owner's)
    usernames: dict[str, str]  # caller -> its user's name
    bystander: str  # a user who is none of the callers (shares and groups act on it)
    share_group: str  # the group through which ``rw`` holds its share
    managed_group: str  # a group the owner manages (membership rows act on it)
    file_id: str = ""  # mx/read.txt in the shared bucket
    restore_file_id: str = ""  # mx/restore.txt in the shared bucket
    task_id: str = ""  # a recursive delete the owner started
    counter: list[int] = field(default_factory=lambda: [0])

    @property
    def owner(self) -> ApiClient:
        return self.logins["owner"]

    def unique(self, what: str) -> str:
        self.counter[0] += 1
        return f"{what}-{self.counter[0]}-{uuid.uuid4().hex[:6]}"

    async def send(self, caller: str, method: str, path: str, **kwargs: Any) -> int:
        headers = {"Authorization": f"Bearer {self.tokens[caller]}",
                   **kwargs.pop("headers", {})}
        async with self.http.request(method, f"{self.base_url}{path}", headers=headers,
                                     **kwargs) as response:
            await response.read()
            return response.status

    async def as_owner(self, method: str, path: str, expect: int, **kwargs: Any
                       ) -> dict[str, Any]:
        """A setup step by the owner's login; its JSON answer's ``data``."""
        status, body = await self.owner.call(method, path, **kwargs)
        assert status == expect, (method, path, status, body)
        return body.get("data") or {}

    async def share_like_the_shared_bucket(self, bucket: str) -> None:
        """Give ``bucket`` the shared bucket's shares (rwd, rw through the group, ro)."""
        for body in ({"user": self.usernames["rwd"], "permission": "rwd"},
                     {"group": self.share_group, "permission": "rw"},
                     {"user": self.usernames["ro"], "permission": "ro"}):
            await self.as_owner("PUT", f"/api/v1/buckets/{bucket}/shares", 200, json=body)


@dataclass
class Cell:
    """One (route, caller) cell: the world and the caller, with a unique tag."""

    world: World
    caller: str
    tag: str

    @property
    def bucket(self) -> str:
        return self.world.bucket


async def build_world(base_url: str, http: aiohttp.ClientSession, admin: str) -> World:
    owner, owner_name = await new_user(base_url, http, "mxo")
    logins: dict[str, ApiClient] = {"owner": owner}
    usernames = {"owner": owner_name}
    for caller in ("rwd", "rw", "ro", "none"):
        logins[caller], usernames[caller] = await new_user(base_url, http, "mx")
    logins["admin"] = await admin_client(base_url, http, admin)
    usernames["admin"] = admin
    _, bystander = await new_user(base_url, http, "mxb")
    bucket = f"mx-{uuid.uuid4().hex[:10]}"
    world = World(base_url, http, bucket, {}, logins, usernames, bystander,
                  share_group=f"mxg-{uuid.uuid4().hex[:8]}",
                  managed_group=f"mxm-{uuid.uuid4().hex[:8]}")
    await world.as_owner("POST", "/api/v1/buckets", 201, json={"name": bucket})
    for group in (world.share_group, world.managed_group):
        await world.as_owner("POST", "/api/v1/groups", 201, json={"name": group})
    await world.as_owner("PUT", f"/api/v1/groups/{world.share_group}/members/"
                                f"{usernames['rw']}", 200)
    await world.share_like_the_shared_bucket(bucket)

    status, body = await owner.upload_raw(b"read me", "mx/read.txt", bucket=bucket)
    assert status == 201, body
    world.file_id = body["data"]["file_id"]
    status, body = await owner.upload_raw(b"restore me", "mx/restore.txt", bucket=bucket)
    assert status == 201, body
    world.restore_file_id = body["data"]["file_id"]
    assert (await owner.upload_raw(b"x", "mx/gone/x.txt", bucket=bucket))[0] == 201
    task = await world.as_owner("DELETE", f"/api/v1/fs/{bucket}/mx/gone/", 202,
                                params={"recursive": "true"})
    world.task_id = task["task_id"]

    tokens = {caller: client.token for caller, client in logins.items()}
    tokens["key-ro"] = (await make_key(owner, permission="ro"))["token"]
    tokens["key-rw"] = (await make_key(owner, permission="rw"))["token"]
    revoked = await make_key(owner, permission="rw")
    await world.as_owner("DELETE", f"/api/v1/keys/{revoked['key_id']}", 200)
    tokens["revoked"] = revoked["token"]
    tokens["expired"] = (await make_key(owner, permission="rw", expires_in_s=1))["token"]
    world.tokens = tokens
    for caller in OWNER_KEYS:
        logins[caller], usernames[caller] = owner, owner_name
    for _ in range(300):  # until its expiry has passed (no wall-clock assertion)
        if await world.send("expired", "GET", "/api/v1/auth/profile") == 401:
            break
        await asyncio.sleep(0.2)
    return world


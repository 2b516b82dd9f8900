"""Shares, groups and API keys on two masters (DESIGN §12): every change made through one
master is in force at the next request through the other; keys never exceed their user;
each action is an audit row with actor and target, never with a secret."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.access import admin_client, as_token, make_key, new_user, via
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
ADMIN = "access-admin"


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "access", workers=3, chunk_size=1 * MiB,
                        master_env={"ADMIN_USERS": ADMIN}) as running:
        running.start_master(name="master-b")
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        yield http


def _bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _owner_with_bucket(cluster: LocalCluster, session: aiohttp.ClientSession
                             ) -> tuple[ApiClient, str, str]:
    owner, name = await new_user(cluster.master_url, session, "own")
    bucket = _bucket("shared")
    assert (await owner.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    assert (await owner.upload_raw(b"hello", "docs/a.txt", bucket=bucket))[0] == 201
    return owner, name, bucket


async def test_each_share_level_allows_what_it_names_and_nothing_more(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    for permission in ("ro", "rw", "rwd"):
        user, username = await new_user(cluster.master_url, session, permission)
        status, body = await owner.call("PUT", f"/api/v1/buckets/{bucket}/shares",
                                        json={"user": username, "permission": permission})
        assert status == 200 and body["data"]["permission"] == permission, body
        status, data, _ = await user.read(bucket, "docs/a.txt")
        assert (status, data) == (200, b"hello")
        path = f"docs/{permission}.txt"
        status, _ = await user.upload_raw(b"w", path, bucket=bucket)
        assert status == (403 if permission == "ro" else 201), permission
        victim = path if permission != "ro" else "docs/a.txt"
        status, body = await user.fs("DELETE", bucket, victim)
        assert status == (200 if permission == "rwd" else 403), (permission, body)
        status, body = await user.call("PATCH", f"/api/v1/buckets/{bucket}",
                                       json={"versioning": True})
        assert (status, body["code"]) == (403, "forbidden")
        status, listed = await user.call("GET", "/api/v1/buckets")
        assert {b["name"]: b["permission"] for b in listed["data"]["buckets"]} == {
            user.home_bucket: "owner", bucket: permission}


async def test_a_share_and_its_removal_are_in_force_at_once_on_the_other_master(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    master_b = cluster.extra_master_urls["master-b"]
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    reader, name = await new_user(cluster.master_url, session, "rd")
    reader_b = via(reader, master_b)
    assert (await reader_b.read(bucket, "docs/a.txt"))[0] == 404
    for _ in range(3):
        assert (await owner.call("PUT", f"/api/v1/buckets/{bucket}/shares",
                                 json={"user": name, "permission": "ro"}))[0] == 200
        assert (await reader_b.read(bucket, "docs/a.txt"))[0] == 200
        assert (await owner.call("DELETE",
                                 f"/api/v1/buckets/{bucket}/shares/user:{name}"))[0] == 200
        status, body = await reader_b.call("GET", f"/api/v1/buckets/{bucket}")
        assert (status, body["code"]) == (404, "not_found")
    status, body = await owner.call("DELETE", f"/api/v1/buckets/{bucket}/shares/user:{name}")
    assert (status, body["code"]) == (404, "not_found")


async def test_groups_grant_their_members_and_only_managers_change_them(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    master_b = cluster.extra_master_urls["master-b"]
    owner, owner_name, bucket = await _owner_with_bucket(cluster, session)
    member, member_name = await new_user(cluster.master_url, session, "mem")
    outsider, _ = await new_user(cluster.master_url, session, "out")
    group = f"team-{uuid.uuid4().hex[:8]}"
    status, body = await owner.call("POST", "/api/v1/groups", json={"name": group})
    assert status == 201 and body["data"]["members"] == [], body
    assert (await outsider.call("POST", "/api/v1/groups", json={"name": group}))[0] == 409
    status, body = await owner.call("PUT", f"/api/v1/buckets/{bucket}/shares",
                                    json={"group": group, "permission": "rw"})
    assert status == 200 and body["data"]["group"] == group

    member_b = via(member, master_b)
    assert (await member_b.upload_raw(b"x", "g/x", bucket=bucket))[0] == 404
    status, body = await outsider.call("PUT", f"/api/v1/groups/{group}/members/{member_name}")
    assert (status, body["code"]) == (403, "forbidden")
    assert (await owner.call("PUT", f"/api/v1/groups/{group}/members/{member_name}"))[0] == 200
    assert (await member_b.upload_raw(b"x", "g/x", bucket=bucket))[0] == 201
    status, listed = await member.call("GET", "/api/v1/groups")
    assert [(g["name"], g["members"], g["created_by"]) for g in listed["data"]["groups"]] == [
        (group, [member_name], owner_name)]
    assert (await outsider.call("GET", "/api/v1/groups"))[1]["data"]["groups"] == []

    # A member may leave; then the group's share no longer reaches it, at once.
    assert (await member.call("DELETE", f"/api/v1/groups/{group}/members/{member_name}"))[0] \
        == 200
    assert (await member_b.read(bucket, "g/x"))[0] == 404
    admin = await admin_client(cluster.master_url, session, ADMIN)
    assert (await admin.call("PUT", f"/api/v1/groups/{group}/members/{member_name}"))[0] == 200
    assert (await member_b.read(bucket, "g/x"))[0] == 200


async def test_moving_out_needs_rwd_on_the_source_and_copying_in_needs_rw_on_the_target(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    user, name = await new_user(cluster.master_url, session, "mv")
    share_url = f"/api/v1/buckets/{bucket}/shares"
    mine = user.home_bucket

    async def op(kind: str, src: str, dst: str) -> int:
        status, _ = await user.call("POST", f"/api/v1/ops/{kind}",
                                    json={"from": src, "to": dst})
        return status

    assert await op("copy", f"{bucket}/docs/a.txt", f"{mine}/c0") == 404
    assert (await owner.call("PUT", share_url, json={"user": name, "permission": "ro"}))[0] \
        == 200
    assert await op("copy", f"{bucket}/docs/a.txt", f"{mine}/c1") == 201
    assert await op("move", f"{bucket}/docs/a.txt", f"{mine}/m1") == 403
    assert await op("copy", f"{mine}/c1", f"{bucket}/docs/in") == 403
    assert (await owner.call("PUT", share_url, json={"user": name, "permission": "rw"}))[0] \
        == 200
    assert await op("copy", f"{mine}/c1", f"{bucket}/docs/in") == 201
    assert await op("move", f"{bucket}/docs/a.txt", f"{mine}/m1") == 403
    assert (await owner.call("PUT", share_url, json={"user": name, "permission": "rwd"}))[0] \
        == 200
    assert await op("move", f"{bucket}/docs/a.txt", f"{mine}/m1") == 200
    assert (await user.read(mine, "m1"))[1] == b"hello"


async def test_a_session_stops_at_once_when_its_share_is_revoked(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    writer, name = await new_user(cluster.master_url, session, "ses")
    share_url = f"/api/v1/buckets/{bucket}/shares"
    assert (await owner.call("PUT", share_url, json={"user": name, "permission": "rw"}))[0] \
        == 200
    status, body = await writer.call("POST", "/api/v1/files/upload/init", json={
        "bucket": bucket, "path": "s/f.bin", "file_name": "f.bin", "file_size": 2})
    assert status == 201, body
    session_id = body["data"]["session_id"]
    assert (await owner.call("DELETE", f"{share_url}/user:{name}"))[0] == 200
    writer_b = via(writer, cluster.extra_master_urls["master-b"])
    status, _ = await writer_b.call("PUT", f"/api/v1/files/upload/{session_id}/chunks/0",
                                    data=b"ab")
    assert status == 404
    status, _ = await writer_b.call("POST", f"/api/v1/files/upload/{session_id}/complete")
    assert status == 404
    assert (await owner.fs("GET", bucket, "s/"))[0] == 404  # nothing was committed


async def test_api_keys_authenticate_within_their_scope_and_revocation_is_immediate(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    master_b = cluster.extra_master_urls["master-b"]
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    ro = await make_key(owner, name="reader", permission="ro")
    rw = await make_key(owner, name="writer", permission="rw", buckets=[bucket])
    assert ro["token"].startswith("efk_") and len(ro["secret"]) == 40
    assert (ro["permission"], ro["buckets"], ro["state"]) == ("ro", None, "active")
    assert rw["buckets"] == [bucket]

    reader = via(as_token(owner, ro["token"]), master_b)
    assert (await reader.read(bucket, "docs/a.txt"))[0] == 200
    status, body = await reader.upload_raw(b"no", "docs/no.txt", bucket=bucket)
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await reader.call("POST", "/api/v1/buckets", json={"name": _bucket("k")})
    assert (status, body["code"]) == (403, "forbidden")
    status, listed = await reader.call("GET", "/api/v1/buckets")
    assert {b["permission"] for b in listed["data"]["buckets"]} == {"ro"}

    writer = via(as_token(owner, rw["token"]), master_b)
    assert (await writer.upload_raw(b"yes", "docs/yes.txt", bucket=bucket))[0] == 201
    assert (await writer.upload_raw(b"no", "elsewhere.txt"))[0] == 404  # home: not listed
    status, listed = await writer.call("GET", "/api/v1/buckets")
    assert [b["name"] for b in listed["data"]["buckets"]] == [bucket]
    status, body = await writer.call("POST", "/api/v1/keys", json={"name": "child",
                                                                   "permission": "rw"})
    assert (status, body["code"]) == (403, "forbidden")

    status, body = await owner.call("POST", "/api/v1/keys", json={"name": "up",
                                                                  "permission": "admin"})
    assert (status, body["code"]) == (403, "forbidden")
    status, listed = await owner.call("GET", "/api/v1/keys")
    assert status == 200
    assert {k["key_id"] for k in listed["data"]["keys"]} == {ro["key_id"], rw["key_id"]}
    text = json.dumps(listed)
    assert ro["secret"] not in text and ro["token"] not in text and '"secret"' not in text

    status, body = await owner.call("DELETE", f"/api/v1/keys/{ro['key_id']}")
    assert status == 200 and body["data"]["state"] == "revoked"
    assert (await reader.read(bucket, "docs/a.txt"))[0] == 401
    other, _ = await new_user(cluster.master_url, session, "oth")
    assert (await other.call("DELETE", f"/api/v1/keys/{rw['key_id']}"))[0] == 404


async def test_an_expired_key_is_refused_and_an_admin_key_exists_only_for_admins(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    short = await make_key(owner, permission="ro", expires_in_s=1)
    holder = as_token(owner, short["token"])
    while True:  # until the key's expiry has passed (no wall-clock assertion)
        status, _ = await holder.call("GET", "/api/v1/auth/profile")
        if status == 401:
            break
        assert status == 200
        await asyncio.sleep(0.2)
    status, listed = await owner.call("GET", "/api/v1/keys")
    assert [k["state"] for k in listed["data"]["keys"]] == ["expired"]

    admin = await admin_client(cluster.master_url, session, ADMIN)
    admin_key = await make_key(admin, permission="admin")
    rw_key = await make_key(admin, permission="rw")
    status, _ = await as_token(admin, admin_key["token"]).call("GET", "/api/v1/admin/audit")
    assert status == 200
    status, _ = await as_token(admin, rw_key["token"]).call("GET", "/api/v1/admin/audit")
    assert status == 403
    # An rw key of an admin is not an admin: somebody else's bucket stays hidden.
    assert (await as_token(admin, rw_key["token"]).read(bucket, "docs/a.txt"))[0] == 404


async def test_share_group_and_key_actions_are_audited_without_secrets(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner, owner_name, bucket = await _owner_with_bucket(cluster, session)
    _, friend = await new_user(cluster.master_url, session, "fr")
    group = f"aud-{uuid.uuid4().hex[:8]}"
    share_url = f"/api/v1/buckets/{bucket}/shares"
    assert (await owner.call("POST", "/api/v1/groups", json={"name": group}))[0] == 201
    assert (await owner.call("PUT", f"/api/v1/groups/{group}/members/{friend}"))[0] == 200
    assert (await owner.call("PUT", share_url, json={"group": group, "permission": "ro"}))[0] \
        == 200
    assert (await owner.call("PUT", share_url, json={"user": friend, "permission": "rw"}))[0] \
        == 200
    assert (await owner.call("DELETE", f"{share_url}/group:{group}"))[0] == 200
    assert (await owner.call("DELETE", f"/api/v1/groups/{group}/members/{friend}"))[0] == 200
    key = await make_key(owner, permission="rw")
    assert (await owner.call("DELETE", f"/api/v1/keys/{key['key_id']}"))[0] == 200

    admin = await admin_client(cluster.master_url, session, ADMIN)
    status, body = await admin.get_json(f"/api/v1/admin/audit?actor={owner_name}&limit=1000")
    assert status == 200
    rows = [(e["action"], e["target"], e.get("details", {}).get("grantee"))
            for e in body["data"]["entries"] if not e["action"].startswith(("auth.", "bucket."))]
    assert rows == [
        ("group.create", group, None),
        ("group.member.add", group, None),
        ("share.put", bucket, f"group:{group}"),
        ("share.put", bucket, f"user:{friend}"),
        ("share.delete", bucket, f"group:{group}"),
        ("group.member.remove", group, None),
        ("key.create", key["key_id"], None),
        ("key.revoke", key["key_id"], None),
    ]
    text = json.dumps(body)
    assert key["secret"] not in text and key["token"] not in text
    logs = [p.read_text() for p in (cluster.spec.base_dir / "logs").glob("*.log")]
    assert logs
    for log_text in logs:
        assert key["secret"] not in log_text and key["token"] not in log_text


@pytest.mark.parametrize("name", ["%00abc", "a%2Fb", "x" * 300, "%C3%A9t%C3%A9", "ab"])
async def test_odd_names_in_access_routes_are_4xx_never_a_server_error(
    cluster: LocalCluster, session: aiohttp.ClientSession, name: str,
) -> None:
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    group = f"odd-{uuid.uuid4().hex[:8]}"
    assert (await owner.call("POST", "/api/v1/groups", json={"name": group}))[0] == 201
    for method, path in (
        ("PUT", f"/api/v1/groups/{group}/members/{name}"),
        ("DELETE", f"/api/v1/groups/{group}/members/{name}"),
        ("PUT", f"/api/v1/groups/{name}/members/{name}"),
        ("DELETE", f"/api/v1/buckets/{bucket}/shares/user:{name}"),
        ("DELETE", f"/api/v1/buckets/{bucket}/shares/group:{name}"),
        ("DELETE", f"/api/v1/buckets/{bucket}/shares/{name}"),
        ("GET", f"/api/v1/buckets/{name}/shares"),
        ("DELETE", f"/api/v1/keys/{name}"),
    ):
        async with session.request(method, f"{cluster.master_url}{path}",
                                   headers=owner.auth) as r:
            assert r.status in (400, 404), (method, path, r.status, await r.text())
            assert (await r.json())["success"] is False


async def test_a_revoked_key_and_a_deleted_share_are_refused_at_once_with_warm_caches(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    """The masters remember verified login tokens (issue 19) and batch concurrent
    lookups: neither may let a key or a share outlive its revocation by one request."""
    owner, _, bucket = await _owner_with_bucket(cluster, session)
    reader, name = await new_user(cluster.master_url, session, "warm")
    assert (await owner.call("PUT", f"/api/v1/buckets/{bucket}/shares",
                             json={"user": name, "permission": "ro"}))[0] == 200
    key = await make_key(owner, name="warm", permission="ro")
    masters = [cluster.master_url, cluster.extra_master_urls["master-b"]]
    readers = [via(reader, url) for url in masters]
    key_readers = [via(as_token(owner, key["token"]), url) for url in masters]
    for _ in range(3):  # warm: token memo, principal cache, concurrent (batched) lookups
        results = await asyncio.gather(*(client.read(bucket, "docs/a.txt")
                                         for client in readers + key_readers))
        assert [(status, data) for status, data, _ in results] == [(200, b"hello")] * 4

    assert (await owner.call("DELETE", f"/api/v1/keys/{key['key_id']}"))[0] == 200
    assert (await owner.call("DELETE",
                             f"/api/v1/buckets/{bucket}/shares/user:{name}"))[0] == 200
    results = await asyncio.gather(*(client.read(bucket, "docs/a.txt")
                                     for client in readers + key_readers))
    assert [status for status, _, _ in results] == [404, 404, 401, 401]
    for client in readers:  # the login token itself still works, on its own bucket
        assert (await client.call("GET", "/api/v1/buckets"))[0] == 200

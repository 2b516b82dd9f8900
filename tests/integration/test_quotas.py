"""Quotas on a real cluster (DESIGN §12, issue 17): enforced atomically at commit, early
for declared sizes, exact usage after every namespace change, user quotas across buckets,
and the audit rows of quota changes.

The module's cluster runs GC with a short grace, so the chunks of refused uploads can be
seen collected (their rows go only once every copy was deleted from the workers).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.access import admin_client
from tests.support.api import ApiClient
from tests.support.clusters import FAST_GC, module_cluster
from tests.support.db import query
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024
GiB = 1024 * MiB
ADMIN = "quota-admin"
PASSWORD = "pw-123456789"


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "quotas", workers=3, chunk_size=1 * MiB,
                        master_env={"ADMIN_USERS": ADMIN, **FAST_GC}) as running:
        yield running  # the package's `api` fixture registers a user on this cluster




async def _bucket(api: ApiClient, **settings: Any) -> str:
    name = f"q-{uuid.uuid4().hex[:10]}"
    status, body = await api.call("POST", "/api/v1/buckets", json={"name": name, **settings})
    assert status == 201, body
    return name


async def _usage(api: ApiClient, bucket: str) -> tuple[int, int]:
    status, body = await api.call("GET", f"/api/v1/buckets/{bucket}")
    assert status == 200, body
    return body["data"]["used_bytes"], body["data"]["files"]


def _drift(cluster: LocalCluster) -> list[dict[str, Any]]:
    """Counters a full recount of the file versions disagrees with (none, always)."""
    return query(cluster.spec.database_url,
                 "SELECT c.scope, c.scope_id, c.bytes, c.files, e.bytes AS want_bytes,"
                 " e.files AS want_files FROM usage_counters c JOIN ("
                 "  SELECT s.scope, s.scope_id, COALESCE(sum(v.size), 0) AS bytes,"
                 "   count(v.id) AS files FROM usage_scopes s"
                 "  LEFT JOIN files f ON f.bucket_id = s.bucket_id"
                 "  LEFT JOIN file_versions v ON v.file_id = f.id AND NOT v.deleted"
                 "  GROUP BY s.scope, s.scope_id) e"
                 " ON e.scope = c.scope AND e.scope_id = c.scope_id"
                 " WHERE c.bytes <> e.bytes OR c.files <> e.files")


async def test_sixteen_concurrent_uploads_against_a_quota_that_admits_ten(
    cluster: LocalCluster, api: ApiClient
) -> None:
    size = 64 * 1024
    bucket = await _bucket(api, quota_bytes=10 * size + size // 2)
    payloads = {f"race/f{i:02d}": os.urandom(size) for i in range(16)}
    results = await asyncio.gather(*(api.upload_raw(data, path, bucket=bucket)
                                     for path, data in payloads.items()))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 10 + [507] * 6, results
    committed = {path for (status, _), path in zip(results, payloads, strict=True)
                 if status == 201}
    refused = set(payloads) - committed
    assert {body["code"] for status, body in results if status == 507} == {"quota_exceeded"}
    assert await _usage(api, bucket) == (10 * size, 10)

    url = cluster.spec.database_url
    stored = query(url, "SELECT f.path FROM files f JOIN buckets b ON b.id = f.bucket_id"
                        " WHERE b.name = %s", (bucket,))
    assert {r["path"] for r in stored} == committed
    assert query(url, "SELECT count(*) AS n FROM file_versions v JOIN files f"
                      " ON f.id = v.file_id JOIN buckets b ON b.id = f.bucket_id"
                      " WHERE b.name = %s", (bucket,)) == [{"n": 10}]
    for path in refused:
        status, _, _ = await api.read(bucket, path)
        assert status == 404
    # The refused uploads' chunks: known to GC, referenced by nothing, then collected.
    refused_chunks = [hashlib.sha256(payloads[p]).hexdigest() for p in sorted(refused)]
    assert query(url, "SELECT count(*) AS n FROM version_chunks WHERE chunk_id = ANY(%s)",
                 (refused_chunks,)) == [{"n": 0}]
    assert await eventually(lambda: not query(
        url, "SELECT chunk_id FROM chunks WHERE chunk_id = ANY(%s)", (refused_chunks,)),
        timeout_s=60)
    for path, data in payloads.items():  # the admitted ones are whole and readable
        if path in committed:
            status, body, _ = await api.read(bucket, path)
            assert (status, body) == (200, data)
    assert _drift(cluster) == []


async def test_declared_sizes_over_a_quota_are_refused_before_a_byte_moves(
    cluster: LocalCluster, api: ApiClient
) -> None:
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, profile = await api.get_json("/api/v1/auth/profile")
    username = profile["data"]["username"]
    status, body = await admin.call("PATCH", f"/api/v1/admin/users/{username}",
                                    json={"quota_bytes": 4 * MiB})
    assert status == 200, body
    bucket = await _bucket(api, quota_bytes=3 * MiB)

    # A chunk session: init declares file_size.
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "big.bin", "file_size": 10 * GiB, "bucket": bucket})
    assert (status, body["code"]) == (507, "quota_exceeded"), body
    assert body["details"]["scope"] == "bucket" and body["details"]["name"] == bucket
    # tus: Upload-Length (tus uploads go to the home bucket: the user's quota applies).
    async with api.session.post(f"{api.base_url}/api/v1/tus/", headers={
            **api.auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(5 * MiB)}) as r:
        assert r.status == 507 and r.headers["Tus-Resumable"] == "1.0.0"
        tus_body = await r.json()
    assert (tus_body["code"], tus_body["details"]["scope"]) == ("quota_exceeded", "user")
    url = cluster.spec.database_url
    assert query(url, "SELECT count(*) AS n FROM upload_sessions s JOIN users u"
                      " ON u.id = s.owner_id WHERE u.username = %s", (username,)) == [{"n": 0}]

    # A PUT: only headers are sent; the answer comes without the body being read.
    host, port = api.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write((f"PUT /api/v1/fs/{bucket}/huge.bin HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {api.token}\r\n"
                      f"Content-Length: {10 * GiB}\r\n\r\n").encode())
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.split()[1] == b"507", status_line
    # Declared sizes that fit go ahead.
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "ok.bin", "file_size": 2 * MiB, "bucket": bucket})
    assert status == 201, body
    assert (await api.upload_raw(os.urandom(3 * MiB), "fits.bin", bucket=bucket))[0] == 201
    assert await _usage(api, bucket) == (3 * MiB, 1)


async def test_a_session_completion_over_the_quota_is_refused_and_the_session_stays_open(
    cluster: LocalCluster, api: ApiClient
) -> None:
    bucket = await _bucket(api, quota_bytes=MiB)
    status, session = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "s.bin", "file_size": 600_000, "bucket": bucket})
    assert status == 201, session
    session_id = session["data"]["session_id"]
    assert (await api.upload_raw(os.urandom(500_000), "meanwhile.bin", bucket=bucket))[0] \
        == 201
    status, body = await api.call("PUT", f"/api/v1/files/upload/{session_id}/chunks/0",
                                  data=os.urandom(600_000))
    assert status == 200, body
    status, body = await api.call("POST", f"/api/v1/files/upload/{session_id}/complete")
    assert (status, body["code"]) == (507, "quota_exceeded"), body
    status, state = await api.call("GET", f"/api/v1/files/upload/{session_id}")
    assert status == 200 and state["data"]["state"] == "open"
    assert (await api.fs("DELETE", bucket, "meanwhile.bin"))[0] == 200
    status, body = await api.call("POST", f"/api/v1/files/upload/{session_id}/complete")
    assert status == 201, body
    assert await _usage(api, bucket) == (600_000, 1)


async def test_usage_is_exact_after_overwrite_delete_copy_move_and_retention(
    cluster: LocalCluster, api: ApiClient
) -> None:
    plain = await _bucket(api)
    history = await _bucket(api, versioning=True, keep_versions=2)

    async def put(bucket: str, path: str, size: int) -> None:
        status, body = await api.upload_raw(os.urandom(size), path, bucket=bucket)
        assert status == 201, body

    await put(plain, "a", 1000)
    await put(plain, "d/b", 300)
    assert await _usage(api, plain) == (1300, 2)
    await put(plain, "a", 200)  # overwrite: the old version goes
    assert await _usage(api, plain) == (500, 2)
    status, _ = await api.call("POST", "/api/v1/ops/copy", json={"from": f"{plain}/d",
                                                                  "to": f"{plain}/e"})
    assert status == 201
    assert await _usage(api, plain) == (800, 3)  # a copy counts fully: logical bytes
    status, _ = await api.call("POST", "/api/v1/ops/move", json={"from": f"{plain}/d/b",
                                                                  "to": f"{history}/b"})
    assert status == 200
    assert (await _usage(api, plain), await _usage(api, history)) == ((500, 2), (300, 1))
    await put(history, "b", 100)  # versioned: the old version stays and counts
    assert await _usage(api, history) == (400, 2)
    await put(history, "b", 10)  # keep_versions=2: the oldest falls out
    assert await _usage(api, history) == (110, 2)
    assert (await api.fs("DELETE", history, "b"))[0] == 200  # a marker: counts nothing,
    assert await _usage(api, history) == (10, 1)  # and retention dropped one more
    status, versions = await api.fs("GET", history, "b", params={"versions": "true"})
    kept = [v for v in versions["data"]["versions"] if not v["deleted"]]
    status, _ = await api.call("POST", "/api/v1/ops/restore", json={
        "path": f"{history}/b", "version_id": kept[0]["version_id"]})
    assert status == 201  # a new version of 10 bytes; keep_versions=2 keeps it and the
    assert await _usage(api, history) == (10, 1)  # marker, so the version restored goes
    assert (await api.fs("DELETE", plain, "a"))[0] == 200
    status, task = await api.fs("DELETE", plain, "e/", params={"recursive": "true"})
    assert status == 202, task
    async def task_done() -> bool:
        status, body = await api.call("GET", f"/api/v1/tasks/{task['data']['task_id']}")
        return status == 200 and body["data"]["state"] == "done"

    for _ in range(300):
        if await task_done():
            break
        await asyncio.sleep(0.1)
    assert await _usage(api, plain) == (0, 0)
    status, profile = await api.get_json("/api/v1/auth/profile")
    assert profile["data"]["usage"] == {"used_bytes": 10, "files": 1, "quota_bytes": None,
                                        "quota_files": None}
    assert _drift(cluster) == []


async def test_a_user_quota_spans_the_buckets_the_user_owns(
    cluster: LocalCluster, api: ApiClient
) -> None:
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, profile = await api.get_json("/api/v1/auth/profile")
    username = profile["data"]["username"]
    status, refused = await api.call("PATCH", f"/api/v1/admin/users/{username}",
                                     json={"quota_bytes": 10**12})
    assert (status, refused["code"]) == (403, "forbidden")
    status, body = await admin.call("PATCH", f"/api/v1/admin/users/{username}",
                                    json={"quota_bytes": 5000, "quota_files": 3})
    assert status == 200 and body["data"] | {"user_id": 0} == {
        "username": username, "user_id": 0, "used_bytes": 0, "files": 0,
        "quota_bytes": 5000, "quota_files": 3}, body
    status, body = await admin.call("PATCH", "/api/v1/admin/users/no-such-user",
                                    json={"quota_bytes": 1})
    assert (status, body["code"]) == (404, "not_found")
    status, body = await admin.call("PATCH", f"/api/v1/admin/users/{username}",
                                    json={"quota": 1})
    assert (status, body["code"]) == (400, "invalid_input")
    other = await _bucket(api)
    assert (await api.upload_raw(os.urandom(3000), "x", bucket=api.home_bucket))[0] == 201
    status, body = await api.upload_raw(os.urandom(2001), "y", bucket=other)
    assert (status, body["code"]) == (507, "quota_exceeded")
    assert body["details"] | {"name": username} == body["details"] and \
        body["details"]["scope"] == "user"
    assert (await api.upload_raw(os.urandom(2000), "y", bucket=other))[0] == 201
    status, body = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{other}/y", "to": f"{api.home_bucket}/y2"})
    assert (status, body["code"]) == (507, "quota_exceeded")  # copies are usage too
    status, profile = await api.get_json("/api/v1/auth/profile")
    assert profile["data"]["usage"] == {"used_bytes": 5000, "files": 2, "quota_bytes": 5000,
                                        "quota_files": 3}
    status, body = await admin.call("PATCH", f"/api/v1/admin/users/{username}",
                                    json={"quota_bytes": None})
    assert status == 200 and body["data"]["quota_bytes"] is None
    assert (await api.upload_raw(b"z", "z", bucket=other))[0] == 201
    status, body = await api.upload_raw(b"w", "w", bucket=other)  # quota_files still 3
    assert (status, body["details"]["quota_files"]) == (507, 3)


async def test_quota_changes_are_audited_with_target_and_values(
    cluster: LocalCluster, api: ApiClient
) -> None:
    admin = await admin_client(api.base_url, api.session, ADMIN)
    status, profile = await api.get_json("/api/v1/auth/profile")
    username = profile["data"]["username"]
    bucket = await _bucket(api, quota_files=7)
    status, _ = await api.call("PATCH", f"/api/v1/buckets/{bucket}",
                               json={"quota_bytes": 123, "quota_files": None})
    assert status == 200
    status, _ = await admin.call("PATCH", f"/api/v1/admin/users/{username}",
                                 json={"quota_bytes": 456})
    assert status == 200
    status, page = await admin.get_json("/api/v1/admin/audit?action=quota.set&limit=1000")
    assert status == 200, page
    rows = [(e["actor"], e["target"], e["details"]) for e in page["data"]["entries"]
            if e["target"] in (f"bucket:{bucket}", f"user:{username}")]
    assert rows == [
        (username, f"bucket:{bucket}", {"quota_files": 7}),
        (username, f"bucket:{bucket}", {"quota_bytes": 123, "quota_files": None}),
        (ADMIN, f"user:{username}", {"quota_bytes": 456}),
    ]


async def test_a_group_quota_spans_the_buckets_charged_to_the_group(
    cluster: LocalCluster, api: ApiClient
) -> None:
    admin = await admin_client(api.base_url, api.session, ADMIN)
    member = ApiClient(api.base_url, api.session)
    await member.register_and_login()
    outsider = ApiClient(api.base_url, api.session)
    await outsider.register_and_login()
    group = f"g-{uuid.uuid4().hex[:10]}"
    status, body = await api.call("POST", "/api/v1/groups", json={"name": group})
    assert status == 201 and body["data"]["usage"] == {
        "used_bytes": 0, "files": 0, "quota_bytes": None, "quota_files": None}, body
    status, profile = await member.get_json("/api/v1/auth/profile")
    status, _ = await api.call(
        "PUT", f"/api/v1/groups/{group}/members/{profile['data']['username']}")
    assert status == 200

    # Only members (and the creator, and admins) may charge a bucket to the group.
    mine = await _bucket(api, group=group)
    status, body = await api.get_json(f"/api/v1/buckets/{mine}")
    assert body["data"]["group"] == group, body
    theirs = await _bucket(member)
    status, body = await member.call("PATCH", f"/api/v1/buckets/{theirs}",
                                     json={"group": group})
    assert (status, body["data"]["group"]) == (200, group), body
    status, body = await outsider.call("POST", "/api/v1/buckets",
                                       json={"name": f"q-{uuid.uuid4().hex[:10]}",
                                             "group": group})
    assert (status, body["code"]) == (403, "forbidden"), body
    status, body = await outsider.call("PATCH", f"/api/v1/buckets/{outsider.home_bucket}",
                                       json={"group": "no-such-group"})
    assert (status, body["code"]) == (404, "not_found"), body
    status, body = await outsider.call("PATCH", f"/api/v1/buckets/{outsider.home_bucket}",
                                       json={"group": 7})
    assert (status, body["code"]) == (400, "invalid_input"), body

    status, body = await api.call("PATCH", f"/api/v1/admin/groups/{group}",
                                  json={"quota_bytes": 1})
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await admin.call("PATCH", "/api/v1/admin/groups/no-such-group",
                                    json={"quota_bytes": 1})
    assert (status, body["code"]) == (404, "not_found")
    status, body = await admin.call("PATCH", f"/api/v1/admin/groups/{group}",
                                    json={"quota_bytes": 5000})
    assert status == 200 and body["data"] == {
        "group": group, "used_bytes": 0, "files": 0, "quota_bytes": 5000,
        "quota_files": None}, body

    # Both members' buckets count toward the group; the creator's home bucket does not.
    assert (await api.upload_raw(os.urandom(3000), "a", bucket=mine))[0] == 201
    status, body = await member.upload_raw(os.urandom(2001), "b", bucket=theirs)
    assert (status, body["code"]) == (507, "quota_exceeded"), body
    assert (body["details"]["scope"], body["details"]["name"]) == ("group", group)
    assert (await member.upload_raw(os.urandom(2000), "b", bucket=theirs))[0] == 201
    assert (await api.upload_raw(os.urandom(4000), "c", bucket=api.home_bucket))[0] == 201
    status, body = await api.get_json("/api/v1/groups")
    [listed] = [g for g in body["data"]["groups"] if g["name"] == group]
    assert listed["usage"] == {"used_bytes": 5000, "files": 2, "quota_bytes": 5000,
                               "quota_files": None}

    # A bucket leaving the group takes its usage along; coming back into a full group
    # is refused at commit like any other increase, and changes nothing.
    status, _ = await member.call("PATCH", f"/api/v1/buckets/{theirs}", json={"group": None})
    assert status == 200
    assert (await api.upload_raw(os.urandom(1000), "d", bucket=mine))[0] == 201
    status, body = await member.call("PATCH", f"/api/v1/buckets/{theirs}",
                                     json={"group": group})
    assert (status, body["code"]) == (507, "quota_exceeded"), body
    status, body = await member.get_json(f"/api/v1/buckets/{theirs}")
    assert body["data"]["group"] is None
    assert _drift(cluster) == []

    # A group deleted takes its counter along; its buckets are charged to nobody.
    query(cluster.spec.database_url, "DELETE FROM groups WHERE name = %s RETURNING id", (group,))
    status, body = await api.get_json(f"/api/v1/buckets/{mine}")
    assert (body["data"]["group"], body["data"]["used_bytes"]) == (None, 4000)
    assert query(cluster.spec.database_url,
                 "SELECT 1 FROM usage_counters c WHERE c.scope = 'group'"
                 " AND NOT EXISTS (SELECT 1 FROM groups g WHERE g.id = c.scope_id)") == []
    assert _drift(cluster) == []

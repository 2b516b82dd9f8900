"""A versioned bucket keeps every version until retention drops it (DESIGN §11), against a
real cluster: a recursive delete writes delete markers, a move or copy onto an existing
file (overwritten, or holding only a delete marker) adds a version on top of its history,
and a move's source gets a delete marker as a DELETE would give it. Each test lists
``?versions=true`` before and after and reads the older versions by ``version_id``."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.api import ApiClient
from tests.support.db import query
from tools.cluster import LocalCluster


async def _bucket(api: ApiClient, versioning: bool = True) -> str:
    name = f"hist-{uuid.uuid4().hex[:10]}"
    status, body = await api.call("POST", "/api/v1/buckets", json={
        "name": name, "versioning": versioning})
    assert status == 201, body
    return name


async def _versions(api: ApiClient, bucket: str, path: str) -> list[dict]:
    status, body = await api.fs("GET", bucket, path, params={"versions": "true"})
    assert status == 200, body
    return list(body["data"]["versions"])


async def _put(api: ApiClient, bucket: str, path: str, data: bytes) -> None:
    status, body = await api.upload_raw(data, path, bucket=bucket)
    assert status == 201, body


async def _assert_readable(api: ApiClient, bucket: str, path: str,
                           expected: dict[str, bytes]) -> None:
    """Every version id in ``expected`` still reads back its own content."""
    for version_id, content in expected.items():
        status, data, _ = await api.read(bucket, path, version_id=version_id)
        assert (status, data) == (200, content), version_id


async def _wait_task(api: ApiClient, task_id: str) -> dict:
    for _ in range(2400):
        status, body = await api.call("GET", f"/api/v1/tasks/{task_id}")
        assert status == 200, body
        if body["data"]["state"] != "running":
            assert body["data"]["state"] == "done", body
            return dict(body["data"])
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} still running")


async def test_a_recursive_delete_in_a_versioned_bucket_writes_delete_markers(
    api: ApiClient, cluster: LocalCluster
) -> None:
    bucket = await _bucket(api)
    await _put(api, bucket, "d/a.txt", b"a one")
    await _put(api, bucket, "d/a.txt", b"a two")
    await _put(api, bucket, "d/sub/b.txt", b"b one")
    before_a = await _versions(api, bucket, "d/a.txt")
    before_b = await _versions(api, bucket, "d/sub/b.txt")
    assert [(v["size"], v["deleted"]) for v in before_a] == [(5, False), (5, False)]
    assert len(before_b) == 1

    status, started = await api.fs("DELETE", bucket, "d/", params={"recursive": "true"})
    assert status == 202 and started["data"]["total"] == 2, started
    task = await _wait_task(api, started["data"]["task_id"])
    assert task["done"] == task["total"] == 2

    # Gone from the namespace: no directory, no current file.
    assert (await api.fs("GET", bucket, "d/"))[0] == 404
    assert (await api.read(bucket, "d/a.txt"))[0] == 404
    # The history stays: a delete marker on top of every version there was.
    after_a = await _versions(api, bucket, "d/a.txt")
    assert [v["deleted"] for v in after_a] == [True, False, False]
    assert after_a[0]["current"] and after_a[1:] == [v | {"current": False} for v in before_a]
    after_b = await _versions(api, bucket, "d/sub/b.txt")
    assert [v["deleted"] for v in after_b] == [True, False]
    assert after_b[1]["version_id"] == before_b[0]["version_id"]
    await _assert_readable(api, bucket, "d/a.txt", {
        before_a[0]["version_id"]: b"a two", before_a[1]["version_id"]: b"a one"})
    await _assert_readable(api, bucket, "d/sub/b.txt", {before_b[0]["version_id"]: b"b one"})

    # A restore brings the file back, with the directories above it.
    status, _ = await api.call("POST", "/api/v1/ops/restore", json={
        "path": f"{bucket}/d/a.txt", "version_id": before_a[1]["version_id"]})
    assert status == 201
    assert (await api.read(bucket, "d/a.txt"))[1] == b"a one"
    status, listing = await api.fs("GET", bucket, "d/")
    assert status == 200 and [e["name"] for e in listing["data"]["entries"]] == ["a.txt"]
    assert len(await _versions(api, bucket, "d/a.txt")) == 4

    # Deleting the whole bucket removes everything: the bucket itself goes.
    [row] = query(cluster.spec.database_url, "SELECT id FROM buckets WHERE name = %s",
                  (bucket,))
    status, started = await api.call("DELETE", f"/api/v1/buckets/{bucket}",
                                     params={"recursive": "true"})
    assert status == 202, started
    await _wait_task(api, started["data"]["task_id"])
    assert (await api.call("GET", f"/api/v1/buckets/{bucket}"))[0] == 404
    left = query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM files f WHERE f.bucket_id = %s",
                 (row["id"],))
    assert left[0]["n"] == 0


async def test_a_recursive_delete_in_an_unversioned_bucket_still_removes_the_files(
    api: ApiClient,
) -> None:
    bucket = await _bucket(api, versioning=False)
    await _put(api, bucket, "d/a.txt", b"a one")
    status, started = await api.fs("DELETE", bucket, "d/", params={"recursive": "true"})
    assert status == 202, started
    await _wait_task(api, started["data"]["task_id"])
    status, body = await api.fs("GET", bucket, "d/a.txt", params={"versions": "true"})
    assert status == 404, body


async def test_move_and_copy_with_overwrite_add_a_version_to_a_versioned_target(
    api: ApiClient,
) -> None:
    bucket = await _bucket(api)
    plain = await _bucket(api, versioning=False)
    await _put(api, bucket, "t.txt", b"target one")
    await _put(api, bucket, "t.txt", b"target two")
    await _put(api, bucket, "s.txt", b"moved source")
    await _put(api, bucket, "c.txt", b"copied source")
    await _put(api, plain, "u.txt", b"from an unversioned bucket")
    before_t = await _versions(api, bucket, "t.txt")
    before_s = await _versions(api, bucket, "s.txt")
    assert len(before_t) == 2 and len(before_s) == 1

    status, moved = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{bucket}/s.txt", "to": f"{bucket}/t.txt", "overwrite": True})
    assert status == 200 and moved["data"]["files"] == 1, moved
    after_t = await _versions(api, bucket, "t.txt")
    assert len(after_t) == 3 and after_t[0]["current"] and not after_t[0]["deleted"]
    assert after_t[0]["etag"] == before_s[0]["etag"]
    assert after_t[1:] == [v | {"current": False} for v in before_t]
    assert (await api.read(bucket, "t.txt"))[1] == b"moved source"
    await _assert_readable(api, bucket, "t.txt", {
        before_t[0]["version_id"]: b"target two", before_t[1]["version_id"]: b"target one"})
    # The source was deleted as a DELETE deletes in a versioned bucket: a delete marker.
    assert (await api.read(bucket, "s.txt"))[0] == 404
    after_s = await _versions(api, bucket, "s.txt")
    assert [v["deleted"] for v in after_s] == [True, False]
    assert after_s[1]["version_id"] == before_s[0]["version_id"]
    await _assert_readable(api, bucket, "s.txt", {before_s[0]["version_id"]: b"moved source"})

    status, copied = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{bucket}/c.txt", "to": f"{bucket}/t.txt", "overwrite": True})
    assert status == 201 and copied["data"]["files"] == 1, copied
    after_copy = await _versions(api, bucket, "t.txt")
    assert len(after_copy) == 4 and after_copy[1:] == [v | {"current": False}
                                                        for v in after_t]
    assert (await api.read(bucket, "t.txt"))[1] == b"copied source"
    assert (await api.read(bucket, "c.txt"))[1] == b"copied source"
    await _assert_readable(api, bucket, "t.txt", {
        after_t[0]["version_id"]: b"moved source", before_t[1]["version_id"]: b"target one"})

    # From an unversioned bucket: the target keeps its history; the source simply goes.
    status, moved = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{plain}/u.txt", "to": f"{bucket}/t.txt", "overwrite": True})
    assert status == 200, moved
    assert len(await _versions(api, bucket, "t.txt")) == 5
    assert (await api.read(bucket, "t.txt"))[1] == b"from an unversioned bucket"
    assert (await api.fs("GET", plain, "u.txt", params={"versions": "true"}))[0] == 404
    await _assert_readable(api, bucket, "t.txt", {before_t[1]["version_id"]: b"target one"})


async def test_a_target_holding_only_a_delete_marker_gets_the_new_version_on_top(
    api: ApiClient,
) -> None:
    bucket = await _bucket(api)
    await _put(api, bucket, "g.txt", b"gone one")
    assert (await api.fs("DELETE", bucket, "g.txt"))[0] == 200
    await _put(api, bucket, "n.txt", b"moved in")
    await _put(api, bucket, "h.txt", b"copied in")
    await _put(api, bucket, "dir/z.txt", b"in a directory")
    before = await _versions(api, bucket, "g.txt")
    assert [v["deleted"] for v in before] == [True, False]
    gone_one = before[1]["version_id"]

    status, moved = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{bucket}/n.txt", "to": f"{bucket}/g.txt"})
    assert status == 200, moved
    after_move = await _versions(api, bucket, "g.txt")
    assert [v["deleted"] for v in after_move] == [False, True, False]
    assert after_move[1:] == [v | {"current": False} for v in before]
    assert (await api.read(bucket, "g.txt"))[1] == b"moved in"
    await _assert_readable(api, bucket, "g.txt", {gone_one: b"gone one"})

    assert (await api.fs("DELETE", bucket, "g.txt"))[0] == 200
    status, copied = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{bucket}/h.txt", "to": f"{bucket}/g.txt"})
    assert status == 201, copied
    after_copy = await _versions(api, bucket, "g.txt")
    assert [v["deleted"] for v in after_copy] == [False, True, False, True, False]
    assert (await api.read(bucket, "g.txt"))[1] == b"copied in"
    await _assert_readable(api, bucket, "g.txt", {
        gone_one: b"gone one", after_move[0]["version_id"]: b"moved in"})

    # A directory cannot take a deleted file's place without dropping its history.
    assert (await api.fs("DELETE", bucket, "g.txt"))[0] == 200
    status, refused = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{bucket}/dir", "to": f"{bucket}/g.txt"})
    assert (status, refused["code"]) == (409, "conflict"), refused
    assert len(await _versions(api, bucket, "g.txt")) == 6
    assert (await api.read(bucket, "dir/z.txt"))[1] == b"in a directory"
    await _assert_readable(api, bucket, "g.txt", {gone_one: b"gone one"})


async def test_a_directory_moved_or_copied_onto_deleted_files_adds_versions_on_top(
    api: ApiClient,
) -> None:
    bucket = await _bucket(api)
    await _put(api, bucket, "d/a.txt", b"a one")
    [a_one] = await _versions(api, bucket, "d/a.txt")
    status, started = await api.fs("DELETE", bucket, "d/", params={"recursive": "true"})
    assert status == 202, started
    await _wait_task(api, started["data"]["task_id"])
    await _put(api, bucket, "e/a.txt", b"e one")
    await _put(api, bucket, "e/new.txt", b"new")
    before = await _versions(api, bucket, "d/a.txt")
    assert [v["deleted"] for v in before] == [True, False]

    status, copied = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{bucket}/e", "to": f"{bucket}/d"})
    assert status == 201 and copied["data"]["files"] == 2, copied
    after_copy = await _versions(api, bucket, "d/a.txt")
    assert after_copy[1:] == [v | {"current": False} for v in before]
    assert (await api.read(bucket, "d/a.txt"))[1] == b"e one"
    status, listing = await api.fs("GET", bucket, "d/")
    assert [e["name"] for e in listing["data"]["entries"]] == ["a.txt", "new.txt"]
    await _assert_readable(api, bucket, "d/a.txt", {a_one["version_id"]: b"a one"})

    status, started = await api.fs("DELETE", bucket, "d/", params={"recursive": "true"})
    assert status == 202, started
    await _wait_task(api, started["data"]["task_id"])
    status, moved = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{bucket}/e", "to": f"{bucket}/d"})
    assert status == 200 and moved["data"]["files"] == 2, moved
    after_move = await _versions(api, bucket, "d/a.txt")
    assert [v["deleted"] for v in after_move] == [False, True, False, True, False]
    assert after_move[-1]["version_id"] == a_one["version_id"]
    assert [(await api.read(bucket, f"d/{n}"))[1] for n in ("a.txt", "new.txt")] == [
        b"e one", b"new"]
    assert (await api.fs("GET", bucket, "e/"))[0] == 404
    # e/a.txt met history at d/a.txt: deleted as a DELETE would, a delete marker.
    assert [v["deleted"] for v in await _versions(api, bucket, "e/a.txt")] == [True, False]
    await _assert_readable(api, bucket, "d/a.txt", {a_one["version_id"]: b"a one"})

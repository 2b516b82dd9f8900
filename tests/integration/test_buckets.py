"""Buckets, directories, listings and conditional writes against a real cluster
(DESIGN §11): the routes, their error codes, and who may see what."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.api import ApiClient
from tests.support.db import query
from tools.cluster import LocalCluster


def _name(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _other(api: ApiClient) -> ApiClient:
    other = ApiClient(api.base_url, api.session)
    await other.register_and_login()
    return other


async def test_register_and_profile_name_the_home_bucket_and_wave_1_routes_use_it(
    api: ApiClient,
) -> None:
    status, profile = await api.call("GET", "/api/v1/auth/profile")
    assert status == 200 and profile["data"]["home_bucket"] == api.home_bucket
    status, body = await api.upload_multipart(b"wave one", "w1/doc.txt")
    assert status == 201 and body["data"]["bucket"] == api.home_bucket
    status, data, _ = await api.read(api.home_bucket, "w1/doc.txt")
    assert (status, data) == (200, b"wave one")
    status, listing = await api.fs("GET", api.home_bucket, "w1/")
    assert [(e["name"], e["type"]) for e in listing["data"]["entries"]] == [("doc.txt", "file")]


async def test_bucket_lifecycle_create_list_patch_and_delete(api: ApiClient) -> None:
    name = _name()
    status, created = await api.call("POST", "/api/v1/buckets", json={
        "name": name, "versioning": True, "quota_bytes": 10_000, "quota_files": 5})
    assert status == 201, created
    assert created["data"] | {"created_at": None} == created["data"] | {
        "name": name, "versioning": True, "quota_bytes": 10_000, "quota_files": 5,
        "keep_versions": None, "keep_days": None, "permission": "owner", "used_bytes": 0,
        "files": 0, "home": False, "created_at": None}
    status, again = await api.call("POST", "/api/v1/buckets", json={"name": name})
    assert (status, again["code"]) == (409, "bucket_exists")
    assert (await api.upload_raw(b"12345", "x", bucket=name))[0] == 201
    status, listed = await api.call("GET", "/api/v1/buckets")
    mine = {b["name"]: b for b in listed["data"]["buckets"]}
    assert set(mine) == {name, api.home_bucket}
    assert (mine[name]["used_bytes"], mine[name]["files"]) == (5, 1)
    status, patched = await api.call("PATCH", f"/api/v1/buckets/{name}",
                                     json={"keep_versions": 3, "keep_days": 30})
    assert status == 200 and (patched["data"]["keep_versions"], patched["data"]["keep_days"]) \
        == (3, 30)
    status, refused = await api.call("DELETE", f"/api/v1/buckets/{name}")
    assert (status, refused["code"]) == (409, "bucket_not_empty")
    assert (await api.fs("DELETE", name, "x"))[0] == 200
    status, versions = await api.fs("GET", name, "x", params={"versions": "true"})
    assert [v["deleted"] for v in versions["data"]["versions"]] == [True, False]
    status, task = await api.call("DELETE", f"/api/v1/buckets/{name}",
                                  params={"recursive": "true"})
    assert status == 202, task
    await _wait_task(api, task["data"]["task_id"])
    status, gone = await api.call("GET", f"/api/v1/buckets/{name}")
    assert (status, gone["code"]) == (404, "not_found")


@pytest.mark.parametrize("name", ["ab", "A-bucket", "-lead", "trail-", "a..b", "192.168.1.1",
                                  "x" * 64, "under_score"])
async def test_invalid_bucket_names_are_400(api: ApiClient, name: str) -> None:
    status, body = await api.call("POST", "/api/v1/buckets", json={"name": name})
    assert (status, body["code"]) == (400, "invalid_input")


async def test_a_bucket_the_caller_cannot_read_is_indistinguishable_from_a_missing_one(
    api: ApiClient,
) -> None:
    other = await _other(api)
    assert (await api.upload_raw(b"secret", "s/file.txt"))[0] == 201
    missing = _name("nope")
    for bucket in (api.home_bucket, missing):
        for method, path in (("GET", "s/file.txt"), ("GET", "s/"), ("PUT", "s/new"),
                             ("DELETE", "s/file.txt"), ("POST", "s/d/")):
            status, body = await other.fs(method, bucket, path, data=b"x")
            assert (status, body["code"]) == (404, "not_found"), (bucket, method, path)
        status, body = await other.call("GET", f"/api/v1/buckets/{bucket}")
        assert (status, body["code"]) == (404, "not_found")
        status, body = await other.call("POST", "/api/v1/ops/copy", json={
            "from": f"{bucket}/s/file.txt", "to": f"{other.home_bucket}/stolen"})
        assert (status, body["code"]) == (404, "not_found")
    status, listed = await other.call("GET", "/api/v1/buckets")
    assert [b["name"] for b in listed["data"]["buckets"]] == [other.home_bucket]


async def test_directories_are_entries_listed_by_parent_with_cursor_paging(
    api: ApiClient,
) -> None:
    bucket = api.home_bucket
    status, body = await api.fs("POST", bucket, "tour/empty/")
    assert status == 201 and body["data"]["created"] is True
    assert (await api.fs("POST", bucket, "tour/empty/"))[0] == 200
    for path in ("tour/a.txt", "tour/b/c.txt", "tour/b/d/e.txt", "tour/z.txt"):
        assert (await api.upload_raw(path.encode(), path))[0] == 201
    status, body = await api.fs("POST", bucket, "tour/a.txt/")
    assert (status, body["code"]) == (409, "conflict")
    status, body = await api.fs("PUT", bucket, "tour/a.txt/under", data=b"x")
    assert (status, body["code"]) == (409, "conflict")
    status, body = await api.fs("PUT", bucket, "tour/b", data=b"x")
    assert (status, body["code"]) == (409, "conflict")

    status, one = await api.fs("GET", bucket, "tour/")
    assert [(e["name"], e["type"]) for e in one["data"]["entries"]] == [
        ("a.txt", "file"), ("b", "dir"), ("empty", "dir"), ("z.txt", "file")]
    assert one["data"]["entries"][0]["size"] == len("tour/a.txt")
    pages, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await api.fs("GET", bucket, "tour/", params=params)
        pages.append([e["name"] for e in page["data"]["entries"]])
        cursor = page["data"]["next_cursor"]
        if cursor is None:
            break
    assert [n for p in pages for n in p] == ["a.txt", "b", "empty", "z.txt"]
    status, deep = await api.fs("GET", bucket, "tour/",
                                params={"recursive": "true", "max_depth": "2"})
    assert [e["name"] for e in deep["data"]["entries"]] == [
        "a.txt", "b", "b/c.txt", "b/d", "empty", "z.txt"]
    status, full = await api.fs("GET", bucket, "tour/", params={"recursive": "true"})
    assert "b/d/e.txt" in [e["name"] for e in full["data"]["entries"]]
    status, body = await api.fs("GET", bucket, "no-such-dir/")
    assert (status, body["code"]) == (404, "not_found")
    status, body = await api.fs("DELETE", bucket, "tour/b/")
    assert (status, body["code"]) == (409, "conflict")
    assert (await api.fs("DELETE", bucket, "tour/empty/"))[0] == 200


async def test_conditional_puts_answer_412_and_store_nothing(api: ApiClient) -> None:
    bucket = api.home_bucket
    status, first = await api.fs("PUT", bucket, "cond/f", data=b"one",
                                 headers={"If-None-Match": "*"})
    assert status == 201
    etag = first["data"]["sha256"]
    status, body = await api.fs("PUT", bucket, "cond/f", data=b"two",
                                headers={"If-None-Match": "*"})
    assert (status, body["code"]) == (412, "precondition_failed")
    status, body = await api.fs("PUT", bucket, "cond/f", data=b"two",
                                headers={"If-Match": '"' + "0" * 64 + '"'})
    assert (status, body["code"]) == (412, "precondition_failed")
    assert (await api.read(bucket, "cond/f"))[1] == b"one"
    status, body = await api.fs("PUT", bucket, "cond/f", data=b"two",
                                headers={"If-Match": f'"{etag}"'})
    assert status == 201
    assert (await api.read(bucket, "cond/f"))[1] == b"two"
    status, body = await api.fs("PUT", bucket, "cond/new", data=b"x",
                                headers={"If-Match": f'"{etag}"'})
    assert (status, body["code"]) == (412, "precondition_failed")
    assert (await api.read(bucket, "cond/new"))[0] == 404


async def test_eight_clients_doing_compare_and_swap_increments_lose_no_update(
    api: ApiClient,
) -> None:
    bucket, path = api.home_bucket, f"cas/{uuid.uuid4().hex[:6]}"
    assert (await api.upload_raw(b"0", path))[0] == 201
    increments_each = 5

    async def client() -> int:
        retries = 0
        for _ in range(increments_each):
            while True:
                status, data, headers = await api.read(bucket, path)
                assert status == 200
                status, body = await api.fs("PUT", bucket, path, data=str(int(data) + 1).encode(),
                                            headers={"If-Match": headers["ETag"]})
                if status == 201:
                    break
                assert (status, body["code"]) == (412, "precondition_failed"), body
                retries += 1
        return retries

    retries = await asyncio.gather(*(client() for _ in range(8)))
    assert (await api.read(bucket, path))[1] == str(8 * increments_each).encode()
    assert sum(retries) > 0  # the clients did race


async def _wait_task(api: ApiClient, task_id: str, timeout_s: float = 60.0) -> dict:
    seen = []
    for _ in range(int(timeout_s / 0.1)):
        status, body = await api.call("GET", f"/api/v1/tasks/{task_id}")
        assert status == 200, body
        seen.append(body["data"])
        if body["data"]["state"] != "running":
            assert body["data"]["state"] == "done", body
            return {"final": body["data"], "seen": seen}
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} still running: {seen[-1]}")


async def test_an_upload_into_a_bucket_being_deleted_is_refused(
    api: ApiClient, cluster: LocalCluster
) -> None:
    name = _name()
    assert (await api.call("POST", "/api/v1/buckets", json={"name": name}))[0] == 201
    for i in range(3):
        assert (await api.upload_raw(b"x", f"d/{i}", bucket=name))[0] == 201
    status, task = await api.call("DELETE", f"/api/v1/buckets/{name}",
                                  params={"recursive": "true"})
    assert status == 202
    result = await _wait_task(api, task["data"]["task_id"])
    assert result["final"]["done"] == result["final"]["total"] == 3
    assert query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM buckets WHERE name = %s", (name,)) == [{"n": 0}]
    status, body = await api.fs("PUT", name, "late", data=b"x")
    assert (status, body["code"]) == (404, "not_found")


async def test_a_home_bucket_cannot_be_deleted(api: ApiClient) -> None:
    status, body = await api.call("DELETE", f"/api/v1/buckets/{api.home_bucket}",
                                  params={"recursive": "true"})
    assert (status, body["code"]) == (409, "conflict")




async def test_move_and_copy_targets_take_if_match_and_if_none_match(api: ApiClient) -> None:
    home = api.home_bucket
    for path, body in (("mc/a", b"a"), ("mc/b", b"b"), ("mc/c", b"c")):
        assert (await api.upload_raw(body, path))[0] == 201
    _, _, headers = await api.read(home, "mc/b")
    move = {"from": f"{home}/mc/a", "to": f"{home}/mc/b"}
    status, body = await api.call("POST", "/api/v1/ops/move", json=move,
                                  headers={"If-None-Match": "*"})
    assert (status, body["code"]) == (412, "precondition_failed")
    status, body = await api.call("POST", "/api/v1/ops/copy", json=move,
                                  headers={"If-Match": '"' + "0" * 64 + '"'})
    assert (status, body["code"]) == (412, "precondition_failed")
    status, body = await api.call("POST", "/api/v1/ops/move", json=move)
    assert (status, body["code"]) == (409, "conflict")
    assert (await api.read(home, "mc/a"))[1] == b"a" and (await api.read(home, "mc/b"))[1] == b"b"
    status, body = await api.call("POST", "/api/v1/ops/move", json=move,
                                  headers={"If-Match": headers["ETag"]})
    assert status == 200, body
    assert (await api.read(home, "mc/a"))[0] == 404 and (await api.read(home, "mc/b"))[1] == b"a"
    status, body = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{home}/mc/c", "to": f"{home}/mc/d"}, headers={"If-None-Match": "*"})
    assert status == 201, body
    assert (await api.read(home, "mc/d"))[1] == b"c"


async def test_a_chunk_session_commits_into_the_named_bucket_and_never_into_a_strangers(
    api: ApiClient, cluster: LocalCluster
) -> None:
    name = _name()
    assert (await api.call("POST", "/api/v1/buckets", json={"name": name}))[0] == 201
    data = b"a" * 65536 + b"tail"
    status, init = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "s.bin", "file_size": len(data), "bucket": name, "path": "sess/s.bin",
        "chunk_size": 65536})
    assert status == 201, init
    sid = init["data"]["session_id"]
    assert init["data"]["bucket"] == name
    for index, part in enumerate((data[:65536], data[65536:])):
        status, body = await api.call("PUT", f"/api/v1/files/upload/{sid}/chunks/{index}",
                                      data=part)
        assert status == 200, body
    status, session = await api.call("GET", f"/api/v1/files/upload/{sid}")
    assert (session["data"]["bucket"], session["data"]["path"]) == (name, "sess/s.bin")
    status, receipt = await api.call("POST", f"/api/v1/files/upload/{sid}/complete")
    assert status == 201, receipt
    assert receipt["data"]["bucket"] == name
    assert (await api.read(name, "sess/s.bin"))[:2] == (200, data)
    assert (await api.read(api.home_bucket, "sess/s.bin"))[0] == 404

    other = await _other(api)
    for bucket in (api.home_bucket, name, _name("nope")):
        status, body = await other.call("POST", "/api/v1/files/upload/init", json={
            "file_name": "x", "file_size": 1, "bucket": bucket, "path": "intruder"})
        assert (status, body["code"]) == (404, "not_found"), bucket
    assert query(cluster.spec.database_url, "SELECT count(*) AS n FROM upload_sessions"
                 " WHERE path = 'intruder'") == [{"n": 0}]
    status, listing = await api.fs("GET", api.home_bucket, "")
    assert "intruder" not in [e["name"] for e in listing["data"]["entries"]]
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "x", "file_size": 1, "bucket": 7})
    assert (status, body["code"]) == (400, "invalid_input")

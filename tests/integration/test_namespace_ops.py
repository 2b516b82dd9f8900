"""Move, copy, restore, versions and recursive deletes against a real cluster
(DESIGN §11, issue 16's must-show tests 1-3)."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from master.background.namespace_tasks import RetentionSweeper
from master.metadata.namespace import NamespaceRepository
from master.metadata.pool import open_database
from tests.support.api import ApiClient
from tests.support.db import query
from tests.support.metrics import metric_sum
from tools.cluster import LocalCluster

TOUR_FILES = 1000


async def _wait_task(api: ApiClient, task_id: str, timeout_s: float = 120.0) -> list[dict]:
    """Poll the task until it ends; every state seen, the last one 'done'."""
    seen: list[dict] = []
    for _ in range(int(timeout_s / 0.05)):
        status, body = await api.call("GET", f"/api/v1/tasks/{task_id}")
        assert status == 200, body
        seen.append(body["data"])
        if body["data"]["state"] != "running":
            assert body["data"]["state"] == "done", body
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} still running: {seen[-1]}")


async def _listing_names(api: ApiClient, bucket: str, directory: str) -> list[str] | None:
    """One listing page of ``directory`` (None: no such directory)."""
    status, body = await api.fs("GET", bucket, f"{directory}/", params={"limit": "1000"})
    if status == 404:
        return None
    assert status == 200, body
    return [e["name"] for e in body["data"]["entries"]]


def _worker_bytes(cluster: LocalCluster) -> float:
    return sum(metric_sum(w.metrics_url, "echofs_worker_bytes_received_total")
               for w in cluster.workers.values())


async def test_the_callfs_style_tour(api: ApiClient, cluster: LocalCluster) -> None:
    bucket = f"tour-{uuid.uuid4().hex[:8]}"
    assert (await api.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    assert (await api.fs("POST", bucket, "projects/"))[0] == 201
    for path in ("projects/a/readme.md", "projects/a/b/c/deep.txt", "projects/top.txt"):
        assert (await api.upload_raw(path.encode(), path, bucket=bucket))[0] == 201
    assert await _listing_names(api, bucket, "projects") == ["a", "top.txt"]
    status, deep = await api.fs("GET", bucket, "projects/",
                                params={"recursive": "true", "max_depth": "2"})
    assert [e["name"] for e in deep["data"]["entries"]] == [
        "a", "a/b", "a/readme.md", "top.txt"]

    # A directory of TOUR_FILES files, uploaded 16 at a time.
    gate = asyncio.Semaphore(16)

    async def put(i: int) -> None:
        async with gate:
            status, body = await api.upload_raw(f"file {i}".encode(), f"big/f{i:04d}.txt",
                                                bucket=bucket)
            assert status == 201, body

    await asyncio.gather(*(put(i) for i in range(TOUR_FILES)))
    names = sorted(f"f{i:04d}.txt" for i in range(TOUR_FILES))

    # Move it while a lister watches both places: each listing sees all or nothing.
    seen: list[tuple[list[str] | None, list[str] | None]] = []
    moving = True

    async def lister() -> None:
        while moving:
            seen.append((await _listing_names(api, bucket, "big"),
                         await _listing_names(api, bucket, "moved/big")))

    watcher = asyncio.create_task(lister())
    await asyncio.sleep(0.05)
    status, moved = await api.call("POST", "/api/v1/ops/move", json={
        "from": f"{bucket}/big", "to": f"{bucket}/moved/big"})
    await asyncio.sleep(0.05)
    moving = False
    await watcher
    assert status == 200 and moved["data"]["files"] == TOUR_FILES, moved
    assert len(seen) >= 2
    for source, target in seen:
        assert source in (None, names) and target in (None, names), "a listing saw a mix"
    assert seen[0][0] == names  # the lister saw the directory before the move
    assert (await _listing_names(api, bucket, "big"),
            await _listing_names(api, bucket, "moved/big")) == (None, names)

    # Copy it: new files, no byte sent to any worker.
    before = await asyncio.to_thread(_worker_bytes, cluster)
    status, copied = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{bucket}/moved/big", "to": f"{bucket}/copy"})
    assert status == 201 and copied["data"]["files"] == TOUR_FILES, copied
    assert await asyncio.to_thread(_worker_bytes, cluster) == before
    assert await _listing_names(api, bucket, "copy") == names
    status, data, _ = await api.read(bucket, "copy/f0042.txt")
    assert (status, data) == (200, b"file 42")
    status, again = await api.call("POST", "/api/v1/ops/copy", json={
        "from": f"{bucket}/moved/big", "to": f"{bucket}/copy"})
    assert (status, again["code"]) == (409, "conflict")

    # Delete the copy recursively: a task whose progress climbs to the total.
    status, started = await api.fs("DELETE", bucket, "copy/", params={"recursive": "true"})
    assert status == 202 and started["data"]["total"] == TOUR_FILES, started
    states = await _wait_task(api, started["data"]["task_id"])
    assert [s["done"] for s in states] == sorted(s["done"] for s in states)
    assert states[-1]["done"] == states[-1]["total"] == TOUR_FILES
    assert await _listing_names(api, bucket, "copy") is None
    assert await _listing_names(api, bucket, "moved/big") == names  # the original stays
    status, data, _ = await api.read(bucket, "moved/big/f0042.txt")
    assert (status, data) == (200, b"file 42")


async def test_versions_list_read_restore_and_delete_markers(api: ApiClient) -> None:
    bucket = f"ver-{uuid.uuid4().hex[:8]}"
    status, _ = await api.call("POST", "/api/v1/buckets", json={"name": bucket,
                                                                "versioning": True})
    assert status == 201
    for content in (b"first", b"second", b"third"):
        assert (await api.upload_raw(content, "doc.txt", bucket=bucket))[0] == 201
    status, listed = await api.fs("GET", bucket, "doc.txt", params={"versions": "true"})
    versions = listed["data"]["versions"]
    assert [v["size"] for v in versions] == [5, 6, 5]
    assert [v["current"] for v in versions] == [True, False, False]
    first = versions[-1]["version_id"]
    status, data, _ = await api.read(bucket, "doc.txt", version_id=first)
    assert (status, data) == (200, b"first")
    status, restored = await api.call("POST", "/api/v1/ops/restore", json={
        "path": f"{bucket}/doc.txt", "version_id": first})
    assert status == 201, restored
    assert (await api.read(bucket, "doc.txt"))[1] == b"first"
    status, listed = await api.fs("GET", bucket, "doc.txt", params={"versions": "true"})
    assert len(listed["data"]["versions"]) == 4
    assert listed["data"]["versions"][0]["version_id"] == restored["data"]["version_id"]

    assert (await api.fs("DELETE", bucket, "doc.txt"))[0] == 200
    assert (await api.read(bucket, "doc.txt"))[0] == 404
    assert await _listing_names(api, bucket, "") == []
    status, listed = await api.fs("GET", bucket, "doc.txt", params={"versions": "true"})
    assert [v["deleted"] for v in listed["data"]["versions"]] == [True, False, False, False,
                                                                   False]
    status, _ = await api.call("POST", "/api/v1/ops/restore", json={
        "path": f"{bucket}/doc.txt", "version_id": listed["data"]["versions"][2]["version_id"]})
    assert status == 201
    assert (await api.read(bucket, "doc.txt"))[1] == b"third"


async def test_retention_drops_old_versions_and_releases_their_chunks_to_gc(
    api: ApiClient, cluster: LocalCluster
) -> None:
    bucket = f"keep-{uuid.uuid4().hex[:8]}"
    status, _ = await api.call("POST", "/api/v1/buckets", json={
        "name": bucket, "versioning": True, "keep_versions": 2})
    assert status == 201
    digests = []
    for i in range(4):
        status, body = await api.upload_raw(f"retained {i} {uuid.uuid4()}".encode(), "r.txt",
                                            bucket=bucket)
        assert status == 201
        digests.append(body["data"]["sha256"])
    status, listed = await api.fs("GET", bucket, "r.txt", params={"versions": "true"})
    assert [v["etag"] for v in listed["data"]["versions"]] == digests[:1:-1]
    # The dropped versions' chunks are referenced by nothing: GC's to take after grace.
    rows = query(cluster.spec.database_url,
                 "SELECT v.sha256 FROM file_versions v JOIN files f ON f.id = v.file_id"
                 " JOIN buckets b ON b.id = f.bucket_id WHERE b.name = %s", (bucket,))
    assert sorted(r["sha256"] for r in rows) == sorted(digests[2:])
    unreferenced = query(cluster.spec.database_url,
                         "SELECT count(*) AS n FROM chunks c WHERE NOT EXISTS"
                         " (SELECT 1 FROM version_chunks vc WHERE vc.chunk_id = c.chunk_id)"
                         " AND c.last_referenced_at > now() - interval '5 minutes'")
    assert unreferenced[0]["n"] >= 2


# ---- Races: every outcome is one of the serial outcomes (property test) ----



async def _exists(api: ApiClient, path: str) -> bytes | None:
    status, data, _ = await api.read(api.home_bucket, path)
    assert status in (200, 404)
    return data if status == 200 else None


async def _orphans(cluster: LocalCluster, bucket: str) -> list[dict]:
    """Files whose directory has no row: a move or delete left something behind."""
    return query(cluster.spec.database_url,
                 "SELECT f.path FROM files f JOIN buckets b ON b.id = f.bucket_id"
                 " WHERE b.name = %s AND f.parent <> '' AND NOT EXISTS (SELECT 1 FROM"
                 " directories d WHERE d.bucket_id = f.bucket_id AND d.path = f.parent)",
                 (bucket,))


async def _race_move_vs_upload(api: ApiClient, root: str, files: int) -> None:
    for i in range(files):
        assert (await api.upload_raw(b"old", f"{root}/src/{i}"))[0] == 201
    move, upload = await asyncio.gather(
        api.call("POST", "/api/v1/ops/move", json={
            "from": f"{api.home_bucket}/{root}/src", "to": f"{api.home_bucket}/{root}/dst"}),
        api.upload_raw(b"new", f"{root}/src/new"))
    assert move[0] == 200 and upload[0] == 201, (move, upload)
    assert all([await _exists(api, f"{root}/dst/{i}") == b"old" for i in range(files)])
    # Upload first: the new file moved along. Move first: it recreated src.
    places = [await _exists(api, f"{root}/src/new"), await _exists(api, f"{root}/dst/new")]
    assert sorted(places, key=lambda p: p is None)[0] == b"new" and None in places, places


async def _race_move_vs_delete(api: ApiClient, root: str, files: int) -> None:
    assert (await api.upload_raw(b"doomed", f"{root}/f"))[0] == 201
    move, delete = await asyncio.gather(
        api.call("POST", "/api/v1/ops/move", json={
            "from": f"{api.home_bucket}/{root}/f", "to": f"{api.home_bucket}/{root}/g"}),
        api.fs("DELETE", api.home_bucket, f"{root}/f"))
    at_f, at_g = await _exists(api, f"{root}/f"), await _exists(api, f"{root}/g")
    assert at_f is None
    if move[0] == 200:  # move first: the delete found nothing at f
        assert delete[0] == 404 and at_g == b"doomed", (move, delete)
    else:  # delete first: nothing left to move
        assert move[0] == 404 and delete[0] == 200 and at_g is None, (move, delete)


async def _race_two_moves(api: ApiClient, root: str, files: int) -> None:
    for side in ("a", "b"):
        for i in range(files):
            assert (await api.upload_raw(side.encode(), f"{root}/{side}/{i}"))[0] == 201
    moves = await asyncio.gather(*(api.call("POST", "/api/v1/ops/move", json={
        "from": f"{api.home_bucket}/{root}/{side}", "to": f"{api.home_bucket}/{root}/t"})
        for side in ("a", "b")))
    statuses = sorted(status for status, _ in moves)
    assert statuses == [200, 409], moves
    winner = "a" if moves[0][0] == 200 else "b"
    loser = "b" if winner == "a" else "a"
    for i in range(files):
        assert await _exists(api, f"{root}/t/{i}") == winner.encode()
        assert await _exists(api, f"{root}/{loser}/{i}") == loser.encode()
        assert await _exists(api, f"{root}/{winner}/{i}") is None


RACES = {"move_vs_upload": _race_move_vs_upload, "move_vs_delete": _race_move_vs_delete,
         "two_moves": _race_two_moves}


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(race=st.sampled_from(sorted(RACES)), files=st.integers(1, 4))
async def test_concurrent_namespace_changes_end_in_a_serial_outcome(
    cluster: LocalCluster, race: str, files: int
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        await RACES[race](api, f"race-{uuid.uuid4().hex[:6]}", files)
        assert await _orphans(cluster, api.home_bucket) == []


async def test_a_recursive_delete_continues_after_the_master_restarts(
    api: ApiClient, cluster: LocalCluster
) -> None:
    bucket = f"resume-{uuid.uuid4().hex[:8]}"
    assert (await api.call("POST", "/api/v1/buckets", json={"name": bucket}))[0] == 201
    gate = asyncio.Semaphore(16)

    async def put(i: int) -> None:
        async with gate:
            status, body = await api.upload_raw(b"x", f"seed/{i}", bucket=bucket)
            assert status == 201, body

    await asyncio.gather(*(put(i) for i in range(200)))
    for copy in range(24):
        status, body = await api.call("POST", "/api/v1/ops/copy", json={
            "from": f"{bucket}/seed", "to": f"{bucket}/tree/c{copy}"})
        assert status == 201, body
    status, started = await api.fs("DELETE", bucket, "tree/", params={"recursive": "true"})
    assert status == 202 and started["data"]["total"] == 24 * 200, started
    assert cluster.master is not None
    cluster.master.kill()
    task_id = started["data"]["task_id"]
    [row] = query(cluster.spec.database_url,
                  "SELECT state, done, total FROM tasks WHERE id = %s", (task_id,))
    assert row["state"] == "running" and row["done"] < row["total"], row  # killed mid-task
    left = query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM files f JOIN buckets b ON b.id = f.bucket_id"
                 " WHERE b.name = %s AND f.path LIKE 'tree/%%'", (bucket,))[0]["n"]
    assert left > 0
    cluster.start_master()
    cluster.wait_workers_registered(3)
    states = await _wait_task(api, task_id)
    assert states[-1]["done"] >= states[-1]["total"] == 24 * 200
    assert await _listing_names(api, bucket, "tree") is None
    assert await _listing_names(api, bucket, "seed") == sorted(str(i) for i in range(200))


async def test_retention_sweeps_versions_of_files_nobody_writes(
    api: ApiClient, cluster: LocalCluster
) -> None:
    bucket = f"sweep-{uuid.uuid4().hex[:8]}"
    status, _ = await api.call("POST", "/api/v1/buckets", json={"name": bucket,
                                                                "versioning": True})
    assert status == 201
    for i in range(4):
        assert (await api.upload_raw(f"v{i}".encode(), "old.txt", bucket=bucket))[0] == 201
    query(cluster.spec.database_url,
          "UPDATE file_versions v SET created_at = now() - interval '40 days' FROM files f,"
          " buckets b WHERE f.id = v.file_id AND b.id = f.bucket_id AND b.name = %s"
          " AND v.id <> f.current_version_id RETURNING v.id", (bucket,))
    status, _ = await api.call("PATCH", f"/api/v1/buckets/{bucket}", json={"keep_days": 30})
    assert status == 200
    db = await open_database(cluster.spec.database_url, min_size=1, max_size=2)
    try:
        dropped = await RetentionSweeper(NamespaceRepository(db)).run_once()
    finally:
        await db.close()
    assert dropped >= 3
    status, listed = await api.fs("GET", bucket, "old.txt", params={"versions": "true"})
    assert [(v["current"], v["size"]) for v in listed["data"]["versions"]] == [(True, 2)]
    assert (await api.read(bucket, "old.txt"))[1] == b"v3"

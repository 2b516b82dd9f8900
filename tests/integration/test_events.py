"""The change feed (DESIGN §13, issue 18): a long-polling reader gets every event type
in commit order; eight writers and a commit held open mid-flight lose no event for a
reader resuming anywhere; SSE resumes after Last-Event-ID; readers see only what they
may read."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import psycopg
import pytest

from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.events import collect, poll, sse_events, wait_task
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
WRITERS = 8
CHANGES_PER_WRITER = 250  # 8 x 250 = 2 000 changes


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "events", workers=3,
                        chunk_size=1 * MiB) as running:
        yield running


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client


async def _now(api: ApiClient, **params: Any) -> int:
    """A cursor from now on: after every change that committed before the call."""
    status, body = await poll(api, **params)
    assert status == 200, body
    assert body["data"]["events"] == []
    return int(body["data"]["last_id"])


async def _ok(result: tuple[int, dict[str, Any]], *statuses: int) -> dict[str, Any]:
    status, body = result
    assert status in (statuses or (200, 201)), body
    return body


async def test_a_long_polling_reader_gets_each_event_type_in_commit_order(
    api: ApiClient,
) -> None:
    bucket = f"ev-{uuid.uuid4().hex[:8]}"
    start = await _now(api)
    received: list[dict[str, Any]] = []

    async def reader() -> None:
        events, _ = await collect(api, start, 14)
        received.extend(events)

    reading = asyncio.create_task(reader())
    await _ok(await api.call("POST", "/api/v1/buckets", json={"name": bucket}))
    await _ok(await api.fs("POST", bucket, "d1/"))
    created = await _ok(await api.upload_raw(b"one", "d1/a.txt", bucket=bucket))
    await _ok(await api.upload_raw(b"two", "d1/a.txt", bucket=bucket))
    await _ok(await api.call("POST", "/api/v1/ops/copy",
                             json={"from": f"{bucket}/d1/a.txt", "to": f"{bucket}/d1/b.txt"}))
    await _ok(await api.call("POST", "/api/v1/ops/move",
                             json={"from": f"{bucket}/d1/b.txt", "to": f"{bucket}/d2/c.txt"}))
    await _ok(await api.call("PATCH", f"/api/v1/buckets/{bucket}", json={"versioning": True}))
    await _ok(await api.upload_raw(b"three", "d1/a.txt", bucket=bucket))
    versions = (await _ok(await api.fs("GET", bucket, "d1/a.txt",
                                       params={"versions": "true"})))["data"]["versions"]
    restored = await _ok(await api.call("POST", "/api/v1/ops/restore", json={
        "path": f"{bucket}/d1/a.txt", "version_id": versions[1]["version_id"]}))
    await _ok(await api.fs("DELETE", bucket, "d2/c.txt"))
    task = await _ok(await api.fs("DELETE", bucket, "d1/", params={"recursive": "true"}), 202)
    await wait_task(api, task["data"]["task_id"])
    task = await _ok(await api.call("DELETE", f"/api/v1/buckets/{bucket}",
                                    params={"recursive": "true"}), 202)
    await wait_task(api, task["data"]["task_id"])
    await asyncio.wait_for(reading, 120)

    assert [(e["type"], e["path"]) for e in received] == [
        ("bucket.created", ""), ("dir.created", "d1"), ("file.created", "d1/a.txt"),
        ("file.updated", "d1/a.txt"), ("file.copied", "d1/b.txt"), ("dir.created", "d2"),
        ("file.moved", "d2/c.txt"), ("file.updated", "d1/a.txt"),
        ("file.restored", "d1/a.txt"), ("file.deleted", "d2/c.txt"),
        ("file.deleted", "d1/a.txt"), ("dir.deleted", "d1"), ("dir.deleted", "d2"),
        ("bucket.deleted", ""),
    ]
    ids = [e["id"] for e in received]
    assert ids == sorted(set(ids))
    by_type = {e["type"]: e for e in received}
    username = (await _ok(await api.get_json("/api/v1/auth/profile")))["data"]["username"]
    assert all(e["bucket"] == bucket and e["actor"] == username for e in received)
    assert received[2]["etag"] == created["data"]["sha256"] and received[2]["size"] == 3
    assert by_type["file.copied"]["from_path"] == "d1/a.txt"
    assert by_type["file.moved"]["from_path"] == "d1/b.txt"
    assert "from_bucket" not in by_type["file.moved"]
    assert by_type["file.restored"]["version_id"] == restored["data"]["version_id"]
    assert by_type["file.restored"]["etag"] == versions[1]["etag"]
    # A marker in a versioned bucket: the delete names the marker version.
    assert by_type["file.deleted"]["version_id"]
    # The same events through a bucket and prefix filter, and a types filter.
    status, body = await poll(api, start, prefix="d1/", types="file.updated,file.restored")
    assert status == 200, body
    assert [e["type"] for e in body["data"]["events"]] == [
        "file.updated", "file.updated", "file.restored"]


async def test_eight_writers_and_a_commit_held_open_lose_nothing_for_resuming_readers(
    api: ApiClient, cluster: LocalCluster,
) -> None:
    bucket = f"load-{uuid.uuid4().hex[:8]}"
    await _ok(await api.call("POST", "/api/v1/buckets", json={"name": bucket}))
    for w in range(WRITERS):
        await _ok(await api.fs("POST", bucket, f"w{w}/"))
    # The held commit is another user's, in a bucket shared (ro) with the reader: a
    # commit holds its bucket's and its owner's usage counters (quotas) until it ends,
    # so in the writers' bucket it would hold them up rather than let them pass it.
    other = ApiClient(api.base_url, api.session)
    await other.register_and_login()
    held_bucket = f"held-{uuid.uuid4().hex[:8]}"
    await _ok(await other.call("POST", "/api/v1/buckets", json={"name": held_bucket}))
    status, me = await api.get_json("/api/v1/auth/profile")
    assert status == 200, me
    await _ok(await other.call("PUT", f"/api/v1/buckets/{held_bucket}/shares",
                               json={"user": me["data"]["username"], "permission": "ro"}))
    held_old = await _ok(await other.upload_raw(b"held: first", "held.txt",
                                                bucket=held_bucket))
    start = await _now(api)  # every bucket the reader can read: these two

    # Hold the replaced version's chunk row: an overwrite of held.txt inserts its event,
    # then waits on that row (its commit drops the old version) while others commit.
    holder = await psycopg.AsyncConnection.connect(cluster.spec.database_url)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM chunks WHERE chunk_id = %s FOR UPDATE",
                             (held_old["data"]["sha256"],))
        held_upload = asyncio.create_task(other.session.put(
            other.fs_url("held.txt", held_bucket), data=b"held: second",
            headers={**other.auth, "If-Match": f'"{held_old["data"]["sha256"]}"'}))

        def upload_waits_on_the_row() -> bool:
            return bool(query(cluster.spec.database_url,
                              "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                              " AND query LIKE '%%echofs_commit_versions%%'"))

        assert await eventually(upload_waits_on_the_row, timeout_s=60, every_s=0.1)

        live: list[dict[str, Any]] = []
        writers_done = asyncio.Event()

        async def live_reader() -> None:
            after = start
            while not (writers_done.is_set() and len(live) >= WRITERS * CHANGES_PER_WRITER):
                status, body = await poll(api, after, wait_s=2,
                                          limit=random.randint(1, 60))
                assert status == 200, body
                live.extend(body["data"]["events"])
                after = body["data"]["last_id"]

        async def writer(w: int) -> None:
            for j in range(CHANGES_PER_WRITER):
                if j % 2:
                    await _ok(await api.fs("POST", bucket, f"w{w}/d{j}/"))
                else:
                    await _ok(await api.upload_raw(f"{w}-{j}".encode(), f"w{w}/f{j}.txt",
                                                   bucket=bucket))

        reading = asyncio.create_task(live_reader())
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        writers_done.set()
        await asyncio.wait_for(reading, 120)
        assert not held_upload.done()  # still waiting: everything else committed after it
    finally:
        await holder.execute("ROLLBACK")
        await holder.close()
    answer = await asyncio.wait_for(held_upload, 60)
    assert answer.status == 201, await answer.text()
    answer.release()
    late, end = await collect(api, live[-1]["id"], 1)
    live.extend(late)

    expected = Counter([("file.updated", "held.txt")])
    for w in range(WRITERS):
        for j in range(CHANGES_PER_WRITER):
            expected[("dir.created", f"w{w}/d{j}") if j % 2
                     else ("file.created", f"w{w}/f{j}.txt")] += 1
    assert Counter((e["type"], e["path"]) for e in live) == expected
    ids = [e["id"] for e in live]
    assert ids == sorted(set(ids)), "each event once, in id order"
    stored = [r["id"] for r in query(
        cluster.spec.database_url,
        "SELECT e.id FROM events e JOIN buckets b ON b.id = e.bucket_id"
        " WHERE b.name IN (%s, %s) AND e.id > %s ORDER BY e.id",
        (bucket, held_bucket, start))]
    assert ids == stored
    # The held commit's event was inserted before events that got smaller ids: it
    # committed out of order, and no reader lost it.
    held = next(e for e in live if e["path"] == "held.txt")
    assert any(e["id"] < held["id"] and e["at"] > held["at"] for e in live)

    # Readers resuming from arbitrary ids (some between, before and after events) get
    # exactly the events after their id, once each, in order.
    resume_points = [*random.sample(ids, 15), start, start + 1, held["id"] - 1, end]
    for after in resume_points:
        got: list[dict[str, Any]] = []
        cursor = after
        while cursor < end:
            status, body = await poll(api, cursor,
                                      limit=random.randint(1, 500))
            assert status == 200, body
            got.extend(body["data"]["events"])
            cursor = body["data"]["last_id"]
        assert [e["id"] for e in got] == [i for i in ids if i > after], after


async def test_sse_streams_events_and_resumes_after_last_event_id(api: ApiClient) -> None:
    bucket = f"sse-{uuid.uuid4().hex[:8]}"
    await _ok(await api.call("POST", "/api/v1/buckets", json={"name": bucket}))
    start = await _now(api, bucket=bucket)
    headers = {**api.auth, "Accept": "text/event-stream"}
    url = f"{api.base_url}/api/v1/events"
    params = {"bucket": bucket, "after": str(start)}
    async with api.session.get(url, headers=headers, params=params) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for name in ("a", "b", "c"):
            await _ok(await api.fs("POST", bucket, f"{name}/"))
        first = await sse_events(response, 3)
    assert [(e["event"], e["data"]["path"]) for e in first] == [
        ("dir.created", "a"), ("dir.created", "b"), ("dir.created", "c")]
    assert [int(e["id"]) for e in first] == [e["data"]["id"] for e in first]
    for name in ("d", "e"):
        await _ok(await api.fs("POST", bucket, f"{name}/"))
    resume = {**headers, "Last-Event-ID": first[1]["id"]}
    async with api.session.get(url, headers=resume, params={"bucket": bucket}) as response:
        assert response.status == 200
        again = await sse_events(response, 3)
    assert [e["data"]["path"] for e in again] == ["c", "d", "e"]
    # A cursor that was never handed out is refused before the stream starts.
    status, body = await api.call("GET", "/api/v1/events", headers={
        "Accept": "text/event-stream", "Last-Event-ID": str(10**12)})
    assert status == 400 and body["code"] == "invalid_input"


async def test_readers_see_only_buckets_they_can_read(
    api: ApiClient, cluster: LocalCluster,
) -> None:
    other = ApiClient(cluster.master_url, api.session)
    await other.register_and_login()
    start = await _now(api)
    mine, theirs = f"mine-{uuid.uuid4().hex[:6]}", f"theirs-{uuid.uuid4().hex[:6]}"
    await _ok(await other.call("POST", "/api/v1/buckets", json={"name": theirs}))
    await _ok(await other.fs("POST", theirs, "secret/"))
    await _ok(await api.call("POST", "/api/v1/buckets", json={"name": mine}))
    events, _ = await collect(api, start, 1)
    assert [(e["bucket"], e["type"]) for e in events] == [(mine, "bucket.created")]
    status, body = await poll(api, start, bucket=theirs)
    assert status == 404, body
    status, body = await poll(other, start)
    assert status == 200
    assert {e["bucket"] for e in body["data"]["events"]} == {theirs}
    for bad in ({"limit": "0"}, {"after": "-1"}, {"wait_s": "x"}, {"types": "file.exploded"}):
        status, body = await poll(api, **bad)
        assert status == 400 and body["code"] == "invalid_input", (bad, body)


async def test_uploads_sessions_make_one_event_each(api: ApiClient) -> None:
    """A chunked upload session commits through the same outbox as a plain upload."""
    start = await _now(api)
    data = os.urandom(2 * MiB + 5)
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "path": "sess/big.bin", "file_name": "big.bin", "file_size": len(data), "chunk_size": MiB})
    assert status in (200, 201), body
    session_id = body["data"]["session_id"]
    for index in range(3):
        part = data[index * MiB:(index + 1) * MiB]
        async with api.session.put(
            f"{api.base_url}/api/v1/files/upload/{session_id}/chunks/{index}",
            data=part, headers=api.auth) as r:
            assert r.status in (200, 201), await r.text()
    await _ok(await api.call("POST", f"/api/v1/files/upload/{session_id}/complete"))
    events, _ = await collect(api, start, 2)
    assert [(e["type"], e["path"]) for e in events] == [
        ("dir.created", "sess"), ("file.created", "sess/big.bin")]
    assert events[1]["size"] == len(data)


async def test_the_openapi_document_describes_the_feed_and_webhooks(api: ApiClient) -> None:
    status, spec = await api.get_json("/api/v1/openapi.json")
    assert status == 200
    for path in ("/api/v1/events", "/api/v1/webhooks", "/api/v1/webhooks/{webhook_id}"):
        assert path in spec["paths"], path
    event = spec["components"]["schemas"]["Event"]
    assert set(event["properties"]["type"]["enum"]) == {
        "file.created", "file.updated", "file.deleted", "file.moved", "file.copied",
        "file.restored", "dir.created", "dir.deleted", "bucket.created", "bucket.deleted"}
    assert {"id", "type", "bucket", "path", "from_path", "version_id", "size", "etag",
            "actor", "at"} <= set(event["properties"])
    responses = spec["paths"]["/api/v1/events"]["get"]["responses"]
    assert "text/event-stream" in responses["200"]["content"] and "410" in responses


"""GC reclaims what nothing references, whichever way it came to be unreferenced: the
chunks of a file uploaded through a chunk session and then deleted (the completed
session's part rows used to pin them forever), and the blobs of an upload whose commit
was refused for a reason other than quota (a failed precondition)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator

import pytest

from tests.support.api import ApiClient
from tests.support.clusters import FAST_GC, module_cluster
from tests.support.db import query
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "gcreclaim", workers=3, chunk_size=1 * MiB,
                        master_env=FAST_GC) as running:
        yield running  # the package's `api` fixture registers a user on this cluster


def _chunk_rows(cluster: LocalCluster, chunk_ids: list[str]) -> list[str]:
    return [r["chunk_id"] for r in query(
        cluster.spec.database_url, "SELECT chunk_id FROM chunks WHERE chunk_id = ANY(%s)",
        (chunk_ids,))]


async def test_a_file_uploaded_in_parts_and_deleted_is_collected(
    cluster: LocalCluster, api: ApiClient
) -> None:
    parts = [os.urandom(MiB), os.urandom(MiB // 2)]
    chunk_ids = [hashlib.sha256(p).hexdigest() for p in parts]
    status, body = await api.call("POST", "/api/v1/files/upload/init", json={
        "file_name": "parts.bin", "file_size": sum(map(len, parts)),
        "sha256": hashlib.sha256(b"".join(parts)).hexdigest()})
    assert status == 201, body
    session_id = body["data"]["session_id"]
    for index, data in enumerate(parts):
        status, body = await api.call(
            "PUT", f"/api/v1/files/upload/{session_id}/chunks/{index}", data=data)
        assert status == 200, body
    status, body = await api.call("POST", f"/api/v1/files/upload/{session_id}/complete")
    assert status == 201, body
    status, state = await api.call("GET", f"/api/v1/files/upload/{session_id}")
    assert status == 200 and state["data"]["state"] == "completed", state
    assert (state["data"]["received"], state["data"]["bytes_received"]) == (
        [0, 1], sum(map(len, parts)))
    assert query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM upload_session_parts WHERE session_id = %s",
                 (session_id,)) == [{"n": 0}]
    assert sorted(_chunk_rows(cluster, chunk_ids)) == sorted(chunk_ids)

    assert (await api.fs("DELETE", api.home_bucket, "parts.bin"))[0] == 200
    assert await eventually(lambda: not _chunk_rows(cluster, chunk_ids), timeout_s=60)


async def test_the_blobs_of_an_upload_refused_by_a_precondition_are_collected(
    cluster: LocalCluster, api: ApiClient
) -> None:
    assert (await api.upload_raw(b"first", "taken.txt"))[0] == 201
    refused = os.urandom(64 * 1024)
    chunk_id = hashlib.sha256(refused).hexdigest()
    async with api.session.put(api.fs_url("taken.txt"), data=refused,
                               headers={**api.auth, "If-None-Match": "*"}) as r:
        assert r.status == 412, await r.text()
    # Written to the workers before the commit was refused: recorded for GC at once,
    # referenced by nothing, then collected (blobs first, the row last).
    assert _chunk_rows(cluster, [chunk_id]) == [chunk_id]
    assert query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM version_chunks WHERE chunk_id = %s",
                 (chunk_id,)) == [{"n": 0}]
    assert await eventually(lambda: not _chunk_rows(cluster, [chunk_id]), timeout_s=60)
    status, body, _ = await api.read(api.home_bucket, "taken.txt")
    assert (status, body) == (200, b"first")

"""Small uploads' versions are committed in groups (master/metadata/version_commit.py).

Concurrent small uploads share transactions (proved by the xmin of their version rows),
each still gets exactly its own bytes, overwrites of one path still leave one version,
and a version that cannot be committed fails alone while the rest of its group lands.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from master.domain.records import NewVersion
from master.metadata.files import FilesRepository
from master.metadata.pool import open_database
from tests.support.api import ApiClient
from tests.support.db import query
from tools.cluster import LocalCluster


async def _get(api: ApiClient, path: str) -> bytes:
    async with api.session.get(api.fs_url(f"{path}"), headers=api.auth) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.read()


def _owner_of(cluster: LocalCluster, path: str) -> tuple[int, int]:
    """(owner id, bucket id) of the file at ``path``."""
    rows = query(cluster.spec.database_url,
                 "SELECT owner_id, bucket_id FROM files WHERE path = %s", (path,))
    return int(rows[0]["owner_id"]), int(rows[0]["bucket_id"])


async def test_concurrent_small_uploads_share_transactions_and_keep_their_bytes(
    api: ApiClient, cluster: LocalCluster
) -> None:
    prefix = f"group/{uuid.uuid4().hex[:8]}"
    bodies = {f"{prefix}/{i}": os.urandom(4096 + i) for i in range(48)}
    results = await asyncio.gather(*(api.upload_raw(b, p) for p, b in bodies.items()))
    assert [status for status, _ in results] == [201] * len(bodies)
    for path, body in bodies.items():
        assert await _get(api, path) == body
    rows = query(
        cluster.spec.database_url,
        "SELECT count(*) AS versions, count(DISTINCT v.xmin::text) AS transactions"
        " FROM files f JOIN file_versions v ON v.id = f.current_version_id"
        " WHERE f.path LIKE %s",
        (prefix + "/%",),
    )
    assert rows[0]["versions"] == len(bodies)
    assert rows[0]["transactions"] < len(bodies)  # some commits went in together


async def test_concurrent_overwrites_of_one_path_leave_one_whole_version(
    api: ApiClient, cluster: LocalCluster
) -> None:
    path = f"group/{uuid.uuid4().hex[:8]}/same"
    bodies = [os.urandom(3000) for _ in range(12)]
    others = [api.upload_raw(os.urandom(100), f"{path}-other-{i}") for i in range(12)]
    results = await asyncio.gather(*(api.upload_raw(b, path) for b in bodies), *others)
    assert [status for status, _ in results] == [201] * len(results)
    assert await _get(api, path) in bodies
    rows = query(cluster.spec.database_url,
                 "SELECT count(*) AS n FROM file_versions v JOIN files f ON f.id = v.file_id"
                 " WHERE f.path = %s", (path,))
    assert rows[0]["n"] == 1


async def test_a_version_that_cannot_commit_fails_alone_and_its_group_lands(
    api: ApiClient, cluster: LocalCluster
) -> None:
    marker = f"group/{uuid.uuid4().hex[:8]}"
    status, _ = await api.upload_raw(b"x", f"{marker}/owner")
    assert status == 201
    owner, bucket_id = _owner_of(cluster, f"{marker}/owner")
    db = await open_database(cluster.spec.database_url, min_size=1, max_size=4)
    files = FilesRepository(db)
    try:
        def version(path: str, hint: str = "Auto") -> NewVersion:
            return NewVersion(owner_id=owner, bucket_id=bucket_id, path=path, size=0,
                              sha256="0" * 64,
                              chunk_size=1024, mode="C", hint=hint, chunks=[])

        # The first commit starts at once; the six behind it go as one group, which
        # fails on the bad hint, so each of the six commits alone.
        good = [version(f"{marker}/ok-{i}") for i in range(6)]
        bad = version(f"{marker}/bad", hint="NotAHint")  # violates the CHECK constraint
        outcomes = await asyncio.gather(
            *(files.commit_version(v, 3) for v in [*good[:3], bad, *good[3:]]),
            return_exceptions=True,
        )
    finally:
        await files.close()
        await db.close()
    assert [isinstance(o, uuid.UUID) for o in outcomes] == [True] * 3 + [False] + [True] * 3
    assert "check" in str(outcomes[3]).lower()
    rows = query(cluster.spec.database_url,
                 "SELECT path FROM files WHERE path LIKE %s ORDER BY path", (marker + "/%",))
    assert [r["path"] for r in rows] == sorted([f"{marker}/owner", *(v.path for v in good)])


"""Usage counters on real PostgreSQL (migration 0010), through the master's repositories.

The counters are changed by triggers in the transaction of every change; these tests
drive every write path the master has (lone and group commits, deletes and delete
markers, moves and copies within and across buckets, restores, retention, recursive
and bucket deletes) and compare the counters with a full recount of the file versions.
No workers: a version's chunks are rows only, which is all the counters look at.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from common.chunks import Codec
from common.errors import Conflict, NotFound, QuotaExceeded
from common.migrate import apply_migrations
from master.domain.records import ChunkPlacement, NewVersion
from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.pool import MIGRATIONS_DIR, Database
from master.metadata.tasks import TasksRepository
from master.metadata.usage import UsageRepository
from master.metadata.users import UsersRepository
from tests.support.db import query

pytestmark = pytest.mark.timeout(120)

N = 3


def _chunk(seed: str, size: int) -> ChunkPlacement:
    return ChunkPlacement(hashlib.sha256(seed.encode()).hexdigest(), size, size, Codec.RAW,
                          "b" * 64)


def _version(bucket_id: int, owner_id: int, path: str, size: int, *,
             seed: str | None = None) -> NewVersion:
    chunk = _chunk(seed or f"{path}-{size}-{uuid.uuid4()}", size)
    return NewVersion(owner_id=owner_id, path=path, size=size, sha256=chunk.chunk_id,
                      chunk_size=1 << 20, mode="C", hint="Auto", chunks=[chunk],
                      bucket_id=bucket_id)


async def _user(db: Database, name: str) -> tuple[int, int]:
    user = await UsersRepository(db).create(name, "x", False)
    return user.id, user.home_bucket_id


def _counter(pg_url: str, scope: str, scope_id: int) -> tuple[int, int]:
    (row,) = query(pg_url, "SELECT bytes, files FROM usage_counters WHERE scope = %s"
                           " AND scope_id = %s", (scope, scope_id))
    return int(row["bytes"]), int(row["files"])


async def test_counters_equal_a_full_recount_after_a_random_sequence_of_operations(
    db: Database, pg_url: str
) -> None:
    rng = random.Random(20261206)
    files, namespace = FilesRepository(db), NamespaceRepository(db)
    buckets, usage, tasks = BucketsRepository(db), UsageRepository(db), TasksRepository(db)
    alice, alice_home = await _user(db, "alice")
    bob, bob_home = await _user(db, "bob")
    versioned = (await buckets.create("versioned-a", alice, {"versioning": True})).id
    kept = (await buckets.create("kept-b", bob, {"versioning": True,
                                                 "keep_versions": 2})).id
    owners = {alice_home: alice, versioned: alice, bob_home: bob, kept: bob}
    spare = (await buckets.create("spare-a", alice, {})).id
    owners[spare] = alice
    paths = ["a", "b", "d/x", "d/y", "d/e/z", "f"]
    counts: dict[str, int] = {}

    def pick_bucket() -> int:
        return rng.choice(list(owners))

    async def live_file(bucket_id: int) -> tuple[uuid.UUID, str] | None:
        rows = query(pg_url, "SELECT f.id, f.path FROM files f JOIN file_versions v"
                             " ON v.id = f.current_version_id AND NOT v.deleted"
                             " WHERE f.bucket_id = %s ORDER BY f.path", (bucket_id,))
        if not rows:
            return None
        row = rng.choice(rows)
        return row["id"], row["path"]

    for step in range(300):
        op = rng.choice(["put", "put", "put", "group", "delete", "move", "copy", "restore",
                         "sweep", "rmtree", "dedup"])
        bucket_id = pick_bucket()
        counts[op] = counts.get(op, 0) + 1
        try:
            if op in ("put", "dedup"):
                seed = "shared" if op == "dedup" else None
                await files.commit_version(_version(
                    bucket_id, owners[bucket_id], rng.choice(paths), rng.randint(0, 5000),
                    seed=seed), N)
            elif op == "group":
                batch = rng.sample(paths, 3)
                await asyncio.gather(*(files.commit_version(_version(
                    bucket_id, owners[bucket_id], p, rng.randint(1, 3000)), N) for p in batch))
            elif op == "delete":
                found = await live_file(bucket_id)
                if found:
                    await namespace.delete_file(found[0], actor_id=None)
            elif op in ("move", "copy"):
                found = await live_file(bucket_id)
                target = pick_bucket()
                if found:
                    src = found[1].split("/")[0] if rng.random() < 0.3 else found[1]
                    run = namespace.move if op == "move" else namespace.copy
                    await run(bucket_id, src, target, f"m{step}/{src}",
                              overwrite=rng.random() < 0.5, actor_id=None)
            elif op == "restore":
                rows = query(pg_url, "SELECT v.file_id, v.id FROM file_versions v JOIN files f"
                                     " ON f.id = v.file_id WHERE f.bucket_id = %s"
                                     " AND NOT v.deleted", (bucket_id,))
                if rows:
                    row = rng.choice(rows)
                    await namespace.restore(row["file_id"], row["id"], actor_id=None)
            elif op == "sweep":
                query(pg_url, "UPDATE file_versions SET created_at = now() - interval '3 days'"
                              " WHERE id IN (SELECT id FROM file_versions ORDER BY random()"
                              " LIMIT 3) RETURNING id")
                await buckets.update(versioned, {"keep_days": rng.choice([1, None])})
                await namespace.sweep_retention(50)
            elif op == "rmtree":
                await namespace.delete_batch(bucket_id, rng.choice(["d", "m1", ""]), 4,
                                             keep_history=rng.random() < 0.5,
                                             actor_id=None)
        except (Conflict, NotFound):
            pass  # a move onto a directory, a copy of a marker-only path: refused, fine
        assert await usage.drift() == [], (step, op)

    # A bucket delete (its files first, as the task does, then the row) and a cascade.
    while not (await namespace.delete_batch(spare, "", 7, actor_id=None))[1]:
        pass
    async with db.transaction() as conn:
        await tasks.drop_bucket(conn, spare)
        await tasks.drop_bucket(conn, versioned)  # cascades to its files and versions
    assert await usage.drift() == []
    assert set(counts) >= {"put", "group", "delete", "move", "copy", "restore", "sweep",
                           "rmtree", "dedup"}, counts
    user_bytes = sum(_counter(pg_url, "bucket", b)[0] for b in (alice_home,))
    assert _counter(pg_url, "user", alice)[0] == user_bytes


async def test_a_commit_over_a_bucket_quota_is_refused_and_stores_nothing(
    db: Database, pg_url: str
) -> None:
    files, buckets = FilesRepository(db), BucketsRepository(db)
    owner, home = await _user(db, "carol")
    await buckets.update(home, {"quota_bytes": 1000, "quota_files": 3})
    await files.commit_version(_version(home, owner, "one", 600), N)
    refused = _version(home, owner, "two", 401)
    with pytest.raises(QuotaExceeded) as caught:
        await files.commit_version(refused, N)
    assert caught.value.details | {"name": None} == {
        "scope": "bucket", "name": None, "used_bytes": 600, "used_files": 1,
        "adding_bytes": 401, "adding_files": 1, "quota_bytes": 1000, "quota_files": 3}
    assert query(pg_url, "SELECT path FROM files WHERE bucket_id = %s", (home,)) == [
        {"path": "one"}]
    # Its chunk is a row nothing references: GC's to take after the grace period.
    (chunk,) = query(pg_url, "SELECT chunk_id, (SELECT count(*) FROM version_chunks vc"
                             " WHERE vc.chunk_id = c.chunk_id) AS refs FROM chunks c"
                             " WHERE chunk_id = %s", (refused.chunks[0].chunk_id,))
    assert chunk["refs"] == 0
    # Exactly to the quota is fine; an overwrite is counted net of what it replaces.
    await files.commit_version(_version(home, owner, "two", 400), N)
    await files.commit_version(_version(home, owner, "one", 599), N)
    await files.commit_version(_version(home, owner, "one", 600), N)
    assert _counter(pg_url, "bucket", home) == (1000, 2)
    await files.commit_version(_version(home, owner, "three", 0), N)
    with pytest.raises(QuotaExceeded):  # a fourth file
        await files.commit_version(_version(home, owner, "four", 0), N)


async def test_a_lowered_quota_refuses_growth_but_never_a_shrink_or_a_delete(
    db: Database, pg_url: str
) -> None:
    files, buckets = FilesRepository(db), BucketsRepository(db)
    namespace = NamespaceRepository(db)
    owner, home = await _user(db, "dave")
    first = await files.commit_version(_version(home, owner, "big", 5000), N)
    await files.commit_version(_version(home, owner, "other", 10), N)
    await buckets.update(home, {"quota_bytes": 100})  # far below the usage
    with pytest.raises(QuotaExceeded):
        await files.commit_version(_version(home, owner, "other", 11), N)
    await files.commit_version(_version(home, owner, "big", 4000), N)  # shrinks: fine
    assert await namespace.delete_file(first, actor_id=None) is not None
    assert _counter(pg_url, "bucket", home) == (10, 1)


async def test_a_user_quota_counts_every_bucket_the_user_owns(
    db: Database, pg_url: str
) -> None:
    files, buckets = FilesRepository(db), BucketsRepository(db)
    usage, namespace = UsageRepository(db), NamespaceRepository(db)
    owner, home = await _user(db, "erin")
    second = (await buckets.create("erin-two", owner, {})).id
    await usage.set_user_quota("erin", {"quota_bytes": 1000})
    await files.commit_version(_version(home, owner, "x", 700), N)
    with pytest.raises(QuotaExceeded) as caught:
        await files.commit_version(_version(second, owner, "y", 301), N)
    assert (caught.value.details["scope"], caught.value.details["name"]) == ("user", "erin")
    await files.commit_version(_version(second, owner, "y", 300), N)
    with pytest.raises(QuotaExceeded):  # a copy is new usage like any upload
        await namespace.copy(home, "x", second, "x2", overwrite=False, actor_id=None)
    # Same owner: no change.
    await namespace.move(home, "x", second, "x", overwrite=False, actor_id=None)
    assert (await usage.of_user(owner)).used_bytes == 1000
    assert _counter(pg_url, "bucket", second) == (1000, 2)


async def test_concurrent_commits_never_overshoot_a_quota(db: Database, pg_url: str) -> None:
    files, buckets = FilesRepository(db), BucketsRepository(db)
    owner, home = await _user(db, "fay")
    await buckets.update(home, {"quota_bytes": 10 * 100})
    results = await asyncio.gather(*(
        files.commit_version(_version(home, owner, f"f{i}", 100), N) for i in range(32)
    ), return_exceptions=True)
    committed = [r for r in results if isinstance(r, uuid.UUID)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(committed), len(refused)) == (10, 22), results
    assert _counter(pg_url, "bucket", home) == (1000, 10)
    assert await UsageRepository(db).drift() == []


async def test_migration_0010_backfills_counters_from_existing_versions(
    pg_url: str, tmp_path: Path
) -> None:
    for script in sorted(MIGRATIONS_DIR.glob("000*.sql")):
        shutil.copy(script, tmp_path / script.name)
    await apply_migrations(pg_url, "master", tmp_path)
    with psycopg.connect(pg_url, row_factory=dict_row, autocommit=True) as conn:
        user_id = conn.execute("INSERT INTO users (username, password_hash)"
                               " VALUES ('old', 'x') RETURNING id").fetchone()["id"]
        bucket = conn.execute("SELECT echofs_create_home_bucket(%s, 'old') AS name",
                              (user_id,)).fetchone()["name"]
        bucket_id = conn.execute("SELECT id FROM buckets WHERE name = %s",
                                 (bucket,)).fetchone()["id"]
        conn.execute("UPDATE buckets SET quota_bytes = 50 WHERE id = %s", (bucket_id,))
        for path, sizes in (("a", [10, 20]), ("b", [7])):
            file_id = uuid.uuid4()
            conn.execute("INSERT INTO files (id, owner_id, bucket_id, path) VALUES"
                         " (%s, %s, %s, %s)", (file_id, user_id, bucket_id, path))
            for size in sizes:
                conn.execute("INSERT INTO file_versions (id, file_id, size, sha256,"
                             " chunk_size, chunk_count, mode) VALUES (%s, %s, %s, '', 1, 0,"
                             " 'C')", (uuid.uuid4(), file_id, size))
        conn.execute("INSERT INTO file_versions (id, file_id, size, sha256, chunk_size,"
                     " chunk_count, mode, deleted) SELECT gen_random_uuid(), id, 0, '', 0, 0,"
                     " '', true FROM files WHERE path = 'b'")
    applied = await apply_migrations(pg_url, "master", MIGRATIONS_DIR)
    # 0010 first, then whatever later migrations exist (they run on the old data too).
    assert applied == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql")
                             if p.name >= "0010")
    rows = query(pg_url, "SELECT scope, bytes, files, quota_bytes FROM usage_counters"
                         " ORDER BY scope")
    assert rows == [{"scope": "bucket", "bytes": 37, "files": 3, "quota_bytes": 50},
                    {"scope": "user", "bytes": 37, "files": 3, "quota_bytes": None}]

"""A commit reads the rows of its batch, not the tables (master/metadata/keyed_plans.py,
migration 0019).

The master's connections prepare a commit's statements while the tables are small (a new
cluster), and PostgreSQL keeps those plans for the connection's life. Planned on small
tables, its choice was hash joins over whole-table scans of files and replicas, so once
the tables had grown every commit read all of them. These tests build the plans on a
fresh database, grow it, and count what one more commit reads, from PostgreSQL's own
per-table counters; the same for the batched lookup an upload makes before its bytes
flow and the one a download makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metadata.pool import Database, open_database
from master.metadata.version_commit import commit_versions
from tools.sample_versions import one_chunk_version, seed_owner

# Rows of files, file_versions and replicas one statement touching two files may read:
# its own rows, their index entries and the foreign keys' probes, with room to spare.
# The whole-table plans read thousands here.
ROWS_PER_BATCH_BOUND = 60
GROWN_FILES = 1500

_READ = (
    "SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0) AS n"
    " FROM pg_stat_user_tables WHERE relname IN ('files', 'file_versions', 'replicas')"
)


async def _rows_read(url: str, db: Database, work: Callable[[], Awaitable[Any]]) -> int:
    """Rows of files, file_versions and replicas that ``work`` read on ``db``'s one
    connection. A backend publishes its counters when it goes idle, at most once a
    second unless told otherwise: each reading is preceded by a statement on that
    connection asking for the next publication at once (``pg_stat_force_next_flush``)."""
    with psycopg.connect(url, autocommit=True) as reader:
        async def published() -> int:
            async with db.connection() as conn:
                await conn.execute("SELECT pg_stat_force_next_flush()")
            await asyncio.sleep(0.05)  # the backend publishes as it goes idle
            row = reader.execute(_READ).fetchone()
            assert row is not None
            return int(row[0])

        before = await published()
        await work()
        return await published() - before


async def test_commits_and_lookups_read_their_batch_after_the_tables_grew(
    pg_url: str,
) -> None:
    db = await open_database(pg_url, min_size=1, max_size=1)  # applies the migrations
    owner, bucket_id, bucket = seed_owner(pg_url, "planner")
    buckets, files = BucketsRepository(db), FilesRepository(db)
    try:
        for i in range(12):  # past psycopg's prepare threshold, on near-empty tables
            await commit_versions(db, [one_chunk_version(owner, bucket_id, f"warm/{i}"),
                                       one_chunk_version(owner, bucket_id, f"warm/x{i}")], 3)
            await buckets._with_file_ids([(bucket, f"warm/{i}"), (bucket, f"warm/y{i}")])
            await files._snapshots_by_path([(bucket, f"warm/{i}", None),
                                            (bucket, f"warm/x{i}", None)])
        for start in range(0, GROWN_FILES, 60):
            await commit_versions(db, [one_chunk_version(owner, bucket_id, f"grown/{i}")
                                       for i in range(start, start + 60)], 3)

        pair = [one_chunk_version(owner, bucket_id, "grown/7"),
                one_chunk_version(owner, bucket_id, "new/1")]
        committed = await _rows_read(pg_url, db, lambda: commit_versions(db, pair, 3))
        looked_up = await _rows_read(pg_url, db, lambda: buckets._with_file_ids(
            [(bucket, "grown/8"), (bucket, "new/2")]))
        snapshots = await _rows_read(pg_url, db, lambda: files._snapshots_by_path(
            [(bucket, "grown/9", None), (bucket, "grown/10", None)]))
    finally:
        await buckets.close()
        await files.close()
        await db.close()
    # Each read at least the row of the file that exists: zero would mean the counters
    # were not published in time, and the bounds below would pass without measuring.
    assert 0 < committed < ROWS_PER_BATCH_BOUND, committed
    assert 0 < looked_up < ROWS_PER_BATCH_BOUND, looked_up
    assert 0 < snapshots < ROWS_PER_BATCH_BOUND, snapshots

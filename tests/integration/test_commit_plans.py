"""A commit reads the rows of its batch, not the tables (master/metadata/keyed_plans.py,
migration 0019).

The master's connections prepare a commit's statements while the tables are small (a new
cluster), and PostgreSQL keeps those plans for the connection's life. Planned on small
tables, its choice was hash joins over whole-table scans of files and replicas, so once
the tables had grown every commit read all of them. These tests build the plans on a
fresh database, grow it, and count what one more commit reads, from PostgreSQL's own
per-table counters; the same for the batched lookups an upload makes before its bytes
flow (bucket and file id, chunk holders) and the one a download makes.

Left to choose, PostgreSQL also re-planned the batched lookups at every execution (a
custom plan for 2-6 keys looks cheaper than the generic plan's 10-row guess, and costs
its planning each time): they run in functions (migration 0021) that carry the commit
function's settings, which the last test checks against ``keyed_plans.PLAN_SETTINGS``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metadata.keyed_plans import PLAN_SETTINGS
from master.metadata.pool import Database, open_database
from master.metadata.replicas import ReplicasRepository
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
    buckets, files, replicas = BucketsRepository(db), FilesRepository(db), ReplicasRepository(db)
    try:
        for i in range(12):  # past psycopg's prepare threshold, on near-empty tables
            await commit_versions(db, [one_chunk_version(owner, bucket_id, f"warm/{i}"),
                                       one_chunk_version(owner, bucket_id, f"warm/x{i}")], 3)
            await buckets._with_file_ids([(bucket, f"warm/{i}"), (bucket, f"warm/y{i}")])
            await files._snapshots_by_path([(bucket, f"warm/{i}", None),
                                            (bucket, f"warm/x{i}", None)])
            await replicas._holders_for_writes([f"{i:064x}", f"{i + 100:064x}"])
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
        grown_chunk = pair[0].chunks[0].chunk_id  # committed above, with three copies
        holders_read = await _rows_read(pg_url, db, lambda: replicas._holders_for_writes(
            [grown_chunk, f"{7:064x}"]))
        holders = await replicas._holders_for_writes([grown_chunk, f"{7:064x}"])
    finally:
        await buckets.close()
        await files.close()
        await replicas.close()
        await db.close()
    # Each read at least the row of the file that exists: zero would mean the counters
    # were not published in time, and the bounds below would pass without measuring.
    assert 0 < committed < ROWS_PER_BATCH_BOUND, committed
    assert 0 < looked_up < ROWS_PER_BATCH_BOUND, looked_up
    assert 0 < snapshots < ROWS_PER_BATCH_BOUND, snapshots
    assert 0 < holders_read < ROWS_PER_BATCH_BOUND, holders_read
    assert holders == [(True, ["w1", "w2", "w3"]), (False, [])]


def _settings(config: list[str] | None) -> dict[str, str]:
    return dict(item.split("=", 1) for item in config or [])


async def test_keyed_functions_carry_the_commits_planner_settings(pg_url: str) -> None:
    """The commit and the batched lookups plan as keyed_plans.plan_by_key says: one
    generic plan, index probes. A function that lost a setting would still answer right,
    only dearer, so nothing else would notice."""
    await (await open_database(pg_url, min_size=1, max_size=1)).close()  # the migrations
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)",
            (["echofs_commit_versions", "echofs_download_snapshots", "echofs_upload_targets",
              "echofs_touch_chunks"],)).fetchall()
    assert len(rows) == 4, rows
    for name, config in rows:
        assert _settings(config) == PLAN_SETTINGS, name

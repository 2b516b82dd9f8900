"""Plan a write transaction's statements as lookups by key, whatever the statistics say.

A commit, an upload session's progress and a multipart part touch only
the rows of their batch, at most a few dozen, each found by a key (a file by bucket and
path, a chunk or replica row by chunk id). PostgreSQL cannot see that: it estimates
``unnest`` of a parameter array at 10 rows, and with a small table or statistics taken
while it was small (a new cluster, a fast-growing bucket) it plans a hash join over a
whole-table scan of files, file_versions or replicas instead of ten index probes. The
plan psycopg prepares (after five executions) keeps that shape for the connection's
life, so every commit then reads every file, version and replica row: in the benchmark
(~2,000 files, ~6,000 replica rows) about 1,500 rows read per 4 KiB upload, and the
repair-row statement alone spent ~1 ms scanning replicas.

``plan_by_key`` turns the planner's sequential scans, hash and merge joins off for the
rest of the caller's transaction only (``set_config(..., true)`` is ``SET LOCAL``), so
the plans built there — and kept — are index probes. The settings penalise rather than
forbid: a statement with no index to use (a trigger's transition table) still runs.

It also makes those statements use their one generic plan (``plan_cache_mode``). Left to
choose, PostgreSQL re-planned several of them at every execution: the generic plan's
10-row estimate costs more than a custom plan for the real 1-3 rows, so the custom plan
"won" each time and was paid for each time (``pg_prepared_statements``: the parent
lock, the clash check and the current-version update 96-145 custom plans out of 145).
Forced generic, a lone commit's backend CPU fell from 2.15-2.47 to 1.38-1.65 ms
(``bench.lone_commit_cost``, two alternating pairs). Parameters cannot change what the
right plan is here: every statement probes the batch's own keys.

A session's or a multipart part's transaction calls it (one short round trip per
part), and so does the transaction that records late copies (one more statement in its
pipeline). A version commit runs inside PostgreSQL, in migration 0019's
``echofs_commit_versions``, whose SET clauses are these same four settings: they hold
for the function's statements and the functions it calls, and end with it. The batched
lookups of a small request (download snapshots, upload targets, chunk holders) are
migration 0021's functions, with the same SET clauses: re-planned at each execution,
the snapshot lookup cost 0.9-1.1 ms of backend CPU for 3 keys, planned once 0.23-0.26.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncCursor

__all__ = ["PLAN_BY_KEY", "PLAN_SETTINGS", "plan_by_key"]

# The settings, by name; the SQL functions of migrations 0019 and 0021 carry the same
# (tests/integration/test_commit_plans.py compares them with these).
PLAN_SETTINGS = {
    "enable_seqscan": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "plan_cache_mode": "force_generic_plan",
}

PLAN_BY_KEY = "SELECT " + ", ".join(
    f"set_config('{name}', '{value}', true)" for name, value in PLAN_SETTINGS.items()
)


async def plan_by_key(cur: AsyncCursor[Any]) -> None:
    """Plan the rest of ``cur``'s transaction as lookups by key (see the module)."""
    await cur.execute(PLAN_BY_KEY)

"""What one lone version commit costs (issue 14's regression, issue 19.2).

A lone commit is ``version_commit.commit_versions`` with one version: what an upload that
reaches an idle commit queue, a session completion or a conditional write pays. This runs
the real function (one pooled connection, so one PostgreSQL backend) against an embedded
server and reports, per commit, the master-side CPU (``time.process_time`` of this
process: psycopg's dumping, the pipeline, our Python) and the backend's CPU (/proc, 10 ms
ticks summed over many commits), for new files and for overwrites, in alternating rounds.

    .venv/bin/python -m bench.lone_commit_cost [--rounds 4] [--commits 400]

Never run as a test. On the shared 2-core machine read medians and spreads.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common.embedded import EmbeddedPostgres
from master.metadata.pool import Database, open_database
from master.metadata.version_commit import commit_versions
from tools.databases import create_database
from tools.sample_versions import one_chunk_version, seed_owner

__all__ = ["main"]

_TICK_MS = 10.0


def _backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_MS


async def _run(db: Database, owner_id: int, bucket_id: int, pid: int, commits: int,
               overwrite: bool) -> tuple[float, float]:
    """(client CPU ms, backend CPU ms) per commit."""
    prefix = uuid.uuid4().hex[:8]
    paths = [f"{prefix}/d/{i}.bin" for i in range(commits)]
    if overwrite:
        for path in paths:
            await commit_versions(db, [one_chunk_version(owner_id, bucket_id, path)], 3)
    cpu0, backend0 = time.process_time(), _backend_cpu_ms(pid)
    for path in paths:
        await commit_versions(db, [one_chunk_version(owner_id, bucket_id, path)], 3)
    client_ms = (time.process_time() - cpu0) * 1000 / commits
    return client_ms, (_backend_cpu_ms(pid) - backend0) / commits


async def _bench(url: str, rounds: int, commits: int) -> None:
    db = await open_database(url, min_size=1, max_size=1)
    try:
        owner, bucket, _ = seed_owner(url, "u")
        async with db.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid() AS p")).fetchone()
            assert row is not None
            pid = int(row["p"])
        results: dict[str, list[tuple[float, float]]] = {"new": [], "overwrite": []}
        for round_no in range(rounds):
            kinds = ("new", "overwrite") if round_no % 2 == 0 else ("overwrite", "new")
            for kind in kinds:
                results[kind].append(
                    await _run(db, owner, bucket, pid, commits, kind == "overwrite"))
        for kind, runs in results.items():
            client = [r[0] for r in runs]
            backend = [r[1] for r in runs]
            sys.stdout.write(
                f"{kind:9s} client CPU {statistics.median(client):.3f} ms/commit"
                f" ({min(client):.3f}-{max(client):.3f}), backend CPU"
                f" {statistics.median(backend):.3f} ms/commit"
                f" ({min(backend):.3f}-{max(backend):.3f})\n")
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--commits", type=int, default=400)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="lone-commit-"))
    server = EmbeddedPostgres(scratch / "pg")
    try:
        url = create_database(server.start())
        asyncio.run(_bench(url, args.rounds, args.commits))
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

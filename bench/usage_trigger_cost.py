"""What migration 0010's usage triggers cost PostgreSQL per commit (issue 17).

``bench.quota_cost`` measures whole clusters; on this shared 2-core machine its rounds
swing by more than the triggers cost. This measures the one process the triggers run
in: the PostgreSQL backend's CPU time per commit-shaped transaction, on three databases
of one embedded server, round by round alternately:

- ``before``: migrations without 0010 (no counters);
- ``after``: with 0010, no quota (the counting triggers run);
- ``after+quota``: with 0010 and a bucket quota (the COMMIT-time check runs too).

A transaction = ``--files`` new files, each with a version made current, then an
overwrite of each (new version, old one deleted): the statements a lone (``--files 1``)
or group (``--files 64``) commit runs. Both databases get an index on
``files(current_version_id)``, so the deferred FK check of a deleted version does not
seq-scan ``files`` (a cost that exists without 0010 and would swamp the figures).

    .venv/bin/python -m bench.usage_trigger_cost [--rounds 4] [--files 1,64]

Never run as a test. Backend CPU comes from /proc (10 ms ticks, summed over many
transactions); read the medians and the spread, not single rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from common.embedded import EmbeddedPostgres
from common.migrate import apply_migrations
from master.metadata.pool import MIGRATIONS_DIR
from tools.databases import create_database

__all__ = ["main"]

_TICK_MS = 10.0


def _backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_MS


class _Db:
    def __init__(self, server_url: str, with_quotas: bool, scratch: Path) -> None:
        self.url = create_database(server_url)
        folder = scratch / uuid.uuid4().hex
        folder.mkdir()
        for script in sorted(MIGRATIONS_DIR.glob("*.sql")):
            if with_quotas or not script.name.startswith("0010"):
                shutil.copy(script, folder / script.name)
        asyncio.run(apply_migrations(self.url, "master", folder))
        self.conn: psycopg.Connection[Any] = psycopg.connect(
            self.url, row_factory=dict_row, autocommit=True)
        c = self.conn
        c.execute("CREATE INDEX ON files (current_version_id)")
        self.user_id = c.execute("INSERT INTO users (username, password_hash)"
                                 " VALUES ('u', 'x') RETURNING id").fetchone()["id"]  # type: ignore[index]
        c.execute("SELECT echofs_create_home_bucket(%s, 'u')", (self.user_id,))
        self.bucket_id = c.execute("SELECT id FROM buckets").fetchone()["id"]  # type: ignore[index]
        self.pid = c.execute("SELECT pg_backend_pid() AS p").fetchone()["p"]  # type: ignore[index]

    def run(self, files: int, transactions: int, quota: int | None) -> float:
        """Backend CPU milliseconds per transaction."""
        c = self.conn
        c.execute("UPDATE buckets SET quota_bytes = %s", (quota,))
        before = _backend_cpu_ms(self.pid)
        for _ in range(transactions):
            with c.transaction():
                paths = [str(uuid.uuid4()) for _ in range(files)]
                c.execute("INSERT INTO files (id, owner_id, bucket_id, path) SELECT"
                          " gen_random_uuid(), %s, %s, unnest(%s::text[])",
                          (self.user_id, self.bucket_id, paths))
                for _ in range(2):  # create, then overwrite
                    c.execute(
                        "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size,"
                        " chunk_count, mode) SELECT gen_random_uuid(), f.id, 4096, 'x', 1, 1,"
                        " 'C' FROM files f WHERE f.bucket_id = %s AND f.path = ANY(%s)",
                        (self.bucket_id, paths))
                    c.execute(
                        "DELETE FROM file_versions v USING files f WHERE f.id = v.file_id"
                        " AND f.bucket_id = %s AND f.path = ANY(%s)"
                        " AND f.current_version_id IS NOT NULL"
                        " AND v.id <> f.current_version_id", (self.bucket_id, paths))
                    c.execute(
                        "UPDATE files f SET current_version_id = (SELECT v.id FROM"
                        " file_versions v WHERE v.file_id = f.id ORDER BY v.seq DESC LIMIT 1)"
                        " WHERE f.bucket_id = %s AND f.path = ANY(%s)",
                        (self.bucket_id, paths))
        return (_backend_cpu_ms(self.pid) - before) / transactions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--files", default="1,64", help="files per transaction, a list")
    args = parser.parse_args()
    sizes = [int(n) for n in args.files.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="usage-cost-"))
    server = EmbeddedPostgres(scratch / "pg")
    try:
        url = server.start()
        plain, counted = _Db(url, False, scratch), _Db(url, True, scratch)
        configs = (("before", plain, None), ("after", counted, None),
                   ("after+quota", counted, 10**15))
        results: dict[tuple[str, int], list[float]] = {}
        for round_no in range(args.rounds):
            order = configs if round_no % 2 == 0 else tuple(reversed(configs))
            for files in sizes:
                for label, db, quota in order:
                    ms = db.run(files, 300 if files == 1 else 40, quota)
                    results.setdefault((label, files), []).append(ms)
        for files in sizes:
            for label, _, _ in configs:
                runs = results[(label, files)]
                median = statistics.median(runs)
                sys.stdout.write(
                    f"{files:3d} files/txn  {label:12s} backend CPU {median:7.3f} ms/txn"
                    f" ({median / files:.3f} per file)  rounds {[round(r, 2) for r in runs]}\n")
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

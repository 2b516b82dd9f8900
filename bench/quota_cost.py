"""What usage counting and quota checks cost small files (issue 17 on issue 19's path).

One round = one fresh EchoFS cluster as ``bench.compare`` runs it (shipped profile,
embedded PostgreSQL and Redis, 3 workers, N = 3) and ``bench.compare``'s small-file
phases: ``small-write`` (fresh 4 KiB files, 16 at a time), ``small-read`` and ``mixed``
(70 % reads). With ``--quota`` the bench user and its bucket get quotas far above what
the run stores, so every commit also runs the commit-time check. One JSON line per phase
goes to stdout: ops/s and the CPU milliseconds per operation of each server process.

To compare code trees (before / after a change), run rounds alternately from each tree
(``cd <tree> && .venv/bin/python -m bench.quota_cost --label before``), so the shared
machine's drift falls on both sides, and compare medians of ``cpu_ms_per_op``. Never run
as a test; read the ratios, not the absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys

import aiohttp

from bench.compare import SMALL_CONCURRENCY, SMALL_SIZE, VAR, echofs_system
from bench.workloads import MiB, Stamper, get_op, large_payloads, measure_phase, put_op

__all__ = ["main"]


async def _set_quotas(base_url: str, headers: dict[str, str]) -> None:
    """Quotas on the bench bucket and user, far above the run (the check runs, passes)."""
    master = base_url.split("/api/v1/fs/")[0]
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.patch(f"{master}/api/v1/buckets/bench",
                                 json={"quota_bytes": 2**50, "quota_files": 10**9}) as r:
            assert r.status == 200, await r.text()
        async with session.patch(f"{master}/api/v1/admin/users/bench",
                                 json={"quota_bytes": 2**50, "quota_files": 10**9}) as r:
            assert r.status == 200, await r.text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="run", help="names the code tree in the output")
    parser.add_argument("--quota", action="store_true", help="set quotas before the load")
    parser.add_argument("--count", type=int, default=2000, help="files per phase")
    args = parser.parse_args()
    os.environ.setdefault("BENCH_ECHOFS_PROFILE", "shipped")
    # The bench user is an admin in every round (it may set its own user quota), so the
    # rounds with and without --quota differ only in the quotas.
    os.environ["ADMIN_USERS"] = "bench"
    stamper = Stamper()
    with echofs_system(VAR / "quota-cost") as (target, pids):
        if args.quota:
            asyncio.run(_set_quotas(target.base_url, target.headers))
        warm = large_payloads("random", 1, 4 * MiB, stamper)[0]
        measure_phase([put_op(target, f"warmup/w{i}", warm) for i in range(2)], 1, pids)
        keys = [f"small/f-{i:05d}" for i in range(args.count)]
        rng = random.Random(1)
        order = keys[:]
        rng.shuffle(order)
        mixed = [get_op(target, rng.choice(keys), SMALL_SIZE) if rng.random() < 0.7
                 else put_op(target, f"mixed/n-{i:05d}", os.urandom(SMALL_SIZE))
                 for i in range(args.count)]
        phases = {
            "small-write": [put_op(target, k, os.urandom(SMALL_SIZE)) for k in keys],
            "small-read": [get_op(target, k, SMALL_SIZE) for k in order],
            "mixed": mixed,
        }
        for name, ops in phases.items():
            result = measure_phase(ops, SMALL_CONCURRENCY, pids).as_dict()
            line = {"label": args.label, "quota": args.quota, "phase": name,
                    "ops_s": round(float(result["ops_s"]), 1),  # type: ignore[arg-type]
                    "cpu_ms_per_op": {k: round(v, 3) for k, v in
                                      result["cpu_ms_per_op"].items()},  # type: ignore[attr-defined]
                    "load": os.getloadavg()[0]}
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

"""What one small request costs the cluster: CPU per operation and PostgreSQL round trips.

    .venv/bin/python -m bench.small_cost [--rounds 4] [--count 2000] [--spy] [--trips]

Runs only ``bench.compare``'s small-file phases (4 KiB writes, reads, 70/30 mixed, at
concurrency 16) against a fresh cluster per round (``bench.compare.echofs_system``, so
``BENCH_ECHOFS_PROFILE`` and ``BENCH_ECHOFS_TLS`` apply as there), and prints per phase
the throughput and the CPU milliseconds per operation of each server process and of the
load client. Throughput on this shared 2-core machine swings with other work; CPU per
operation and round trips per operation are the steadier figures, so read those first
and compare ops/s only as medians over rounds.

``--spy`` records the master and the workers with ``py-spy`` (the bench extra) during
the write and the read phase of the last round and prints their top frames (raw stacks
in ``bench/results/small-cost-*.txt``); py-spy costs CPU itself, so that round's
throughput is not comparable.

Every phase also reports PostgreSQL transactions per operation (``xacts``, from
``pg_stat_database``, less the idle cluster's own rate measured before the first
phase): each autocommit statement is one transaction and one round trip, and so is a
pipelined commit, so this is the master's round trips per request without slowing
anything down. PostgreSQL publishes a backend's counters up to ~10 s late, so each
phase is followed by a wait before they are read.

``--trips`` adds one more phase of writes and one of reads under
``strace -e sendto,recvfrom`` on the master and counts, per operation, its PostgreSQL
round trips (a burst of sends to the PostgreSQL socket answered by a receive: pipelined
statements count once) and its PostgreSQL send calls. strace slows the master a lot;
the counts, not the times, are what that phase is for.

The script uses only ``bench.compare``'s cluster and ``bench.workloads``' load client,
so the same file can be copied into an older tree to measure that tree (A/B runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.compare import RESULTS, VAR, echofs_system
from bench.workloads import get_op, measure_phase, put_op

__all__ = ["count_round_trips", "main"]

SMALL_SIZE = 4096
CONCURRENCY = 16
MIXED_READ_FRACTION = 0.7
TRIP_OPS = 300
STATS_LAG_S = 11.0  # PGSTAT_IDLE_INTERVAL (10 s) and a margin

# strace -yy prints a descriptor as 12<UNIX-STREAM:[123->456]> (or with a path); the
# master talks to the embedded PostgreSQL over its Unix socket and to nothing else so.
_CALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s*(sendto|recvfrom)\((\d+)<([^>]*)>")


def _tool(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found (py-spy: the bench extra; strace: apt)")
    return found


def count_round_trips(trace: str) -> tuple[int, int]:
    """(round trips, send calls) to Unix-socket peers in an ``strace -f -yy`` log.

    A round trip is a run of sends on one descriptor ended by a receive on it; a
    pipelined transaction (many statements, one flush) therefore counts once.
    """
    trips = sends = 0
    sending: dict[tuple[str, str], bool] = defaultdict(bool)
    for line in trace.splitlines():
        found = _CALL.match(line)
        if found is None or "UNIX" not in found.group(4):
            continue
        key = (found.group(1), found.group(3))
        if found.group(2) == "sendto":
            sends += 1
            sending[key] = True
        elif sending[key] and "EAGAIN" not in line:
            trips += 1
            sending[key] = False
    return trips, sends


def _xact_counter(base: Path) -> Callable[[], int]:
    """A function reading the embedded PostgreSQL's committed + rolled back transactions."""
    import psycopg

    lines = next(base.rglob("postmaster.pid")).read_text().splitlines()
    conn = psycopg.connect(host=lines[4], dbname="postgres", user="postgres", autocommit=True)

    def read() -> int:
        row = conn.execute("SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"
                           " WHERE datname = current_database()").fetchone()
        assert row is not None
        return int(row[0])

    return read


class _Xacts:
    """Transactions per operation of one phase, the idle cluster's own rate taken off."""

    def __init__(self, base: Path) -> None:
        self._read = _xact_counter(base)
        start, started = self._read(), time.monotonic()
        time.sleep(STATS_LAG_S)
        self.idle_per_s = (self._read() - start) / (time.monotonic() - started)
        print(f"  idle cluster: {self.idle_per_s:.1f} PostgreSQL transactions/s", flush=True)

    def measure(self, run: Callable[[], Any], ops: int) -> tuple[Any, float]:
        start, started = self._read(), time.monotonic()
        result = run()
        time.sleep(STATS_LAG_S)
        seen = self._read() - start - self.idle_per_s * (time.monotonic() - started)
        return result, max(seen, 0.0) / ops


def _phase_row(name: str, result: Any, xacts: float) -> dict[str, Any]:
    cpu = result.cpu_ms_per_op
    workers = sum(v for k, v in cpu.items() if k.startswith("worker"))
    row = {"phase": name, "ops_s": result.ops_s, "p50_ms": result.p50_ms, "xacts": xacts,
           "master": cpu.get("master", 0.0), "workers": workers,
           "postgres": cpu.get("postgres", 0.0), "redis": cpu.get("redis", 0.0),
           "controller": cpu.get("controller", 0.0), "client": cpu.get("client", 0.0),
           "servers": cpu.get("total_servers", 0.0)}
    print(f"  {name:12s} {row['ops_s']:7.1f} ops/s  CPU ms/op: master {row['master']:.2f}"
          f" workers {workers:.2f} postgres {row['postgres']:.2f} redis {row['redis']:.2f}"
          f" controller {row['controller']:.2f} | servers {row['servers']:.2f}"
          f" client {row['client']:.2f} | PostgreSQL xacts/op {xacts:.2f}", flush=True)
    return row


def _spy(pids: dict[str, int], label: str) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    spies = []
    for name, pid in pids.items():
        if name != "master" and not name.startswith("worker"):
            continue
        raw = RESULTS / f"small-cost-{label}-{name}.txt"
        spies.append((name, raw, subprocess.Popen(
            [_tool("py-spy"), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
             "--output", str(raw), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    time.sleep(1.0)  # let py-spy attach
    return spies


def _stop_spies(spies: list[tuple[str, Path, subprocess.Popen[bytes]]]) -> None:
    from bench.profile_echofs import summarize

    for _, _, proc in spies:
        proc.send_signal(2)
    for name, raw, proc in spies:
        proc.wait(timeout=120)
        print(f"  == py-spy {name} ({raw.name})")
        print(summarize(raw, top=25) if raw.exists() else "  (py-spy wrote nothing)")


def _trips(pid: int, label: str, ops: list[Any]) -> dict[str, float]:
    log = RESULTS / f"small-cost-strace-{label}.txt"
    tracer = subprocess.Popen(
        [_tool("strace"), "-f", "-qq", "-yy", "-e", "trace=sendto,recvfrom", "-e",
         "signal=none", "-s", "0", "-o", str(log), "-p", str(pid)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # attach to every thread
    measure_phase(ops, CONCURRENCY, {})
    time.sleep(0.5)
    tracer.send_signal(2)
    tracer.wait(timeout=60)
    trips, sends = count_round_trips(log.read_text())
    log.unlink()
    per_op = {"trips": trips / len(ops), "sends": sends / len(ops)}
    print(f"  {label:12s} PostgreSQL round trips per op {per_op['trips']:.2f}"
          f" (send calls {per_op['sends']:.2f}) over {len(ops)} ops", flush=True)
    return per_op


def run_round(index: int, count: int, mixed_ops: int, spy: bool, trips: bool,
              stamp: str) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    base = VAR / "small-cost"
    with echofs_system(base) as (target, pids):
        warm = os.urandom(SMALL_SIZE)
        measure_phase([put_op(target, f"warm/{i}", warm + b"%d" % i) for i in range(64)],
                      CONCURRENCY, pids)
        xacts = _Xacts(base)

        def phase(name: str, ops: list[Any]) -> None:
            spies = _spy(pids, name) if spy and name != "mixed" else []
            result, per_op = xacts.measure(lambda: measure_phase(ops, CONCURRENCY, pids),
                                           len(ops))
            rows[name] = _phase_row(name, result, per_op)
            if spies:
                _stop_spies(spies)

        keys = [f"r{index}-{stamp}/small/f-{i:05d}" for i in range(count)]
        phase("small-write", [put_op(target, k, os.urandom(SMALL_SIZE)) for k in keys])
        rng = random.Random(index)
        order = keys[:]
        rng.shuffle(order)
        phase("small-read", [get_op(target, k, SMALL_SIZE) for k in order])
        phase("mixed", [
            get_op(target, rng.choice(keys), SMALL_SIZE) if rng.random() < MIXED_READ_FRACTION
            else put_op(target, f"r{index}-{stamp}/mixed/n-{i:05d}", os.urandom(SMALL_SIZE))
            for i in range(mixed_ops)])
        if trips:
            fresh = [f"r{index}-{stamp}/trips/f-{i:05d}" for i in range(TRIP_OPS)]
            rows["trips-write"] = _trips(pids["master"], "write", [
                put_op(target, k, os.urandom(SMALL_SIZE)) for k in fresh])
            rows["trips-read"] = _trips(pids["master"], "read", [
                get_op(target, k, SMALL_SIZE) for k in fresh])
    return rows


def _summary(rounds: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for phase in ("small-write", "small-read", "mixed"):
        out[phase] = {}
        for field in ("ops_s", "master", "workers", "postgres", "servers", "client", "xacts"):
            values = [r[phase][field] for r in rounds]
            out[phase][field] = (f"{statistics.median(values):.2f} "
                                 f"({min(values):.2f}-{max(values):.2f})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--mixed", type=int, default=2000)
    parser.add_argument("--spy", action="store_true", help="py-spy the last round")
    parser.add_argument("--trips", action="store_true", help="count PostgreSQL round trips")
    parser.add_argument("--label", default="", help="name of the JSON result file")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rounds = []
    for index in range(args.rounds):
        last = index == args.rounds - 1
        print(f"round {index + 1}/{args.rounds} ({time.strftime('%H:%M:%S')},"
              f" load {os.getloadavg()[0]:.1f})", flush=True)
        rounds.append(run_round(index, args.count, args.mixed, args.spy and last,
                                args.trips and last, os.urandom(3).hex()))
    summary = _summary(rounds)
    for phase, fields in summary.items():
        print(f"{phase}: " + ", ".join(f"{k} {v}" for k, v in fields.items()))
    out = RESULTS / f"small-cost{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()

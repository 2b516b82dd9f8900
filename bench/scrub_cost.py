"""What the scrubber costs client traffic: small-file throughput of one worker, scrubber on
vs off (issue 19: at most 10 %).

One real worker process (local disk, volumes, mutual TLS: as ``make run-cluster`` runs
it) is given a populated store (``--blobs`` 4 KiB blobs and ``--large`` 4 MiB ones), then
restarted again and again on the same data, alternating modes round by round (A B, B A,
...), so drift of the shared machine falls on both sides:

- ``off``: ``WORKER_SCRUB_BYTES_PER_SECOND=0``;
- ``on``: the shipped scrubber settings (the background budget's defaults), with
  ``WORKER_SCRUB_PAUSE_SECONDS`` small so it scrubs without a break during the load;
- ``unpaced`` (only with ``--modes``): the scrubber limited by its byte rate alone (both
  shares 1.0), as it was before the budget;
- ``on@S`` (only with ``--modes``): ``on`` with ``WORKER_BACKGROUND_BUSY_SHARE=S``, to
  see how the cost follows the share.

In each run, after ``--settle`` seconds (the scrubber gets going), ``--streams`` clients
write fresh 4 KiB blobs in PutChunks batches of 16 (the master's path) for ``--seconds``,
then read random stored 4 KiB blobs for ``--seconds``; before the load, ``--idle``
seconds without clients show what the scrubber takes of an idle worker. Reported per
mode: median ops/s and the spread (min-max over rounds), the worker's CPU ms per
operation (scrubbing included), how many bytes the scrubber verified meanwhile (it must
have been working), the share of the load's wall time its steps took (as the budget
measured them) and how often it rested for client traffic; then the cost of ``on``
against ``off``: ratio of medians, and the median of the per-round ratios.

    .venv/bin/python -m bench.scrub_cost [--rounds 5] [--seconds 5] [--modes off,on]

Never run as a test. The load client shares the machine with the worker (and with
whatever else runs), so read the ratios, not the absolute rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import worker_bench
from bench.proc_stats import cpu_seconds
from common.embedded import free_port
from tools.workers import start_worker

__all__ = ["main"]

KiB = 1024
MiB = 1024 * KiB
WORKER_ID = "scrub-cost"
BASE_ENV = {"WORKER_VOLUMES": "1"}
MODES = {
    "off": {"WORKER_SCRUB_BYTES_PER_SECOND": "0"},
    "on": {"WORKER_SCRUB_PAUSE_SECONDS": "0.1"},
    "unpaced": {"WORKER_SCRUB_PAUSE_SECONDS": "0.1", "WORKER_BACKGROUND_IDLE_SHARE": "1",
                "WORKER_BACKGROUND_BUSY_SHARE": "1"},
}
BATCH = 16
BUSY_METRIC = "echofs_worker_background_busy_seconds_total"


@dataclass
class Run:
    mode: str
    round: int
    write_ops_s: float
    read_ops_s: float
    write_cpu_ms_per_op: float
    read_cpu_ms_per_op: float
    scrubbed_mib: float
    scrub_yields: float
    scrub_share_under_load: float
    idle_cpu_share: float
    idle_scrub_mib_s: float


def _mode_env(mode: str) -> dict[str, str]:
    name, _, busy_share = mode.partition("@")
    env = dict(MODES[name])
    if busy_share:
        env["WORKER_BACKGROUND_BUSY_SHARE"] = busy_share
    return env


def _metric(url: str, name: str) -> float:
    """Sum of a metric's samples (all label sets) in a Prometheus text page."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and line[len(name)] in " {")


async def _populate(address: str, small: list, large: list) -> None:
    await worker_bench._phase(address, 8, 3600, small, "put", BATCH)
    await worker_bench._phase(address, 2, 3600, large, "put")


async def _measure(address: str, streams: int, seconds: float, pid: int,
                   fresh: list, stored: list) -> tuple[float, float, float, float]:
    before = cpu_seconds(pid)
    writes, _, write_s, _ = await worker_bench._phase(
        address, streams, seconds, fresh, "put", BATCH)
    middle = cpu_seconds(pid)
    reads, _, read_s, _ = await worker_bench._phase(address, streams, seconds, stored, "get")
    after = cpu_seconds(pid)
    return (writes / write_s, reads / read_s, (middle - before) * 1000 / max(1, writes),
            (after - middle) * 1000 / max(1, reads))


def _run_once(base: Path, cluster_env: dict[str, str], mode: str, round_no: int,
              options: argparse.Namespace, stored: list) -> Run:
    metrics_port = free_port()
    env = {**BASE_ENV, **_mode_env(mode), "WORKER_METRICS_PORT": str(metrics_port)}
    proc, address = start_worker(base, WORKER_ID, cluster_env=cluster_env, extra_env=env,
                                 timeout_s=120)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        time.sleep(options.settle)
        # No clients: what the scrubber takes of an idle worker (CPU share of one core).
        idle_cpu, idle_scrubbed = cpu_seconds(proc.pid), _metric(url, "echofs_scrub_bytes_total")
        time.sleep(options.idle)
        idle_cpu = (cpu_seconds(proc.pid) - idle_cpu) / options.idle
        idle_scrubbed = (_metric(url, "echofs_scrub_bytes_total") - idle_scrubbed) / options.idle
        fresh = worker_bench._chunk_pool(4 * KiB)
        reads = random.sample(stored, len(stored))
        reads = reads * (1 + 20_000 // max(1, len(reads)))
        scrubbed = _metric(url, "echofs_scrub_bytes_total")
        yields = _metric(url, "echofs_worker_background_yields_total")
        busy, load_started = _metric(url, BUSY_METRIC), time.monotonic()
        write_ops, read_ops, write_cpu, read_cpu = asyncio.run(_measure(
            address, options.streams, options.seconds, proc.pid, fresh, reads))
        scrubbed = _metric(url, "echofs_scrub_bytes_total") - scrubbed
        yields = _metric(url, "echofs_worker_background_yields_total") - yields
        share = (_metric(url, BUSY_METRIC) - busy) / (time.monotonic() - load_started)
    finally:
        proc.stop()
    run = Run(mode, round_no, round(write_ops, 1), round(read_ops, 1), round(write_cpu, 3),
              round(read_cpu, 3), round(scrubbed / MiB, 1), yields, round(share, 4),
              round(idle_cpu, 3), round(idle_scrubbed / MiB, 2))
    print(f"  round {round_no} {mode:8}: write {run.write_ops_s:8.1f} ops/s "
          f"({run.write_cpu_ms_per_op:.3f} CPU ms/op), read {run.read_ops_s:8.1f} ops/s "
          f"({run.read_cpu_ms_per_op:.3f}), scrubbed {run.scrubbed_mib:.1f} MiB, "
          f"{run.scrub_yields:.0f} yields, {run.scrub_share_under_load:.1%} of the time "
          f"scrubbing; idle: {run.idle_cpu_share:.0%} CPU, "
          f"{run.idle_scrub_mib_s:.1f} MiB/s scrubbed", flush=True)
    return run


def _summary(runs: list[Run], modes: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for mode in modes:
        mine = [r for r in runs if r.mode == mode]
        out[mode] = {
            key: {"median": statistics.median(getattr(r, key) for r in mine),
                  "min": min(getattr(r, key) for r in mine),
                  "max": max(getattr(r, key) for r in mine)}
            for key in ("write_ops_s", "read_ops_s", "write_cpu_ms_per_op",
                        "read_cpu_ms_per_op", "scrubbed_mib", "scrub_yields",
                        "scrub_share_under_load", "idle_cpu_share", "idle_scrub_mib_s")
        }
    for mode in modes:
        if mode == "off":
            continue
        for key in ("write_ops_s", "read_ops_s"):
            paired = [on.__dict__[key] / off.__dict__[key] for on in runs for off in runs
                      if on.mode == mode and off.mode == "off" and on.round == off.round]
            ratio = (out[mode][key]["median"]  # type: ignore[index]
                     / out["off"][key]["median"])  # type: ignore[index]
            out[f"{mode}/off {key}"] = {
                "ratio_of_medians": round(ratio, 3),
                "paired_ratios": [round(p, 3) for p in paired],
                "median_paired_ratio": round(statistics.median(paired), 3),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds between start and load (the scrubber gets going)")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="seconds measured with no clients, after --settle")
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--blobs", type=int, default=20_000, help="4 KiB blobs stored first")
    parser.add_argument("--large", type=int, default=32, help="4 MiB blobs stored first")
    parser.add_argument("--modes", default="off,on", help=f"any of {', '.join(MODES)}")
    options = parser.parse_args()
    modes = options.modes.split(",")
    base = Path(tempfile.mkdtemp(prefix="echofs-scrub-cost-"))
    runs: list[Run] = []
    try:
        cluster_env = worker_bench._cluster_member(base, WORKER_ID)
        small = worker_bench._chunk_pool(4 * KiB)[: options.blobs]
        large = worker_bench._chunk_pool(4 * MiB)[: options.large]
        proc, address = start_worker(base, WORKER_ID, cluster_env=cluster_env,
                                     extra_env={**BASE_ENV, **MODES["off"]})
        try:
            asyncio.run(_populate(address, small, large))
        finally:
            proc.stop()
        del large
        print(f"scrub cost: {len(small)} x 4 KiB + {options.large} x 4 MiB stored; "
              f"{options.rounds} rounds of {', '.join(modes)}; {options.streams} streams, "
              f"{options.seconds:g} s per phase; load average {os.getloadavg()}", flush=True)
        for round_no in range(1, options.rounds + 1):
            order = modes if round_no % 2 else list(reversed(modes))
            for mode in order:
                runs.append(_run_once(base, cluster_env, mode, round_no, options, small))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    summary = _summary(runs, modes)
    print(json.dumps({"load_average_at_end": os.getloadavg(), "summary": summary,
                      "runs": [asdict(r) for r in runs]}, indent=1))


if __name__ == "__main__":
    main()

"""Where EchoFS's CPU goes: py-spy on the master and every worker during one workload.

    .venv/bin/pip install -c constraints.txt -e ".[bench]"   # py-spy
    .venv/bin/python -m bench.profile_echofs [large-random-c1-write | large-random-c4-write |
        large-compressible-c4-write | large-random-c4-read | small-write | small-read]

Starts the same cluster as ``bench.compare`` (pinned to C), records each process with
``py-spy record --format raw`` (collapsed stacks) for the whole workload, and prints, per
process, the functions with the most samples on-CPU — self and inclusive — plus the CPU
seconds per GB (or ms per op). Raw stacks land in ``bench/results/profile-*.txt``
(py-spy's flame graph tools, or speedscope, read them). Not part of ``make bench``.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.compare import RESULTS, VAR, echofs_system
from bench.workloads import MiB, Stamper, get_op, large_payloads, measure_phase, put_op


def _py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy not installed: the bench extra (pip install -e '.[bench]')")
    return found


def summarize(raw: Path, top: int = 14) -> str:
    """Top frames by self and by inclusive samples from a collapsed-stack file."""
    self_count: collections.Counter[str] = collections.Counter()
    incl_count: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_count[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            incl_count[frame] += count
    if not total:
        return "  (no samples)\n"
    out = [f"  {total} samples on CPU\n  self:\n"]
    out += [f"    {n / total:6.1%}  {f}\n" for f, n in self_count.most_common(top)]
    out.append("  inclusive:\n")
    out += [f"    {n / total:6.1%}  {f}\n" for f, n in incl_count.most_common(top + 10)]
    return "".join(out)


def _short(frame: str) -> str:
    # "function (path/to/file.py:123)" -> "function (file.py)"
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})"


def main() -> None:
    workload = sys.argv[1] if len(sys.argv) > 1 else "large-random-c4-write"
    stamper = Stamper()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with echofs_system(VAR / "profile") as (target, pids):
        count, size = 16, 64 * MiB
        warm = large_payloads("random", 1, 4 * MiB, stamper)[0]
        measure_phase([put_op(target, "warm/w", warm)], 1, pids)
        prepared_keys: list[str] = []
        if workload.startswith("large") and workload.endswith("read"):
            kind = workload.split("-")[1]
            prepared_keys = [f"p/{i}" for i in range(count)]
            measure_phase([put_op(target, k, p) for k, p in zip(
                prepared_keys, large_payloads(kind, count, size, stamper), strict=True)], 4, pids)
        if workload == "small-read":
            prepared_keys = [f"s/{i}" for i in range(2000)]
            measure_phase([put_op(target, k, os.urandom(4096)) for k in prepared_keys], 16, pids)

        spies = {}
        for name, pid in pids.items():
            raw = RESULTS / f"profile-{workload}-{name}.txt"
            spies[name] = (raw, subprocess.Popen(
                [_py_spy(), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                 "--output", str(raw), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)  # let py-spy attach
        if workload.startswith("large"):
            _, kind, conc_text, op = workload.split("-")
            conc = int(conc_text[1:])
            if op == "write":
                payloads = large_payloads(kind, count, size, stamper)
                ops = [put_op(target, f"w/{i}", p) for i, p in enumerate(payloads)]
            else:
                ops = [get_op(target, k, size) for k in prepared_keys]
        elif workload == "small-write":
            conc = 16
            ops = [put_op(target, f"n/{i}", os.urandom(4096)) for i in range(2000)]
        else:
            conc = 16
            ops = [get_op(target, k, 4096) for k in prepared_keys]
        result = measure_phase(ops, conc, pids)
        for _, spy in spies.values():
            spy.send_signal(2)
        for _, spy in spies.values():
            spy.wait(timeout=60)
    print(f"{workload}: {result.mb_s:.1f} MB/s, {result.ops_s:.1f} ops/s, "
          f"p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms")
    for name, (raw, _) in spies.items():
        if name not in result.cpu_s:
            continue
        print(f"\n== {name}: {result.cpu_s[name]:.1f} CPU s = "
              f"{result.cpu_s_per_gb[name]:.1f} s/GB = {result.cpu_ms_per_op[name]:.2f} ms/op, "
              f"({result.cpu_system_s[name] / max(result.cpu_s[name], 1e-9):.0%} in the kernel), "
              f"peak RSS {result.peak_rss_mib[name]:.0f} MiB")
        print(summarize(raw) if raw.exists() else "  (py-spy wrote nothing)")


if __name__ == "__main__":
    main()

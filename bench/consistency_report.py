"""Tables of the consistency experiment (``bench/consistency_experiment.py``)."""

from __future__ import annotations

import argparse
import statistics
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.consistency_experiment import RunResult

__all__ = ["back_in_c_after_s", "markdown", "mode_changes", "summarise"]

MiB = 1024 * 1024
PHASES = ("healthy", "one_slow", "two_slow", "recovered")


def _p99_ms(sorted_latencies: list[float]) -> float | None:
    if not sorted_latencies:
        return None
    index = min(len(sorted_latencies) - 1, int(len(sorted_latencies) * 0.99))
    return round(sorted_latencies[index] * 1000, 1)


def mode_changes(result: RunResult) -> int:
    """Changes of the sampled cluster-wide mode over the whole run (flapping shows here)."""
    modes = [m for _, _, m in result.mode_samples if m != "unreachable"]
    return sum(1 for a, b in pairwise(modes) if a != b)


def back_in_c_after_s(result: RunResult) -> float | None:
    """Seconds into ``recovered`` from which the mode stayed C to the end, if it did."""
    recovered = [(t, m) for p, t, m in result.mode_samples if p == "recovered"]
    if not recovered or recovered[-1][1] != "C":
        return None
    since = recovered[-1][0]
    for t, m in reversed(recovered):
        if m != "C":
            break
        since = t
    return since


def summarise(result: RunResult) -> list[dict[str, Any]]:
    rows = []
    for phase in PHASES:
        uploads = [u for u in result.uploads if u.phase == phase]
        ok = sorted(u.latency_s for u in uploads if u.ok)
        every = sorted(u.latency_s for u in uploads)
        samples = [m for p, _, m in result.mode_samples if p == phase]
        share = {m: samples.count(m) / len(samples) for m in set(samples)} if samples else {}
        rows.append({
            "setting": result.setting, "phase": phase, "uploads_ok": len(ok),
            "failed": sum(1 for u in uploads if not u.ok),
            # Attempts the master refused (503) or dropped before the upload's outcome.
            "refused_attempts": sum(u.attempts - (1 if u.ok else 0) for u in uploads),
            "p50_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
            "p99_ms": _p99_ms(ok),
            # Failed uploads count too (with their time to giving up).
            "p99_all_ms": _p99_ms(every),
            "time_in_C": round(share.get("C", 0.0), 3),
            "time_in_Hybrid": round(share.get("Hybrid", 0.0), 3),
            "time_in_A": round(share.get("A", 0.0), 3),
            # What the uploads themselves were written under (their receipts).
            "receipts_A": sum(1 for u in uploads if u.ok and u.mode == "A"),
        })
    return rows


def markdown(results: list[RunResult], args: argparse.Namespace) -> str:
    pace = (f"each paced at {args.rate_per_client:g} upload/s (offered "
            f"{args.clients * args.rate_per_client * args.file_size / MiB:g} MiB/s)"
            if args.rate_per_client > 0 else "each uploading back to back (closed loop)")
    lines = [
        f"Runs: {args.clients} clients {pace}, {args.file_size // MiB} MiB files, "
        f"{args.phase_seconds:.0f} s per phase, N = 3, 3 workers; slow workers: "
        + ("SIGSTOP" if args.slow_by == "sigstop"
           else f"every RPC (health checks too) delayed {args.slow_ms} ms")
        + f"; controller evaluates every {args.evaluation_interval_s:g} s, probe deadline "
        f"{args.probe_timeout_s:g} s.",
        "",
        f"A client retries a refused (503) upload for up to {args.retry_for_s:g} s; latency runs"
        " from its first attempt to its outcome; *failed* = still refused at that deadline.",
        "",
        "| setting | phase | uploads ok | failed | refused attempts | p50 ms | p99 ms (ok)"
        " | p99 ms (all uploads) | time in C | Hybrid | A | uploads written in A |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for row in summarise(result):
            lines.append(
                f"| {row['setting']} | {row['phase']} | {row['uploads_ok']} | {row['failed']} |"
                f" {row['refused_attempts']} |"
                f" {row['p50_ms']} | {row['p99_ms']} | {row['p99_all_ms']} | {row['time_in_C']} |"
                f" {row['time_in_Hybrid']} | {row['time_in_A']} | {row['receipts_A']} |"
            )
    lines += ["", "| setting | mode changes | back in C after recovery (s) |"
              " time to N copies after recovery (s) | acked uploads verified |"
              " acknowledged bytes lost |", "|---|---|---|---|---|---|"]
    for result in results:
        ttn = "not reached" if result.time_to_n_s is None else f"{result.time_to_n_s:.1f}"
        back = back_in_c_after_s(result)
        back_text = "no" if back is None else f"{back:.1f}"
        lines.append(
            f"| {result.setting} | {mode_changes(result)} | {back_text} | {ttn} |"
            f" {result.verified} | {result.lost_bytes} |"
        )
    return "\n".join(lines) + "\n"

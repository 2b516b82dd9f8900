"""EchoFS's Grafana dashboards, as code: Overview, Workers, Durability, Consistency.

``python -m monitoring.dashboards`` writes ``monitoring/grafana/dashboards/*.json``;
``--check`` exits 1 when the committed JSON differs from what this module generates.
Never edit the JSON by hand.

Every query selects its scrape job (``echofs-master``, ``echofs-worker``,
``echofs-controller``, as named in ``monitoring/prometheus.yml``), because the master
and the controller both export ``echofs_http_*`` and master and workers both export
``echofs_storage_usage_bytes`` and ``echofs_grpc_*``. Error and S3 series are written
``... or vector(0)``: a counter that has never been incremented has no labelled series,
and "no errors" should draw as 0, not as "No data".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitoring.grafana_model import Dashboard, Panel, Target, render_json

__all__ = ["DASHBOARDS", "DASHBOARD_DIR", "main", "panel_queries", "stale_files", "write_all"]

DASHBOARD_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"

M = 'job="echofs-master"'
W = 'job="echofs-worker"'
C = 'job="echofs-controller"'
RATE = "[$__rate_interval]"


def _rate(metric: str, selector: str, by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({metric}{{{selector}}}{RATE}))"


def _quantile(q: float, histogram: str, selector: str, by: str = "") -> str:
    labels = f"le, {by}" if by else "le"
    return (f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({histogram}_bucket{{{selector}}}{RATE})))")


def _p50_p99(histogram: str, selector: str) -> tuple[Target, ...]:
    return (Target(_quantile(0.5, histogram, selector), "p50"),
            Target(_quantile(0.99, histogram, selector), "p99"))


OVERVIEW = Dashboard(
    uid="echofs-overview",
    title="EchoFS / Overview",
    description="Throughput, operations, errors, latency and storage of the whole cluster.",
    panels=(
        Panel("Client throughput", (
            Target(_rate("echofs_bytes_in_total", M), "in (uploads)"),
            Target(_rate("echofs_bytes_out_total", M), "out (downloads)"),
        ), unit="Bps", description="File bytes received from and sent to clients by masters."),
        Panel("File operations", (
            Target(_rate("echofs_file_uploads_total", M), "uploads"),
            Target(_rate("echofs_file_downloads_total", M), "downloads"),
            Target(_rate("echofs_file_deletes_total", M), "deletes"),
        ), unit="ops"),
        Panel("HTTP requests by status", (
            Target(_rate("echofs_http_requests_total", M, "status"), "{{status}}"),
        ), unit="reqps"),
        Panel("Errors", (
            Target(_rate("echofs_file_operation_errors_total", M, "operation, code")
                   + " or vector(0)", "{{operation}} {{code}}"),
            Target(_rate("echofs_http_requests_total", f'{M}, status=~"5.."') + " or vector(0)",
                   "HTTP 5xx"),
        ), unit="ops"),
        Panel("Upload latency", _p50_p99("echofs_upload_duration_seconds", M), unit="s"),
        Panel("Download latency", _p50_p99("echofs_download_duration_seconds", M), unit="s"),
        Panel("HTTP latency p99 by route", (
            Target(_quantile(0.99, "echofs_http_request_duration_seconds", M, "route"),
                   "{{route}}"),
        ), unit="s"),
        Panel("Storage used", (
            Target(f"sum(echofs_storage_usage_bytes{{{W}}})", "used"),
        ), unit="bytes", kind="stat", width=6),
        Panel("Workers healthy", (
            Target(f"count(max by (worker_id) (echofs_worker_health_status{{{M}}}) == 1)"
                   " or vector(0)", "healthy"),
            Target(f"count(max by (worker_id) (echofs_worker_health_status{{{M}}}))", "known"),
        ), kind="stat", width=6),
    ),
)

WORKERS = Dashboard(
    uid="echofs-workers",
    title="EchoFS / Workers",
    description="Per-worker health, probe RTT, capacity, throughput, gRPC, S3 and scrubbing.",
    panels=(
        Panel("Health as the master sees it", (
            Target(f"max by (worker_id) (echofs_worker_health_status{{{M}}})", "{{worker_id}}"),
        ), description="1 healthy, 0.5 suspect, 0 down."),
        Panel("Metrics endpoint up", (
            Target(f"up{{{W}}}", "{{worker_id}}"),
        ), description="1 when Prometheus could scrape the worker."),
        Panel("Probe RTT (master, EWMA)", (
            Target(f"max by (worker_id) (echofs_worker_rtt_seconds{{{M}}})", "{{worker_id}}"),
        ), unit="s"),
        Panel("Disk used", (
            Target(f"echofs_storage_usage_bytes{{{W}}} / (echofs_worker_capacity_bytes{{{W}}} > 0)",
                   "{{worker_id}}"),
        ), unit="percentunit"),
        Panel("Capacity and usage", (
            Target(f"echofs_storage_usage_bytes{{{W}}}", "{{worker_id}} used"),
            Target(f"echofs_worker_capacity_bytes{{{W}}}", "{{worker_id}} capacity"),
        ), unit="bytes"),
        Panel("Chunks stored", (
            Target(f"echofs_worker_chunks{{{W}}}", "{{worker_id}}"),
        )),
        Panel("Throughput per worker", (
            Target(_rate("echofs_worker_bytes_received_total", W, "worker_id"),
                   "{{worker_id}} in"),
            Target(_rate("echofs_worker_bytes_sent_total", W, "worker_id"), "{{worker_id}} out"),
        ), unit="Bps"),
        Panel("gRPC requests served", (
            Target(_rate("echofs_grpc_requests_total", W, "worker_id, method"),
                   "{{worker_id}} {{method}}"),
        ), unit="reqps"),
        Panel("gRPC latency p99 by method", (
            Target(_quantile(0.99, "echofs_grpc_request_duration_seconds", W, "method"),
                   "{{method}}"),
        ), unit="s"),
        Panel("gRPC errors", (
            Target(_rate("echofs_grpc_errors_total", W, "worker_id, method, code")
                   + " or vector(0)", "{{worker_id}} {{method}} {{code}}"),
            Target(_rate("echofs_grpc_errors_total", M, "method, code") + " or vector(0)",
                   "master→worker {{method}} {{code}}"),
        ), unit="ops"),
        Panel("Chunk RPCs from masters", (
            Target(_rate("echofs_grpc_requests_total", M, "method"), "{{method}}"),
            Target(_quantile(0.99, "echofs_grpc_request_duration_seconds", M, "method"),
                   "{{method}} p99 s"),
        ), unit="short"),
        Panel("S3 operations (S3 backend only)", (
            Target(_rate("echofs_s3_operations_total", W, "worker_id, operation")
                   + " or vector(0)", "{{worker_id}} {{operation}}"),
            Target(_rate("echofs_s3_errors_total", W, "worker_id, operation") + " or vector(0)",
                   "{{worker_id}} {{operation}} errors"),
        ), unit="ops"),
        Panel("S3 latency p99 (S3 backend only)", (
            Target(_quantile(0.99, "echofs_s3_operation_duration_seconds", W, "operation")
                   + " or vector(0)", "{{operation}}"),
        ), unit="s"),
        Panel("Scrubber", (
            Target(_rate("echofs_scrub_bytes_total", W, "worker_id"), "{{worker_id}} verified"),
            Target(f"sum by (worker_id) (increase(echofs_corrupt_blobs_total{{{W}}}[1h]))",
                   "{{worker_id}} corrupt in 1h"),
        ), unit="short"),
    ),
)

DURABILITY = Dashboard(
    uid="echofs-durability",
    title="EchoFS / Durability",
    description="Under-replication, bytes at risk, repair, write quorum, dedup and corruption.",
    panels=(
        Panel("Chunks under-replicated", (
            Target(f"max(echofs_chunks_under_replicated{{{M}}})", "chunks"),
        ), description="Chunks with fewer than N live copies (repair queue size)."),
        Panel("Bytes at risk", (
            Target(f"max(echofs_bytes_at_risk{{{M}}})", "bytes with one live copy"),
        ), unit="bytes"),
        Panel("Repair backlog: oldest item", (
            Target(f"max(echofs_repair_backlog_oldest_seconds{{{M}}})", "age"),
        ), unit="s"),
        Panel("Repair rate", (
            Target(_rate("echofs_repairs_total", M), "replicas copied"),
            Target(_rate("echofs_repair_failures_total", M), "copies failed"),
        ), unit="ops"),
        Panel("Write quorum acks per chunk", (
            Target(f"sum(rate(echofs_write_quorum_acks_sum{{{M}}}{RATE}))"
                   f" / sum(rate(echofs_write_quorum_acks_count{{{M}}}{RATE}))", "mean"),
            Target(_quantile(0.05, "echofs_write_quorum_acks", M), "p5"),
        ), description="Synchronous durable acks before an upload was acknowledged."),
        Panel("Quorum failures by reason", (
            Target(_rate("echofs_quorum_failures_total", M, "reason") + " or vector(0)",
                   "{{reason}}"),
        ), unit="ops"),
        Panel("Dedup ratio", (
            Target(f"{_rate('echofs_dedup_hits_total', M)} / ({_rate('echofs_dedup_hits_total', M)}"
                   f" + sum(rate(echofs_write_quorum_acks_count{{{M}}}{RATE})))",
                   "chunks already stored"),
        ), unit="percentunit",
            description="Share of written chunks that already had N copies and were not sent."),
        Panel("Corruption found", (
            Target(_rate("echofs_corrupt_replicas_total", M), "on read (master)"),
            Target(_rate("echofs_corrupt_blobs_total", W), "by worker checks"),
        ), unit="ops"),
    ),
)

CONSISTENCY = Dashboard(
    uid="echofs-consistency",
    title="EchoFS / Consistency",
    description="Objects by mode, mode changes with reasons, and the controller's signals.",
    panels=(
        Panel("Objects by mode", (
            Target(f"sum by (mode) (echofs_objects_by_mode{{{C}}})", "{{mode}}"),
        )),
        Panel("Cluster-wide mode", (
            Target(f"max by (mode) (echofs_controller_cluster_mode{{{C}}})", "{{mode}}"),
        ), description="1 for the mode currently served (C, A or Hybrid)."),
        Panel("Mode changes by reason", (
            Target(_rate("echofs_object_mode_changes_total", C, "from_mode, to_mode, reason")
                   + " or vector(0)", "{{from_mode}}→{{to_mode}} {{reason}}"),
        ), unit="ops"),
        Panel("C pressure", (
            Target(f"max(echofs_controller_cluster_score{{{C}}})", "pressure"),
        ), description="C's expected write latency over the budget: above 1 → A (3 votes,"
           " 20 s cooldown), at or below 0.7 → back to C; 2 = C cannot place its quorum"
           " (docs/consistency.md)."),
        Panel("Signals", (
            Target(f"max(echofs_controller_partition_risk{{{C}}})", "partition risk"),
            Target(f"max(echofs_controller_replication_lag_seconds{{{C}}})",
                   "replication lag (s)"),
            Target(f"max(echofs_controller_write_rate_per_minute{{{C}}})",
                   "write rate (/min)"),
            Target(f"max(echofs_controller_workers_failing{{{C}}})", "workers failing"),
            Target(f"max(echofs_controller_workers_writable{{{C}}})", "workers writable"),
        )),
        Panel("Expected C write latency", (
            Target(f"max(echofs_controller_c_write_latency_seconds{{{C}}})", "C"),
        ), unit="s", description="The W_C-th fastest writable worker's put latency, as the"
           " masters measure it."),
        Panel("Estimated loss probability before N copies", (
            Target(f"max by (mode) (echofs_controller_loss_probability{{{C}}})",
                   "{{mode}} estimate"),
            Target(f"max by (mode) (echofs_controller_loss_probability_upper{{{C}}})",
                   "{{mode}} 95 % upper bound"),
        ), description="P(an acknowledged chunk is lost before it is back to N copies), by"
           " the mode it was written in: measured worker failure rate, settle and repair"
           " windows, time to detect (docs/consistency.md, durability model)."),
        Panel("Controller probe RTT per worker", (
            Target(f"max by (worker_id) (echofs_controller_worker_rtt_seconds{{{C}}})",
                   "{{worker_id}}"),
        ), unit="s"),
        Panel("Controller probe failure rate per worker", (
            Target(f"max by (worker_id) (echofs_controller_worker_probe_failure_rate{{{C}}})",
                   "{{worker_id}}"),
        ), unit="percentunit"),
        Panel("Evaluation rounds", (
            Target(_rate("echofs_controller_evaluations_total", C), "rounds"),
            Target(_rate("echofs_controller_evaluation_errors_total", C), "failed rounds"),
            Target(_quantile(0.99, "echofs_controller_evaluation_duration_seconds", C),
                   "p99 duration (s)"),
        )),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (OVERVIEW, WORKERS, DURABILITY, CONSISTENCY)


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL with Grafana macros) for every panel target."""
    return [(d.uid, p.title, t.expr) for d in DASHBOARDS for p in d.panels for t in p.targets]


def _file_name(dashboard: Dashboard) -> str:
    return f"{dashboard.uid.removeprefix('echofs-')}.json"


def rendered() -> dict[str, str]:
    """File name → JSON text, for every dashboard."""
    return {_file_name(d): render_json(d) for d in DASHBOARDS}


def write_all(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Names of dashboard files that are missing, differ from the generator, or are extra."""
    expected = rendered()
    stale = [name for name, text in expected.items()
             if not (directory / name).is_file()
             or (directory / name).read_text(encoding="utf-8") != text]
    extra = [p.name for p in directory.glob("*.json") if p.name not in expected]
    return sorted(stale + extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.dashboards", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed JSON is not what the generator makes")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            sys.stderr.write(f"stale dashboard: {DASHBOARD_DIR / name}\n")
        return 1 if stale else 0
    for path in write_all():
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

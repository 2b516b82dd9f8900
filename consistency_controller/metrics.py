"""The controller's Prometheus metrics, built once on its own registry.

No object id ever becomes a label: mode-change reasons come from the bounded
``policy.CHANGE_REASONS`` vocabulary; worker ids are bounded by the cluster's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS, new_registry

__all__ = ["ControllerMetrics"]


@dataclass
class ControllerMetrics:
    registry: CollectorRegistry
    objects_by_mode: Gauge
    mode_changes: Counter
    cluster_mode: Gauge
    partition_risk: Gauge
    replication_lag: Gauge
    write_rate: Gauge
    cluster_score: Gauge
    worker_rtt: Gauge
    worker_failure_rate: Gauge
    workers_failing: Gauge
    evaluations: Counter
    evaluation_errors: Counter
    evaluation_duration: Histogram
    publish_failures: Counter
    http_requests: Counter
    http_duration: Histogram
    singleton_leader: Gauge
    workers_writable: Gauge
    c_latency: Gauge
    loss_probability: Gauge
    loss_probability_upper: Gauge

    @classmethod
    def create(cls) -> ControllerMetrics:
        registry = new_registry()
        return cls(
            registry=registry,
            objects_by_mode=Gauge(
                "echofs_objects_by_mode", "Objects with a per-object state, by current mode.",
                ["mode"], registry=registry,
            ),
            mode_changes=Counter(
                "echofs_object_mode_changes_total",
                "Mode changes (objects and the cluster-wide mode).",
                ["from_mode", "to_mode", "reason"], registry=registry,
            ),
            cluster_mode=Gauge(
                "echofs_controller_cluster_mode",
                "1 for the cluster-wide mode currently served.", ["mode"], registry=registry,
            ),
            partition_risk=Gauge(
                "echofs_controller_partition_risk",
                "Share of listed workers the masters cannot write to, against what C absorbs"
                " (share·N/(N−W_C+1), at most 1).",
                registry=registry,
            ),
            replication_lag=Gauge(
                "echofs_controller_replication_lag_seconds",
                "Age of the oldest repair-queue item.", registry=registry,
            ),
            write_rate=Gauge(
                "echofs_controller_write_rate_per_minute",
                "File versions per written object in the last minute, cluster-wide.",
                registry=registry,
            ),
            cluster_score=Gauge(
                "echofs_controller_cluster_score",
                "C pressure of the cluster-wide decision: C's expected write latency over the"
                " budget (>1 leaves C, <=0.7 returns); 2 when C cannot place its quorum.",
                registry=registry,
            ),
            worker_rtt=Gauge(
                "echofs_controller_worker_rtt_seconds",
                "EWMA of the controller's health-probe round trip.", ["worker_id"],
                registry=registry,
            ),
            worker_failure_rate=Gauge(
                "echofs_controller_worker_probe_failure_rate",
                "EWMA of failed health probes (0..1).", ["worker_id"], registry=registry,
            ),
            workers_failing=Gauge(
                "echofs_controller_workers_failing",
                "Workers counted as failing, suspect or down.", registry=registry,
            ),
            evaluations=Counter(
                "echofs_controller_evaluations_total", "Evaluation rounds run.",
                registry=registry,
            ),
            evaluation_errors=Counter(
                "echofs_controller_evaluation_errors_total",
                "Evaluation rounds that failed (logged, retried next period).",
                registry=registry,
            ),
            evaluation_duration=Histogram(
                "echofs_controller_evaluation_duration_seconds", "One evaluation round.",
                buckets=LATENCY_BUCKETS, registry=registry,
            ),
            publish_failures=Counter(
                "echofs_controller_publish_failures_total",
                "Redis publishes that failed (retried).", registry=registry,
            ),
            http_requests=Counter(
                "echofs_http_requests_total", "HTTP requests.", ["method", "route", "status"],
                registry=registry,
            ),
            http_duration=Histogram(
                "echofs_http_request_duration_seconds", "HTTP request duration.",
                ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry,
            ),
            singleton_leader=Gauge(
                "echofs_singleton_leader",
                "1 while this controller holds the singleton job's lease (job=evaluation).",
                ["job"], registry=registry,
            ),
            workers_writable=Gauge(
                "echofs_controller_workers_writable",
                "Workers the masters can write to now (placeable, puts not failing).",
                registry=registry,
            ),
            c_latency=Gauge(
                "echofs_controller_c_write_latency_seconds",
                "Expected latency of a C write: the W_C-th fastest writable worker's.",
                registry=registry,
            ),
            loss_probability=Gauge(
                "echofs_controller_loss_probability",
                "Estimated P(an acknowledged chunk is lost before it is back to N copies),"
                " by the mode it was written in (docs/consistency.md, durability model).",
                ["mode"], registry=registry,
            ),
            loss_probability_upper=Gauge(
                "echofs_controller_loss_probability_upper",
                "The same at the one-sided 95 % upper bound of the worker failure rate.",
                ["mode"], registry=registry,
            ),
        )

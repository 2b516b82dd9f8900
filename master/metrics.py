"""The master's Prometheus metrics (DESIGN.md §10), built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS, new_registry

__all__ = ["MasterMetrics"]


@dataclass(frozen=True)
class MasterMetrics:
    registry: CollectorRegistry
    http_requests: Counter
    http_duration: Histogram
    uploads: Counter
    downloads: Counter
    deletes: Counter
    file_errors: Counter
    upload_duration: Histogram
    download_duration: Histogram
    bytes_in: Counter
    bytes_out: Counter
    dedup_hits: Counter
    worker_health: Gauge
    worker_rtt: Gauge
    storage_usage: Gauge
    grpc_requests: Counter
    grpc_duration: Histogram
    grpc_errors: Counter
    write_quorum_acks: Histogram
    quorum_failures: Counter
    late_copies_abandoned: Counter
    chunk_memory: Gauge
    chunk_memory_waits: Counter
    chunk_cache_lookups: Counter
    chunks_under_replicated: Gauge
    repair_backlog_oldest: Gauge
    bytes_at_risk: Gauge
    corrupt_replicas: Counter
    repairs_done: Counter
    repairs_failed: Counter
    gc_deleted: Counter
    gc_aborts: Counter
    dependency_up: Gauge
    background_errors: Counter
    background_rest: Counter
    singleton_leader: Gauge
    s3_operations: Counter
    s3_duration: Histogram
    s3_errors: Counter

    @classmethod
    def create(cls) -> MasterMetrics:
        r = new_registry()
        p = "echofs_"
        return cls(
            registry=r,
            http_requests=Counter(f"{p}http_requests_total", "HTTP requests by route template",
                                  ["method", "route", "status"], registry=r),
            http_duration=Histogram(f"{p}http_request_duration_seconds", "HTTP request latency",
                                    ["method", "route"], buckets=LATENCY_BUCKETS, registry=r),
            uploads=Counter(f"{p}file_uploads_total", "Acknowledged uploads", registry=r),
            downloads=Counter(f"{p}file_downloads_total", "Completed downloads", registry=r),
            deletes=Counter(f"{p}file_deletes_total", "Deleted files", registry=r),
            file_errors=Counter(f"{p}file_operation_errors_total", "Failed file operations",
                                ["operation", "code"], registry=r),
            upload_duration=Histogram(f"{p}upload_duration_seconds", "Upload time",
                                      buckets=LATENCY_BUCKETS, registry=r),
            download_duration=Histogram(f"{p}download_duration_seconds", "Download time",
                                        buckets=LATENCY_BUCKETS, registry=r),
            bytes_in=Counter(f"{p}bytes_in_total", "File bytes received from clients", registry=r),
            bytes_out=Counter(f"{p}bytes_out_total", "File bytes sent to clients", registry=r),
            dedup_hits=Counter(f"{p}dedup_hits_total", "Chunks not sent: N copies existed",
                               registry=r),
            worker_health=Gauge(f"{p}worker_health_status",
                                "1 healthy, 0.5 suspect, 0 down (per worker)", ["worker_id"],
                                registry=r),
            worker_rtt=Gauge(f"{p}worker_rtt_seconds", "EWMA of health-probe RTT",
                             ["worker_id"], registry=r),
            storage_usage=Gauge(f"{p}storage_usage_bytes", "Bytes used per worker (heartbeats)",
                                ["worker_id"], registry=r),
            grpc_requests=Counter(f"{p}grpc_requests_total", "Chunk RPCs to workers",
                                  ["method"], registry=r),
            grpc_duration=Histogram(f"{p}grpc_request_duration_seconds", "Chunk RPC latency",
                                    ["method"], buckets=LATENCY_BUCKETS, registry=r),
            grpc_errors=Counter(f"{p}grpc_errors_total", "Failed chunk RPCs",
                                ["method", "code"], registry=r),
            write_quorum_acks=Histogram(f"{p}write_quorum_acks",
                                        "Synchronous durable acks per chunk write",
                                        buckets=(0, 1, 2, 3, 4, 5, 7, 9), registry=r),
            quorum_failures=Counter(f"{p}quorum_failures_total", "Writes that missed quorum",
                                    ["reason"], registry=r),
            late_copies_abandoned=Counter(
                f"{p}late_copies_abandoned_total",
                "Late replica puts cancelled for lack of memory budget (repair makes them)",
                registry=r),
            chunk_memory=Gauge(f"{p}chunk_memory_bytes",
                               "Chunk bytes held against the master's memory budgets",
                               ["pool"], registry=r),
            chunk_memory_waits=Counter(f"{p}chunk_memory_waits_total",
                                       "Chunk reservations that waited for the memory budget",
                                       ["pool"], registry=r),
            chunk_cache_lookups=Counter(f"{p}chunk_cache_lookups_total",
                                        "Small-chunk reads asked of the master's chunk cache",
                                        ["result"], registry=r),
            background_errors=Counter(f"{p}background_errors_total",
                                      "Failed steps of a background loop (it goes on)",
                                      ["loop"], registry=r),
            background_rest=Counter(f"{p}background_rest_seconds_total",
                                    "Seconds repair and GC rested for client traffic",
                                    ["work"], registry=r),
            chunks_under_replicated=Gauge(f"{p}chunks_under_replicated",
                                          "Chunks with fewer than N live copies", registry=r),
            repair_backlog_oldest=Gauge(f"{p}repair_backlog_oldest_seconds",
                                        "Age of the oldest repair item", registry=r),
            bytes_at_risk=Gauge(f"{p}bytes_at_risk", "Stored bytes with one live copy",
                                registry=r),
            corrupt_replicas=Counter(f"{p}corrupt_replicas_total",
                                     "Replicas found corrupt or missing on read", registry=r),
            repairs_done=Counter(f"{p}repairs_total", "Replicas copied by repair", registry=r),
            repairs_failed=Counter(f"{p}repair_failures_total", "Failed replica copies",
                                   registry=r),
            gc_deleted=Counter(f"{p}gc_chunks_deleted_total", "Chunks removed by GC", registry=r),
            gc_aborts=Counter(f"{p}gc_aborted_passes_total", "GC passes stopped by an error",
                              registry=r),
            dependency_up=Gauge(f"{p}dependency_up", "1 when the dependency answers",
                                ["dependency"], registry=r),
            singleton_leader=Gauge(f"{p}singleton_leader",
                                   "1 while this process holds the singleton job's lease",
                                   ["job"], registry=r),
            s3_operations=Counter(f"{p}s3_operations_total",
                                  "S3 gateway requests by operation and status",
                                  ["operation", "status"], registry=r),
            s3_duration=Histogram(f"{p}s3_operation_duration_seconds",
                                  "S3 gateway request latency", ["operation"],
                                  buckets=LATENCY_BUCKETS, registry=r),
            s3_errors=Counter(f"{p}s3_errors_total", "S3 gateway error answers by S3 code",
                              ["operation", "code"], registry=r),
        )

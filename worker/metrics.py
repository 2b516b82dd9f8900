"""The worker's Prometheus metrics, built once on the worker's own registry.

Names follow DESIGN.md §10. Labels are bounded: gRPC method names, status code
names and S3 operation names; never a chunk id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from common.metrics import CONTENT_TYPE_LATEST, LATENCY_BUCKETS, new_registry, render

__all__ = ["WorkerMetrics", "start_metrics_http"]


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or new_registry()
        r = self.registry
        self.grpc_requests = Counter(
            "echofs_grpc_requests_total", "gRPC requests served", ["method", "code"], registry=r
        )
        self.grpc_duration = Histogram(
            "echofs_grpc_request_duration_seconds", "gRPC request duration", ["method"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.background_errors = Counter(
            "echofs_background_errors_total", "Failed steps of a background loop (it goes on)",
            ["loop"], registry=r,
        )
        self.grpc_errors = Counter(
            "echofs_grpc_errors_total", "gRPC requests that failed", ["method", "code"], registry=r
        )
        self.grpc_inflight = Gauge(
            "echofs_grpc_inflight_requests", "gRPC requests being served", registry=r
        )
        self.s3_operations = Counter(
            "echofs_s3_operations_total", "S3 calls made", ["operation"], registry=r
        )
        self.s3_duration = Histogram(
            "echofs_s3_operation_duration_seconds", "S3 call duration", ["operation"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.s3_errors = Counter(
            "echofs_s3_errors_total", "S3 calls that failed", ["operation"], registry=r
        )
        self.storage_usage = Gauge(
            "echofs_storage_usage_bytes", "Bytes of blobs stored on this worker", registry=r
        )
        self.chunks = Gauge("echofs_worker_chunks", "Blobs stored on this worker", registry=r)
        self.capacity = Gauge(
            "echofs_worker_capacity_bytes", "Capacity advertised by this worker", registry=r
        )
        self.bytes_received = Counter(
            "echofs_worker_bytes_received_total", "PutChunk payload bytes received", registry=r
        )
        self.bytes_sent = Counter(
            "echofs_worker_bytes_sent_total", "GetChunk(s) payload bytes sent", registry=r
        )
        self.scrub_bytes = Counter(
            "echofs_scrub_bytes_total", "Bytes read and verified by the scrubber", registry=r
        )
        self.scrub_passes = Counter(
            "echofs_scrub_passes_total", "Completed scrubber passes", registry=r
        )
        self.scrub_last_pass = Gauge(
            "echofs_scrub_last_pass_timestamp_seconds",
            "When the last complete scrubber pass ended (Unix time)", registry=r,
        )
        self.background_wait = Counter(
            "echofs_worker_background_wait_seconds_total",
            "Seconds background work (scrub, compaction) rested to stay within its budget",
            ["work"], registry=r,
        )
        self.background_busy = Counter(
            "echofs_worker_background_busy_seconds_total",
            "Wall seconds background work (scrub, compaction) measured for its steps",
            ["work"], registry=r,
        )
        self.background_yields = Counter(
            "echofs_worker_background_yields_total",
            "Rests background work took while client RPCs were in flight or recent",
            ["work"], registry=r,
        )
        self.corrupt_blobs = Counter(
            "echofs_corrupt_blobs_total", "Blobs that failed their checksum (quarantined)",
            registry=r,
        )

    def count_background_wait(self, work: str, seconds: float, busy: bool) -> None:
        """``BackgroundBudget.on_wait``: called from the loop or a compaction thread."""
        self.background_wait.labels(work).inc(seconds)
        if busy:
            self.background_yields.labels(work).inc()

    def count_background_step(self, work: str, busy_s: float) -> None:
        """``BackgroundBudget.on_step``: called from the loop or a compaction thread."""
        self.background_busy.labels(work).inc(busy_s)

    def bind_usage(self, used_bytes: Callable[[], float], chunk_count: Callable[[], float],
                   capacity_bytes: Callable[[], float]) -> None:
        """Read usage gauges live at scrape time instead of pushing updates."""
        self.storage_usage.set_function(used_bytes)
        self.chunks.set_function(chunk_count)
        self.capacity.set_function(capacity_bytes)

    @contextmanager
    def s3_call(self, operation: str) -> Iterator[None]:
        """Count, time and record failures of one S3 call (safe from any thread)."""
        self.s3_operations.labels(operation).inc()
        started = time.perf_counter()
        try:
            yield
        except BaseException:
            self.s3_errors.labels(operation).inc()
            raise
        finally:
            self.s3_duration.labels(operation).observe(time.perf_counter() - started)


_REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


async def _serve_metrics(request: web.Request) -> web.Response:
    body = render(request.app[_REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def start_metrics_http(
    metrics: WorkerMetrics, host: str, port: int
) -> tuple[web.AppRunner, int]:
    """Serve ``GET /metrics`` on host:port (0 = any free port); return the runner and the port.

    The caller awaits ``runner.cleanup()``. The port is the one bound, so a worker started
    on an ephemeral port advertises a metrics address that is really its own.
    """
    app = web.Application()
    app[_REGISTRY_KEY] = metrics.registry
    app.router.add_get("/metrics", _serve_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = int(runner.addresses[0][1])
    return runner, bound_port

"""Prometheus helpers: every service builds its metrics once, on its own registry.

Names follow DESIGN.md §10 (prefix ``echofs_``). Labels never carry unbounded values
(object ids, paths, users).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = [
    "BYTES_BUCKETS",
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "new_registry",
    "render",
]

# Seconds: from sub-millisecond RPCs to multi-minute large-file transfers.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)
BYTES_BUCKETS = tuple(float(4**k) for k in range(5, 17))  # 1 KiB .. 4 GiB


def new_registry() -> CollectorRegistry:
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)

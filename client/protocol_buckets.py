"""Bucket administration (DESIGN §11) as sans-I/O calls: one bucket's usage and
settings, create, change, delete. The listing of all of them is
``client.protocol.list_buckets``.

Settings are ``versioning`` (bool) and retention, ``keep_versions`` / ``keep_days``
(an integer, or None for "keep everything"). Quotas are bucket settings on the server
too, but their commands come with DESIGN §12's quota work.
"""

from __future__ import annotations

from typing import Any

from client import addressing
from client.models import BucketEntry
from client.models_ops import TaskStatus
from client.protocol import ApiRequest, ApiResponse, Call, data_of

__all__ = ["SETTINGS", "create_bucket", "delete_bucket", "get_bucket", "update_bucket"]

SETTINGS = frozenset({"versioning", "keep_versions", "keep_days", "group"})


def _route(name: str) -> str:
    return f"{addressing.BUCKETS_ROUTE}/{addressing.quote(name)}"


def _checked(settings: dict[str, Any]) -> dict[str, Any]:
    unknown = set(settings) - SETTINGS
    if unknown:
        raise ValueError(f"unknown bucket settings: {', '.join(sorted(unknown))}")
    return dict(settings)


def get_bucket(name: str) -> Call[BucketEntry]:
    request = ApiRequest("GET", _route(name), idempotent=True)
    return Call(request, lambda r: BucketEntry.from_json(data_of(r)))


def create_bucket(name: str, **settings: Any) -> Call[BucketEntry]:
    """A new bucket owned by the caller (``bucket_exists`` if the name is taken)."""
    body = {"name": name, **_checked(settings)}
    request = ApiRequest("POST", addressing.BUCKETS_ROUTE, idempotent=False, json_body=body)
    return Call(request, lambda r: BucketEntry.from_json(data_of(r)))


def update_bucket(name: str, **settings: Any) -> Call[BucketEntry]:
    """Change settings (only those given); the bucket as it is afterwards."""
    request = ApiRequest("PATCH", _route(name), idempotent=True, json_body=_checked(settings))
    return Call(request, lambda r: BucketEntry.from_json(data_of(r)))


def delete_bucket(name: str, recursive: bool = False) -> Call[TaskStatus | None]:
    """Delete an empty bucket (None), or with ``recursive`` start a task deleting it with
    everything in it (``bucket_not_empty`` without it)."""
    def parse(r: ApiResponse) -> TaskStatus | None:
        data = data_of(r)
        return TaskStatus.started("delete_bucket", data) if r.status == 202 else None
    params = {"recursive": "true"} if recursive else {}
    request = ApiRequest("DELETE", _route(name), idempotent=not recursive, params=params)
    return Call(request, parse)

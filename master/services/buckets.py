"""Buckets: create, list with usage, settings, delete (recursive as a task).

A bucket's settings are ``versioning``, retention (``keep_versions``, ``keep_days``)
and quotas (``quota_bytes``, ``quota_files``: stored, enforced by the next issue).
Deleting a non-empty bucket needs ``recursive`` and runs as a task; a user's home
bucket cannot be deleted (it is where wave-1 routes put files).
"""

from __future__ import annotations

from typing import Any

from common.errors import BucketExists, BucketNotEmpty, Conflict, InvalidInput
from master.domain.records import BucketRecord, TaskRecord
from master.metadata.buckets import BUCKET_SETTINGS, BucketsRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.tasks import TasksRepository
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.paths import check_bucket_name

__all__ = ["BucketService", "parse_settings"]


# Each integer setting's (minimum, maximum): retention fits PostgreSQL's integer.
_INT_SETTINGS = {"keep_versions": (1, 1_000_000), "keep_days": (1, 1_000_000),
                 "quota_bytes": (0, 2**62), "quota_files": (0, 2**62)}


def parse_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The settings fields of a JSON body, checked; unknown settings are refused."""
    settings: dict[str, Any] = {}
    for key in BUCKET_SETTINGS:
        if key not in body:
            continue
        value = body[key]
        if key == "versioning":
            if not isinstance(value, bool):
                raise InvalidInput("versioning must be true or false")
        elif value is not None and (
            isinstance(value, bool) or not isinstance(value, int)
            or not _INT_SETTINGS[key][0] <= value <= _INT_SETTINGS[key][1]
        ):
            low, high = _INT_SETTINGS[key]
            raise InvalidInput(f"{key} must be null or an integer from {low} to {high}")
        settings[key] = value
    return settings


class BucketService:
    def __init__(
        self, buckets: BucketsRepository, access: BucketAccess,
        namespace: NamespaceRepository, tasks: TasksRepository, audit: AuditService,
    ) -> None:
        self._buckets = buckets
        self._audit = audit
        self._access = access
        self._namespace = namespace
        self._tasks = tasks

    async def create(self, caller: Principal, name: str, settings: dict[str, Any]
                     ) -> BucketRecord:
        check_bucket_name(name)
        try:
            created = await self._buckets.create(name, caller.user_id, settings)
        except Conflict as exc:
            raise BucketExists(f"bucket {name!r} exists") from exc
        await self._audit.record(caller, "bucket.create", name, **settings)
        return created

    async def list(self, caller: Principal, after: str, limit: int) -> list[BucketRecord]:
        """Buckets the caller can reach (all of them for an admin), by name."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        return await self._buckets.listed(None if caller.is_admin else caller.user_id,
                                          after, limit)

    async def get(self, caller: Principal, name: str) -> BucketRecord:
        await self._access.require(caller, name, Permission.READ)
        found = await self._buckets.by_name(name, usage=True)
        if found is None:
            raise Conflict(f"bucket {name!r} was deleted meanwhile")
        return found

    def permission_label(self, caller: Principal, bucket: BucketRecord) -> str:
        held = self._access.permission(caller, bucket.owner_id)
        return held.label if held is not None else ""

    async def update(self, caller: Principal, name: str, settings: dict[str, Any]
                     ) -> BucketRecord:
        bucket = await self._access.require(caller, name, Permission.OWNER)
        await self._buckets.update(bucket.id, settings)
        await self._audit.record(caller, "bucket.update", name, **settings)
        return await self.get(caller, name)

    async def delete(self, caller: Principal, name: str, recursive: bool
                     ) -> TaskRecord | None:
        """Delete an empty bucket now (None), or with ``recursive`` start a task."""
        bucket = await self._access.require(caller, name, Permission.OWNER)
        if bucket.home_of is not None:
            raise Conflict(f"{name!r} is a user's home bucket and cannot be deleted")
        if bucket.state != "active":
            raise Conflict(f"bucket {name!r} is already being deleted")
        if await self._buckets.delete_if_empty(bucket.id):
            await self._audit.record(caller, "bucket.delete", name)
            return None
        if not recursive:
            raise BucketNotEmpty(f"bucket {name!r} is not empty; add ?recursive=true")
        total, _ = await self._namespace.count_under(bucket.id, "")
        task = await self._tasks.create("delete_bucket", bucket.id, "", caller.user_id, total)
        await self._audit.record(caller, "bucket.delete", name, recursive=True,
                                 task_id=str(task.id))
        return task

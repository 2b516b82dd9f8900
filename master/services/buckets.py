"""Buckets: create, list with usage, settings, delete (recursive as a task).

A bucket's settings are ``versioning``, retention (``keep_versions``, ``keep_days``),
quotas (``quota_bytes``, ``quota_files``: enforced at commit, migration 0010; a
change is audited as ``quota.set`` besides the bucket change) and ``group``, the group
the bucket is charged to (migration 0015: its usage then also counts toward that
group's quota). Only a member or the creator of a group (or an admin) may charge a
bucket to it: otherwise anyone could fill a group's quota with their own files.
Deleting a non-empty bucket needs ``recursive`` and runs as a task; a user's home
bucket cannot be deleted (it is where wave-1 routes put files).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from common.errors import BucketExists, BucketNotEmpty, Conflict, Forbidden, InvalidInput, NotFound
from master.domain.records import BucketRecord, TaskRecord
from master.metadata.buckets import BUCKET_SETTINGS, BucketsRepository
from master.metadata.groups import GroupsRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.tasks import TasksRepository
from master.services.access import BucketAccess, Permission, require_write_scope
from master.services.audit import AuditService
from master.services.auth import USERNAME_RE, Principal
from master.services.paths import check_bucket_name, is_bucket_name

__all__ = ["BucketService", "BucketView", "parse_settings"]


@dataclass(frozen=True, slots=True)
class BucketView:
    """A bucket as one caller sees it: with the permission it holds there (a label)."""

    bucket: BucketRecord
    permission: str


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
    if "group" in body:
        group = body["group"]
        if group is not None and (not isinstance(group, str) or not USERNAME_RE.fullmatch(group)):
            raise InvalidInput("group must be null or a group's name")
        settings["group"] = group
    return settings


class BucketService:
    def __init__(
        self, buckets: BucketsRepository, access: BucketAccess,
        namespace: NamespaceRepository, tasks: TasksRepository, audit: AuditService,
        groups: GroupsRepository,
    ) -> None:
        self._buckets = buckets
        self._groups = groups
        self._audit = audit
        self._access = access
        self._namespace = namespace
        self._tasks = tasks

    async def create(self, caller: Principal, name: str, settings: dict[str, Any]
                     ) -> BucketView:
        """A new bucket owned by the caller. Forbidden for a read-only API key and for
        a key limited to some buckets (the new one would not be among them)."""
        check_bucket_name(name)
        require_write_scope(caller, "create a bucket")
        if caller.key_buckets is not None:
            raise Forbidden("an API key limited to some buckets cannot create buckets")
        stored = await self._charged_to(caller, settings)
        try:
            created = await self._buckets.create(name, caller.user_id, stored)
        except Conflict as exc:
            raise BucketExists(f"bucket {name!r} exists") from exc
        await self._audit.record(caller, "bucket.create", name, **settings)
        await self._audit_quota(caller, name, settings)
        return BucketView(replace(created, group_name=settings.get("group")),
                          Permission.OWNER.label)

    async def list(self, caller: Principal, after: str, limit: int) -> list[BucketView]:
        """Buckets the caller can reach by ownership or through shares (all of them for
        an admin), by name, each with the caller's permission."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        reach = await self._access.reachable(caller)
        if reach is None:
            found = await self._buckets.listed(None, after, limit)
        elif not reach:
            found = []
        else:
            found = await self._buckets.listed_among(reach.keys(), after, limit)
        return [BucketView(b, self._access.label(caller, b, reach)) for b in found]

    async def get(self, caller: Principal, name: str) -> BucketView:
        bucket = await self._buckets.by_name(name) if is_bucket_name(name) else None
        if bucket is None:
            raise NotFound(f"no bucket {name!r}")
        held = await self._access.check(caller, name, bucket.id, bucket.owner_id,
                                        Permission.READ)
        found = await self._buckets.by_name(name, usage=True)
        if found is None:
            raise Conflict(f"bucket {name!r} was deleted meanwhile")
        return BucketView(found, held.label)

    async def update(self, caller: Principal, name: str, settings: dict[str, Any]
                     ) -> BucketView:
        bucket = await self._access.require(caller, name, Permission.OWNER)
        await self._buckets.update(bucket.id, await self._charged_to(caller, settings))
        await self._audit.record(caller, "bucket.update", name, **settings)
        await self._audit_quota(caller, name, settings)
        return await self.get(caller, name)

    async def _charged_to(self, caller: Principal, settings: dict[str, Any]
                          ) -> dict[str, Any]:
        """``settings`` as stored: the group's name becomes its id. NotFound for an
        unknown group; Forbidden unless the caller is a member or the creator of the
        group, or an admin."""
        if "group" not in settings:
            return settings
        stored = {k: v for k, v in settings.items() if k != "group"}
        name = settings["group"]
        if name is None:
            return {**stored, "group_id": None}
        group = await self._groups.by_name(name)
        if group is None:
            raise NotFound(f"no group {name!r}")
        if not (caller.is_admin or group.created_by == caller.user_id
                or await self._groups.is_member(group.id, caller.user_id)):
            raise Forbidden(f"only a member of group {name!r} may charge a bucket to it")
        return {**stored, "group_id": group.id}

    async def _audit_quota(self, caller: Principal, name: str, settings: dict[str, Any]
                           ) -> None:
        quotas = {k: settings[k] for k in ("quota_bytes", "quota_files") if k in settings}
        if quotas:
            await self._audit.record(caller, "quota.set", f"bucket:{name}", **quotas)

    async def delete(self, caller: Principal, name: str, recursive: bool
                     ) -> TaskRecord | None:
        """Delete an empty bucket now (None), or with ``recursive`` start a task."""
        bucket = await self._access.require(caller, name, Permission.OWNER)
        if bucket.home_of is not None:
            raise Conflict(f"{name!r} is a user's home bucket and cannot be deleted")
        if bucket.state != "active":
            raise Conflict(f"bucket {name!r} is already being deleted")
        if await self._buckets.delete_if_empty(bucket.id, actor_id=caller.user_id):
            await self._audit.record(caller, "bucket.delete", name)
            return None
        if not recursive:
            raise BucketNotEmpty(f"bucket {name!r} is not empty; add ?recursive=true")
        total, _ = await self._namespace.count_under(bucket.id, "")
        task = await self._tasks.create("delete_bucket", bucket.id, "", caller.user_id, total)
        await self._audit.record(caller, "bucket.delete", name, recursive=True,
                                 task_id=str(task.id))
        return task

"""Directories, listings, versions, move/copy/restore and recursive deletes.

Every operation resolves its bucket(s) through ``BucketAccess`` first (NotFound for a
bucket the caller cannot read, Forbidden for too weak a permission), then makes one
change in one transaction (``NamespaceRepository``). Recursive deletes are tasks:
a row a background loop works through (``TaskService.run_once``), resumable anywhere.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from common.errors import Conflict, InvalidInput, NotFound
from master.domain.records import BucketRecord, Entry, TaskRecord, VersionInfo
from master.metadata.listings import ListingsRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.tasks import TasksRepository
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal

__all__ = ["Listing", "ListingQuery", "NamespaceService", "decode_cursor"]

MAX_LIST_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class ListingQuery:
    directory: str
    recursive: bool = False
    max_depth: int | None = None
    limit: int = 1000
    after: str = ""


@dataclass(frozen=True, slots=True)
class Listing:
    entries: list[Entry]
    next_cursor: str | None


def encode_cursor(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def decode_cursor(cursor: str) -> str:
    """A cursor this server issued back to the name it stands for, or InvalidInput."""
    try:
        after = base64.urlsafe_b64decode(cursor.encode()).decode() if cursor else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server issued") from None
    if "\x00" in after:
        raise InvalidInput("cursor is not one this server issued")
    return after


class NamespaceService:
    def __init__(
        self, access: BucketAccess, listings: ListingsRepository,
        namespace: NamespaceRepository, tasks: TasksRepository,
    ) -> None:
        self._access = access
        self._listings = listings
        self._namespace = namespace
        self._tasks = tasks

    async def mkdir(self, caller: Principal, bucket: str, path: str) -> bool:
        """Create a directory (and its parents); False if it existed. Conflict when a
        file stands there."""
        if not path:
            raise InvalidInput("the bucket's root always exists")
        record = await self._writable(caller, bucket, Permission.WRITE)
        return await self._namespace.mkdir(record.id, path, actor_id=caller.user_id)

    async def list_dir(self, caller: Principal, bucket: str, query: ListingQuery) -> Listing:
        record = await self._access.require(caller, bucket, Permission.READ)
        if not 1 <= query.limit <= MAX_LIST_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        if query.recursive or query.max_depth is not None:
            depth = query.max_depth if query.max_depth is not None else 1_000_000
            if depth < 1:
                raise InvalidInput("max_depth must be at least 1")
            if not query.recursive:
                depth = 1
            entries, exists = await self._listings.subtree(
                record.id, query.directory, query.after, query.limit, depth)
        else:
            entries, exists = await self._listings.children(
                record.id, query.directory, query.after, query.limit)
        if not entries and not exists:
            raise NotFound(f"no directory {bucket}/{query.directory}/")
        cursor = encode_cursor(entries[-1].name) if len(entries) == query.limit else None
        return Listing(entries, cursor)

    async def versions(self, caller: Principal, bucket: str, path: str) -> list[VersionInfo]:
        record = await self._access.require(caller, bucket, Permission.READ)
        found = await self._listings.versions(record.id, path)
        if not found:
            raise NotFound(f"no file at {bucket}/{path}")
        return found

    async def restore(
        self, caller: Principal, bucket: str, path: str, version_id: uuid.UUID
    ) -> uuid.UUID:
        """Make ``version_id``'s content the current one, as a new version."""
        record = await self._writable(caller, bucket, Permission.WRITE)
        file_id = await self._listings.file_id(record.id, path)
        if file_id is None:
            raise NotFound(f"no file at {bucket}/{path}")
        return await self._namespace.restore(file_id, version_id, actor_id=caller.user_id)

    async def move(
        self, caller: Principal, src: tuple[str, str], dst: tuple[str, str], overwrite: bool,
        condition: tuple[str | None, bool] = (None, False),
    ) -> int:
        """Move a file or a subtree in one transaction; return how many files moved.
        ``condition`` (If-Match etag, If-None-Match: *) applies to the target."""
        source, target = await self._endpoints(caller, src, dst, Permission.DELETE)
        return await self._namespace.move(source.id, src[1], target.id, dst[1],
                                          overwrite=overwrite, condition=condition,
                                          actor_id=caller.user_id)

    async def copy(
        self, caller: Principal, src: tuple[str, str], dst: tuple[str, str], overwrite: bool,
        condition: tuple[str | None, bool] = (None, False),
    ) -> int:
        """Copy a file or a subtree sharing its chunks; return how many files."""
        source, target = await self._endpoints(caller, src, dst, Permission.READ)
        return await self._namespace.copy(source.id, src[1], target.id, dst[1],
                                          overwrite=overwrite, condition=condition,
                                          actor_id=caller.user_id)

    async def _endpoints(
        self, caller: Principal, src: tuple[str, str], dst: tuple[str, str],
        need_on_source: Permission,
    ) -> tuple[BucketRecord, BucketRecord]:
        if not src[1] or not dst[1]:
            raise InvalidInput("move and copy take a path inside a bucket, not a whole bucket")
        if src[0] == dst[0] and (dst[1] == src[1] or dst[1].startswith(src[1] + "/")):
            raise InvalidInput("cannot move or copy a path onto or into itself")
        source = await self._access.require(caller, src[0], need_on_source)
        target = await self._writable(caller, dst[0], Permission.WRITE)
        return source, target

    async def delete_tree(self, caller: Principal, bucket: str, path: str) -> TaskRecord:
        """Start deleting directory ``path`` and everything below it (a task)."""
        record = await self._writable(caller, bucket, Permission.DELETE)
        if not path:
            raise InvalidInput("delete a whole bucket with DELETE /api/v1/buckets/{bucket}")
        total, exists = await self._namespace.count_under(record.id, path,
                                                          live_only=record.versioning)
        if not exists:
            raise NotFound(f"no directory {bucket}/{path}/")
        return await self._tasks.create("delete_tree", record.id, path, caller.user_id, total)

    async def delete_empty_dir(self, caller: Principal, bucket: str, path: str) -> None:
        """``DELETE …/{dir}/`` without ``recursive``: only an empty directory goes."""
        record = await self._writable(caller, bucket, Permission.DELETE)
        if not path:
            raise InvalidInput("delete a whole bucket with DELETE /api/v1/buckets/{bucket}")
        total, exists = await self._namespace.count_under(record.id, path)
        if not exists:
            raise NotFound(f"no directory {bucket}/{path}/")
        if total:
            raise Conflict(f"{bucket}/{path}/ is not empty; add ?recursive=true")
        await self._namespace.delete_batch(record.id, path, 1, actor_id=caller.user_id)

    async def task(self, caller: Principal, task_id: uuid.UUID) -> TaskRecord:
        task = await self._tasks.get(task_id)
        if task is None or not (caller.is_admin or task.created_by == caller.user_id):
            raise NotFound(f"no task {task_id}")
        return task

    async def _writable(self, caller: Principal, bucket: str, need: Permission) -> BucketRecord:
        record = await self._access.require(caller, bucket, need)
        if record.state != "active":
            raise Conflict(f"bucket {bucket!r} is being deleted")
        return record

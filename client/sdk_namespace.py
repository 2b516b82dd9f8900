"""The namespace and bucket operations of ``Client`` and ``AsyncClient`` (DESIGN §11),
as one mixin per I/O style, side by side so the two stay alike.

Each method is one :mod:`client.protocol_namespace` / :mod:`client.protocol_buckets`
call run through the client's ``call`` (retries, failover, errors as classes); the
only loops are paging and following a task to its end (:class:`client.tasks.TaskWatch`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

from client import protocol, protocol_buckets, protocol_namespace
from client.models import BucketEntry, DirEntry
from client.models_ops import (
    BucketRemoval,
    MkdirResult,
    PathOpResult,
    RestoreResult,
    TaskStatus,
    TreeRemoval,
    VersionEntry,
)
from client.progress import ProgressSink
from client.tasks import DEFAULT_POLL_S, TaskWatch

__all__ = ["AsyncNamespaceOps", "NamespaceOps"]

T = TypeVar("T")


class NamespaceOps:
    """Mixed into :class:`client.sync_client.Client`, which provides ``call``."""

    def call(self, op: protocol.Call[T]) -> T:
        raise NotImplementedError

    # --- directories, move, copy ---------------------------------------------------------
    def mkdir(self, remote: str) -> MkdirResult:
        """Create the directory ``bucket/dir`` (and its parents)."""
        return self.call(protocol_namespace.mkdir(remote))

    def move(self, source: str, target: str, **options: Any) -> PathOpResult:
        """Move a file or directory (options: ``overwrite``, ``if_match``,
        ``if_none_match``); Conflict when the target exists and may not be replaced."""
        return self.call(protocol_namespace.move(source, target, **options))

    def copy(self, source: str, target: str, **options: Any) -> PathOpResult:
        """Copy a file or directory, sharing chunks (options as for :meth:`move`)."""
        return self.call(protocol_namespace.copy(source, target, **options))

    def walk(self, remote: str) -> list[DirEntry]:
        """Everything below the directory ``bucket/dir``, by path; names are relative."""
        entries: list[DirEntry] = []
        cursor: str | None = None
        while True:
            page = self.call(protocol.list_dir(remote, cursor=cursor, recursive=True))
            entries.extend(page.entries)
            if not page.next_cursor:
                return entries
            cursor = page.next_cursor

    # --- versions ------------------------------------------------------------------------
    def versions(self, remote: str) -> tuple[VersionEntry, ...]:
        return self.call(protocol_namespace.versions(remote))

    def restore(self, remote: str, version_id: str) -> RestoreResult:
        return self.call(protocol_namespace.restore(remote, version_id))

    # --- recursive deletes and tasks -------------------------------------------------------
    def task(self, task_id: str) -> TaskStatus:
        return self.call(protocol_namespace.task(task_id))

    def wait_task(self, status: TaskStatus, *, progress: ProgressSink | None = None,
                  poll_s: float = DEFAULT_POLL_S, description: str = "") -> TaskStatus:
        """Poll the task until it is done (its last status), reporting files done as
        progress; TaskFailed if it fails."""
        watch = TaskWatch.of(description or status.kind, progress)
        try:
            while not watch.seen(status):
                time.sleep(poll_s)
                status = self.task(status.task_id)
        finally:
            watch.close()
        return status

    def delete_tree(self, remote: str, *, wait: bool = True,
                    progress: ProgressSink | None = None,
                    poll_s: float = DEFAULT_POLL_S) -> TreeRemoval:
        """Delete the directory ``bucket/dir`` with everything below it (a server task;
        with ``wait``, followed to its end)."""
        status = self.call(protocol_namespace.delete_tree(remote))
        if wait:
            status = self.wait_task(status, progress=progress, poll_s=poll_s,
                                    description=f"rm -r {remote}")
        return TreeRemoval(remote, status)

    def delete_empty_dir(self, remote: str) -> dict[str, Any]:
        return self.call(protocol_namespace.delete_empty_dir(remote))

    # --- buckets ---------------------------------------------------------------------------
    def buckets(self) -> tuple[BucketEntry, ...]:
        """The buckets the caller can reach (every page)."""
        found: list[BucketEntry] = []
        after: str | None = None
        while True:
            page = self.call(protocol.list_buckets(after))
            found.extend(page.buckets)
            if not page.next_after:
                return tuple(found)
            after = page.next_after

    def bucket(self, name: str) -> BucketEntry:
        return self.call(protocol_buckets.get_bucket(name))

    def create_bucket(self, name: str, **settings: Any) -> BucketEntry:
        """Settings: ``versioning``, ``keep_versions``, ``keep_days``."""
        return self.call(protocol_buckets.create_bucket(name, **settings))

    def update_bucket(self, name: str, **settings: Any) -> BucketEntry:
        return self.call(protocol_buckets.update_bucket(name, **settings))

    def delete_bucket(self, name: str, *, recursive: bool = False, wait: bool = True,
                      progress: ProgressSink | None = None,
                      poll_s: float = DEFAULT_POLL_S) -> BucketRemoval:
        status = self.call(protocol_buckets.delete_bucket(name, recursive))
        if status is not None and wait:
            status = self.wait_task(status, progress=progress, poll_s=poll_s,
                                    description=f"bucket rm {name}")
        return BucketRemoval(name, status)


class AsyncNamespaceOps:
    """Mixed into :class:`client.async_client.AsyncClient`; the twin of NamespaceOps."""

    async def call(self, op: protocol.Call[T]) -> T:
        raise NotImplementedError

    async def mkdir(self, remote: str) -> MkdirResult:
        return await self.call(protocol_namespace.mkdir(remote))

    async def move(self, source: str, target: str, **options: Any) -> PathOpResult:
        return await self.call(protocol_namespace.move(source, target, **options))

    async def copy(self, source: str, target: str, **options: Any) -> PathOpResult:
        return await self.call(protocol_namespace.copy(source, target, **options))

    async def walk(self, remote: str) -> list[DirEntry]:
        entries: list[DirEntry] = []
        cursor: str | None = None
        while True:
            page = await self.call(protocol.list_dir(remote, cursor=cursor, recursive=True))
            entries.extend(page.entries)
            if not page.next_cursor:
                return entries
            cursor = page.next_cursor

    async def versions(self, remote: str) -> tuple[VersionEntry, ...]:
        return await self.call(protocol_namespace.versions(remote))

    async def restore(self, remote: str, version_id: str) -> RestoreResult:
        return await self.call(protocol_namespace.restore(remote, version_id))

    async def task(self, task_id: str) -> TaskStatus:
        return await self.call(protocol_namespace.task(task_id))

    async def wait_task(self, status: TaskStatus, *, progress: ProgressSink | None = None,
                        poll_s: float = DEFAULT_POLL_S, description: str = "") -> TaskStatus:
        watch = TaskWatch.of(description or status.kind, progress)
        try:
            while not watch.seen(status):
                await asyncio.sleep(poll_s)
                status = await self.task(status.task_id)
        finally:
            watch.close()
        return status

    async def delete_tree(self, remote: str, *, wait: bool = True,
                          progress: ProgressSink | None = None,
                          poll_s: float = DEFAULT_POLL_S) -> TreeRemoval:
        status = await self.call(protocol_namespace.delete_tree(remote))
        if wait:
            status = await self.wait_task(status, progress=progress, poll_s=poll_s,
                                          description=f"rm -r {remote}")
        return TreeRemoval(remote, status)

    async def delete_empty_dir(self, remote: str) -> dict[str, Any]:
        return await self.call(protocol_namespace.delete_empty_dir(remote))

    async def buckets(self) -> tuple[BucketEntry, ...]:
        found: list[BucketEntry] = []
        after: str | None = None
        while True:
            page = await self.call(protocol.list_buckets(after))
            found.extend(page.buckets)
            if not page.next_after:
                return tuple(found)
            after = page.next_after

    async def bucket(self, name: str) -> BucketEntry:
        return await self.call(protocol_buckets.get_bucket(name))

    async def create_bucket(self, name: str, **settings: Any) -> BucketEntry:
        return await self.call(protocol_buckets.create_bucket(name, **settings))

    async def update_bucket(self, name: str, **settings: Any) -> BucketEntry:
        return await self.call(protocol_buckets.update_bucket(name, **settings))

    async def delete_bucket(self, name: str, *, recursive: bool = False, wait: bool = True,
                            progress: ProgressSink | None = None,
                            poll_s: float = DEFAULT_POLL_S) -> BucketRemoval:
        status = await self.call(protocol_buckets.delete_bucket(name, recursive))
        if status is not None and wait:
            status = await self.wait_task(status, progress=progress, poll_s=poll_s,
                                          description=f"bucket rm {name}")
        return BucketRemoval(name, status)

"""Work recursive deletes (task rows) in batches: ``run_once`` + the common loop runner.

Each batch deletes up to ``batch_size`` files in its own transaction and records the
progress on the task, so a master that stops mid-task leaves a task any master picks up
(tasks are claimed with SKIP LOCKED, so two masters never work one task at once).
A bucket delete drops the bucket row once its last file and directory are gone.

``RetentionSweeper`` applies versioned buckets' retention to files nobody writes (a
commit applies it to the file it writes): idempotent, so any master may run it.
"""

from __future__ import annotations

import logging

from master.metadata.namespace import NamespaceRepository
from master.metadata.tasks import TasksRepository

__all__ = ["NamespaceTaskRunner", "RetentionSweeper"]

log = logging.getLogger(__name__)


class NamespaceTaskRunner:
    def __init__(
        self, tasks: TasksRepository, namespace: NamespaceRepository, batch_size: int = 500
    ) -> None:
        self._tasks = tasks
        self._namespace = namespace
        self._batch_size = batch_size

    async def run_once(self) -> int:
        """Work one batch of the oldest running task; return how many files it deleted."""
        async with self._tasks.claim() as claimed:
            if claimed is None:
                return 0
            conn, task = claimed
            # A directory's recursive delete keeps a versioned bucket's history (delete
            # markers); a bucket delete removes the bucket and everything in it.
            deleted, finished = await self._namespace.delete_batch(
                task.bucket_id, task.path, self._batch_size,
                keep_history=task.kind == "delete_tree", actor_id=task.created_by)
            if finished and task.kind == "delete_bucket":
                await self._tasks.drop_bucket(conn, task.bucket_id, task.created_by)
            await self._tasks.progress(conn, task.id, deleted,
                                       state="done" if finished else "running")
            if finished:
                log.info("task done", extra={"task_id": str(task.id), "kind": task.kind})
            return deleted

    def pause_after(self, deleted: int) -> float:
        """Back to back while there is work; otherwise the loop's interval."""
        return 0.0 if deleted else 1.0


class RetentionSweeper:
    def __init__(self, namespace: NamespaceRepository, batch_size: int = 1000) -> None:
        self._namespace = namespace
        self._batch_size = batch_size

    async def run_once(self) -> int:
        """Drop what retention no longer keeps, a batch at a time; return how many."""
        dropped = 0
        while True:
            batch = await self._namespace.sweep_retention(self._batch_size)
            dropped += batch
            if batch < self._batch_size:
                if dropped:
                    log.info("retention dropped versions", extra={"versions": dropped})
                return dropped

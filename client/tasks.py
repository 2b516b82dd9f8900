"""Following a server task (a recursive delete) to its end: what both clients share.

The clients poll ``GET /api/v1/tasks/{id}`` every ``poll_s`` (their own sleep, sync or
async); :class:`TaskWatch` turns each status into progress (files done of total) and
decides when to stop. A ``failed`` task is :class:`~client.errors.TaskFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from client.errors import TaskFailed
from client.models_ops import TaskStatus
from client.progress import NullProgress, ProgressSink

__all__ = ["DEFAULT_POLL_S", "TaskWatch"]

DEFAULT_POLL_S = 0.5


@dataclass
class TaskWatch:
    description: str
    sink: ProgressSink
    _shown: int = 0
    _started: bool = False

    @classmethod
    def of(cls, description: str, sink: ProgressSink | None) -> TaskWatch:
        return cls(description, sink or NullProgress())

    def seen(self, status: TaskStatus) -> bool:
        """Report ``status``; True once the task has ended well. TaskFailed if it failed."""
        if not self._started:
            self.sink.start(self.description, status.total, status.done)
            self._started, self._shown = True, status.done
        elif status.done > self._shown:
            self.sink.advance(status.done - self._shown)
            self._shown = status.done
        if status.state == "failed":
            self.close()
            raise TaskFailed(f"task {status.task_id} failed after {status.done} of "
                             f"{status.total}: {status.error or 'no reason given'}",
                             details={"task": status.to_json()})
        if status.state == "done":
            self.close()
            return True
        return False

    def close(self) -> None:
        if self._started:
            self.sink.finish()
            self._started = False

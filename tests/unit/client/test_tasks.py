"""Following a server task: progress in files, the end, and a failure as TaskFailed."""

from __future__ import annotations

import pytest

from client.errors import TaskFailed
from client.models_ops import TaskStatus
from client.tasks import TaskWatch


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        self.events.append(("start", total_bytes))
        self.events.append(("done", done_bytes))

    def advance(self, nbytes: int) -> None:
        self.events.append(("advance", nbytes))

    def finish(self) -> None:
        self.events.append(("finish", 0))


def _status(state: str, done: int, error: str | None = None) -> TaskStatus:
    return TaskStatus("t1", "delete_tree", state, done, 10, error)


def test_progress_advances_by_what_the_task_did_since_the_last_look() -> None:
    sink = Recorder()
    watch = TaskWatch.of("rm -r b/d", sink)
    assert not watch.seen(_status("running", 0))
    assert not watch.seen(_status("running", 4))
    assert not watch.seen(_status("running", 4))
    assert watch.seen(_status("done", 10))
    assert sink.events == [("start", 10), ("done", 0), ("advance", 4), ("advance", 6),
                           ("finish", 0)]


def test_a_failed_task_raises_with_its_reason_and_closes_the_bar() -> None:
    sink = Recorder()
    watch = TaskWatch.of("rm -r b/d", sink)
    watch.seen(_status("running", 2))
    with pytest.raises(TaskFailed) as caught:
        watch.seen(_status("failed", 3, "worker gone"))
    assert "worker gone" in caught.value.message and caught.value.code == "task_failed"
    assert caught.value.details["task"]["done"] == 3
    assert sink.events[-1] == ("finish", 0)

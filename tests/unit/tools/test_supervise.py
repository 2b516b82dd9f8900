"""The supervisor of `make run-cluster` (tools.supervise), on fake children and a fake
clock: which child is restarted when, how the delay grows and is capped, and what the
log says."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from tools.run_cluster import describe_exit
from tools.supervise import Backoff, Child, Supervisor


@dataclass
class FakeProcess:
    name: str
    running: bool = True
    starts: int = 0
    spawn_fails: bool = False

    def child(self) -> Child:
        return Child(self.name, lambda: self.running, lambda: "killed by SIGKILL",
                     self.restart)

    def restart(self) -> None:
        if self.spawn_fails:
            raise OSError("no such file")
        self.starts += 1
        self.running = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_from_the_initial_delay_and_is_capped() -> None:
    backoff = Backoff(initial_delay_s=0.5, max_delay_s=30.0)
    assert [backoff.delay_s(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay_s(10_000) == 30.0
    with pytest.raises(ValueError):
        backoff.delay_s(0)


def test_only_the_dead_child_is_restarted_after_its_delay_and_it_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    worker, master = FakeProcess("worker-1"), FakeProcess("master")
    supervisor = Supervisor([worker.child(), master.child()], Backoff(0.5, 30.0, 60.0), clock)
    caplog.set_level(logging.WARNING, logger="tools.supervise")

    worker.running = False
    supervisor.check_once()
    assert "worker-1 exited (killed by SIGKILL); restart attempt 1 in 0.5 s" in caplog.text
    clock.now += 0.4
    supervisor.check_once()
    assert worker.starts == 0  # not before its delay
    clock.now += 0.1
    supervisor.check_once()
    assert (worker.starts, master.starts) == (1, 0)
    assert "worker-1 restarted (attempt 1)" in caplog.text

    # It dies again at once: the next delay is twice as long.
    worker.running = False
    supervisor.check_once()
    assert "restart attempt 2 in 1.0 s" in caplog.text
    clock.now += 1.0
    supervisor.check_once()
    assert worker.starts == 2
    assert supervisor.restarts == 2


def test_a_child_that_stays_up_starts_again_from_the_short_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    worker = FakeProcess("worker-1")
    supervisor = Supervisor([worker.child()], Backoff(0.5, 30.0, 60.0), clock)
    caplog.set_level(logging.WARNING, logger="tools.supervise")
    for _ in range(3):  # three quick crashes: attempt 3
        worker.running = False
        supervisor.check_once()
        clock.now += 10
        supervisor.check_once()
    assert "restart attempt 3 in 2.0 s" in caplog.text
    clock.now += 60
    supervisor.check_once()  # up for a minute: forgiven
    worker.running = False
    supervisor.check_once()
    assert caplog.text.rstrip().endswith("restart attempt 1 in 0.5 s")


def test_a_restart_that_cannot_spawn_is_one_more_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    redis = FakeProcess("redis", running=False, spawn_fails=True)
    supervisor = Supervisor([redis.child()], Backoff(0.5, 30.0, 60.0), clock)
    caplog.set_level(logging.WARNING, logger="tools.supervise")
    for _ in range(3):
        supervisor.check_once()
        clock.now += 5
        supervisor.check_once()
    assert "redis could not be restarted (attempt 1): no such file" in caplog.text
    assert "restart attempt 3 in 2.0 s" in caplog.text
    redis.spawn_fails = False
    supervisor.check_once()
    assert "restart attempt 4 in 4.0 s" in caplog.text
    clock.now += 4
    supervisor.check_once()
    assert redis.running and redis.starts == 1


def test_exit_statuses_read_as_a_person_would_say_them() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(1) == "exit status 1"
    assert describe_exit(None) == "exit status unknown"

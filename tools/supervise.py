"""Keep a local cluster's processes running: restart whatever dies, with capped backoff.

``make run-cluster`` (``tools.run_cluster``) supervises its children with this: a worker,
master, controller, embedded PostgreSQL or Redis that exits is logged (which child, its
exit status, the attempt, the delay before it) and started again after
``min(max_delay_s, initial_delay_s * 2 ** (attempt - 1))``; the other children keep
running. A child that stays up for ``stable_after_s`` has its attempt count reset, so a
crash a day later starts again from the short delay.

Restarting a worker, master or controller only spawns the process (the test harness's
``wait=False``), so a stop request (Ctrl-C, SIGTERM) is seen within one poll; the
embedded PostgreSQL and Redis restart synchronously (``pg_ctl -w``: seconds at most).
The test harness (``tools.cluster.LocalCluster``) does not supervise on its own: tests
kill workers on purpose and must see them stay dead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "Child", "Supervisor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff: attempt 1 waits ``initial_delay_s``, each next one
    twice as long, never more than ``max_delay_s``."""

    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    stable_after_s: float = 60.0

    def delay_s(self, attempt: int) -> float:
        if attempt < 1:
            raise ValueError("attempts count from 1")
        return float(min(self.max_delay_s, self.initial_delay_s * 2 ** min(attempt - 1, 32)))


@dataclass
class Child:
    """One supervised process, seen through three callables.

    ``alive`` says whether it runs; ``exit_status`` describes how it ended (for the log);
    ``restart`` starts it again and returns (raising if it cannot); its result is unused.
    """

    name: str
    alive: Callable[[], bool]
    exit_status: Callable[[], str]
    restart: Callable[[], object]
    attempt: int = 0
    restart_at: float | None = None
    up_since: float = field(default=0.0)


class Supervisor:
    """Polls its children; restarts the dead ones after their backoff delay."""

    def __init__(
        self, children: list[Child], backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = children
        self.backoff = backoff or Backoff()
        self._clock = clock
        now = clock()
        for child in children:
            child.up_since = now
        self.restarts = 0

    def check_once(self) -> None:
        """One pass: note children that died, restart those whose delay has passed."""
        now = self._clock()
        for child in self.children:
            if child.restart_at is None:
                if child.alive():
                    if child.attempt and now - child.up_since >= self.backoff.stable_after_s:
                        child.attempt = 0
                    continue
                child.attempt += 1
                delay_s = self.backoff.delay_s(child.attempt)
                child.restart_at = now + delay_s
                log.warning(
                    "%s exited (%s); restart attempt %d in %.1f s",
                    child.name, child.exit_status(), child.attempt, delay_s,
                    extra={"child": child.name, "attempt": child.attempt,
                           "delay_s": delay_s},
                )
            elif now >= child.restart_at:
                self._restart(child, now)

    def _restart(self, child: Child, now: float) -> None:
        child.restart_at = None
        child.up_since = now
        try:
            child.restart()
        except Exception as exc:  # a failed spawn is one more failed attempt, not the end
            log.error("%s could not be restarted (attempt %d): %s",
                      child.name, child.attempt, exc,
                      extra={"child": child.name, "attempt": child.attempt})
            return
        self.restarts += 1
        log.warning("%s restarted (attempt %d)", child.name, child.attempt,
                    extra={"child": child.name, "attempt": child.attempt})

    def run(self, should_stop: Callable[[], bool], poll_s: float = 0.25) -> None:
        """Supervise until ``should_stop()`` is true."""
        while not should_stop():
            self.check_once()
            time.sleep(poll_s)

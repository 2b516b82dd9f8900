"""What a master reports of its puts to a worker ages out: a failure rate left high by an
outage must not keep a recovered worker unwritable for the controller until writes
happen to reach it again (a quiet cluster would stay in A)."""

from __future__ import annotations

from master.replication.observations import LATENCY_FRESH_S, WriteObservations


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_rate_is_reported_while_fresh_and_forgotten_after() -> None:
    clock = _Clock()
    observations = WriteObservations(clock)
    for _ in range(5):
        observations.put_finished(observations.put_started("w1"), ok=False)
    assert observations.worker_stats()["w1"].failure_rate > 0.5
    clock.now += LATENCY_FRESH_S - 1
    assert observations.worker_stats()["w1"].failure_rate > 0.5
    clock.now += 2
    stats = observations.worker_stats()["w1"]
    assert stats.failure_rate == 0.0 and stats.failed == 5  # counters are kept


def test_a_put_failing_again_brings_the_rate_back() -> None:
    clock = _Clock()
    observations = WriteObservations(clock)
    for _ in range(5):
        observations.put_finished(observations.put_started("w1"), ok=False)
    clock.now += LATENCY_FRESH_S + 1
    observations.put_finished(observations.put_started("w1"), ok=False)
    assert observations.worker_stats()["w1"].failure_rate > 0.5

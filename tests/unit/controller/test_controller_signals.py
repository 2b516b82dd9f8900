"""How probe outcomes become the failing share that partition risk is made of."""

from __future__ import annotations

from consistency_controller.signals import FAILING_AT, WorkerHealth, share_failing


def probed(outcomes: list[bool], master_state: str = "healthy") -> WorkerHealth:
    worker = WorkerHealth("w", "127.0.0.1:1", master_state=master_state)
    for i, ok in enumerate(outcomes):
        worker.observe(ok, 0.002, "" if ok else "DEADLINE_EXCEEDED", float(i))
    return worker


def test_one_lost_probe_is_noise_two_make_a_worker_failing() -> None:
    assert not probed([True, True, False]).failing
    assert probed([True, True, False, False]).failing
    assert probed([False, False]).failure_rate >= FAILING_AT


def test_a_recovered_worker_stops_failing_after_two_good_probes() -> None:
    worker = probed([False] * 10 + [True])
    assert worker.failing
    worker.observe(True, 0.001, "", 11.0)
    assert not worker.failing


def test_master_marking_suspect_or_down_counts_even_with_good_probes() -> None:
    assert probed([True], master_state="suspect").failing
    assert probed([True], master_state="down").failing
    assert not probed([True], master_state="draining").failing


def test_rtt_is_an_ewma_of_successful_probes_only() -> None:
    worker = WorkerHealth("w", "a")
    worker.observe(True, 0.010, "", 0.0)
    worker.observe(False, 5.0, "DEADLINE_EXCEEDED", 1.0)
    assert worker.rtt_ewma_s == 0.010
    worker.observe(True, 0.020, "", 2.0)
    assert abs(worker.rtt_ewma_s - 0.013) < 1e-9


def test_failing_share_counts_unknown_replica_workers_as_failing() -> None:
    health = {"a": probed([True]), "b": probed([False, False])}
    assert share_failing([], health) == 0.0
    assert share_failing(["a"], health) == 0.0
    assert share_failing(["a", "b"], health) == 0.5
    assert share_failing(["a", "b", "gone"], health) == 2 / 3

"""How probe outcomes become the failing share, and that share the partition risk."""

from __future__ import annotations

from consistency_controller.policy import EMERGENCY_RISK, PolicyState, Signals, decide
from consistency_controller.signals import (
    FAILING_AT,
    WorkerHealth,
    partition_risk,
    share_failing,
)
from common.quorum import Mode


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


def test_partition_risk_is_measured_against_the_failures_c_absorbs() -> None:
    """N = 3, W_C = 2: C absorbs one failing replica, so one of three failing workers is
    half the budget and two of three use all of it."""
    good, bad = probed([True]), probed([False, False])
    three = {"a": good, "b": good, "c": good}
    assert partition_risk(list(three), three, 3) == 0.0
    one_bad = {**three, "a": bad}
    assert partition_risk(list(one_bad), one_bad, 3) == 0.5
    two_bad = {**one_bad, "b": bad}
    assert partition_risk(list(two_bad), two_bad, 3) == 1.0
    # N = 5, W_C = 3: three failures exhaust C; one of five failing is a third of that.
    five = {f"w{i}": (bad if i == 0 else good) for i in range(5)}
    assert abs(partition_risk(list(five), five, 5) - 1 / 3) < 1e-9
    # N = 1: the one replica is the whole budget.
    assert partition_risk(["a"], {"a": bad}, 1) == 1.0


def test_two_of_three_workers_failing_is_an_emergency_and_one_is_not() -> None:
    good, bad = probed([True]), probed([False, False])
    one_bad = {"a": bad, "b": good, "c": good}
    two_bad = {"a": bad, "b": bad, "c": good}
    calm = decide(Signals(risk=partition_risk(list(one_bad), one_bad, 3)), PolicyState(), 0.0)
    assert calm.mode is Mode.STRONG and not calm.changed
    risk = partition_risk(list(two_bad), two_bad, 3)
    assert risk > EMERGENCY_RISK
    urgent = decide(Signals(risk=risk), PolicyState(), 0.0)
    assert urgent.mode is Mode.AVAILABLE and urgent.reason_code == "emergency"

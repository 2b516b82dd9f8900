"""How probe outcomes and the masters' reports become what the policy decides on."""

from __future__ import annotations

from common.quorum import Mode
from consistency_controller.policy import PolicyState, Signals, decide
from consistency_controller.signals import FAILING_AT, WorkerHealth
from consistency_controller.viability import MasterView, assess


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


def test_a_worker_never_heard_from_is_unknown_only_within_the_grace() -> None:
    worker = WorkerHealth("w", "a", first_seen_at=100.0)
    worker.observe(False, 0.5, "UNAVAILABLE", 101.0)
    assert worker.unknown(110.0, grace_s=15.0)
    assert not worker.unknown(116.0, grace_s=15.0)
    assert not worker.snapshot([], 116.0, 15.0).unknown
    worker.observe(True, 0.001, "", 112.0)
    assert not worker.unknown(113.0, grace_s=15.0)
    # A master writing to it makes it known at once.
    fresh = WorkerHealth("v", "b", first_seen_at=100.0)
    assert fresh.snapshot([], 101.0, 15.0).unknown
    assert not fresh.snapshot([MasterView("m", "healthy")], 101.0, 15.0).unknown


def test_the_masters_view_decides_what_is_writable() -> None:
    """A partition the masters see and the controller's probes do not: the masters win."""
    answering = probed([True, True])
    cut_off = answering.snapshot([MasterView("m1", "suspect")], 10.0, 0.0)
    assert not cut_off.probe_failing and not cut_off.writable
    # One of two masters cut off is enough: its C writes could not be placed.
    half = answering.snapshot([MasterView("m1", "healthy"), MasterView("m2", "down")], 10.0, 0.0)
    assert not half.writable
    # Probes answer, puts fail (a gray failure): not writable either.
    gray = answering.snapshot([MasterView("m1", "healthy", put_failure_rate=0.6)], 10.0, 0.0)
    assert not gray.writable
    # The reverse partition (the controller cannot reach it, the masters write to it).
    unreachable = probed([False, False])
    assert unreachable.snapshot([MasterView("m1", "healthy")], 10.0, 0.0).writable
    # No master reports: the controller's probes and the recorded state decide.
    assert not unreachable.snapshot([], 10.0, 0.0).writable
    assert answering.snapshot([], 10.0, 0.0).writable
    assert not probed([True], master_state="suspect").snapshot([], 10.0, 0.0).writable


def test_two_of_three_workers_cut_off_from_the_masters_is_an_emergency() -> None:
    good = probed([True, True])
    snapshots = [
        good.snapshot([MasterView("m1", state)], 10.0, 0.0)
        for state in ("suspect", "suspect", "healthy")
    ]
    viability = assess(snapshots, 3)
    assert (viability.workers, viability.writable) == (3, 1)
    signals = Signals(workers=3, writable=1, replication_factor=3)
    decision = decide(signals, PolicyState(), 0.0)
    assert decision.mode is Mode.AVAILABLE and decision.reason_code == "emergency"

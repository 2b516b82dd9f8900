"""Writable workers and C's expected latency from per-worker observations (pure)."""

from __future__ import annotations

from consistency_controller.viability import MasterView, WorkerSnapshot, assess


def test_write_latency_is_the_slowest_masters_view_including_puts_in_flight() -> None:
    view = MasterView("m1", "healthy", put_latency_s=0.02, oldest_put_s=0.0)
    assert view.write_latency_s == 0.02
    stuck = MasterView("m2", "healthy", put_latency_s=0.02, oldest_put_s=4.0)
    assert stuck.write_latency_s == 4.0
    worker = WorkerSnapshot("w", masters=(view, stuck))
    assert worker.write_latency_s == 4.0
    # Without puts, the controller's probe round trip stands in.
    assert WorkerSnapshot("w", probe_rtt_s=0.003).write_latency_s == 0.003
    assert WorkerSnapshot("w", masters=(MasterView("m", "healthy"),)).write_latency_s is None


def test_c_latency_is_the_wc_th_fastest_writable_worker() -> None:
    def worker(i: int, latency: float, state: str = "healthy") -> WorkerSnapshot:
        return WorkerSnapshot(f"w{i}", masters=(MasterView("m", state, put_latency_s=latency),))

    three = [worker(0, 0.01), worker(1, 0.9), worker(2, 0.05)]
    viability = assess(three, 3)
    assert viability.c_latency_s == 0.05 and viability.a_latency_s == 0.01
    # The fast one becomes unplaceable: C now waits for the 0.9 s worker.
    viability = assess([worker(0, 0.01, "suspect"), *three[1:]], 3)
    assert viability.writable == 2 and viability.c_latency_s == 0.9
    assert viability.not_writable == ("w0",)
    # N = 5: W_C = 3.
    five = [worker(i, latency) for i, latency in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    assert assess(five, 5).c_latency_s == 0.3


def test_unknown_workers_are_counted_and_never_writable() -> None:
    snapshots = [WorkerSnapshot("a"), WorkerSnapshot("b", unknown=True)]
    viability = assess(snapshots, 3)
    assert (viability.workers, viability.writable, viability.unknown) == (2, 1, 1)

"""QuorumTracker: the counting of one chunk's quorum write, without any I/O."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from master.replication.quorum_tracker import QuorumTracker, is_dedup

CHUNK = "c" * 64


def test_live_holders_count_toward_w_and_what_is_left_is_needed_new() -> None:
    tracker = QuorumTracker(CHUNK, 2, ["old"], ["w1", "w2"])
    assert tracker.needed_new == 1
    assert not tracker.met and tracker.waiting and tracker.attainable
    tracker.ack("w2")
    assert tracker.met and not tracker.waiting
    assert tracker.pending == {"w1"} and tracker.live_copies == 2


def test_more_live_holders_than_w_need_no_new_copy() -> None:
    tracker = QuorumTracker(CHUNK, 2, ["a", "b", "c"], ["w1"])
    assert tracker.needed_new == 0 and tracker.met and not tracker.waiting


def test_failures_can_make_the_quorum_unattainable() -> None:
    tracker = QuorumTracker(CHUNK, 2, [], ["w1", "w2", "w3"])
    tracker.fail("w1", "disk full")
    assert tracker.attainable and tracker.waiting
    tracker.fail("w2", "unreachable")
    assert not tracker.attainable and tracker.waiting  # w3 still runs: W may yet drop
    tracker.fail("w3", "refused")
    assert not tracker.waiting and not tracker.met


def test_a_lower_w_applies_at_once_and_w_never_rises() -> None:
    tracker = QuorumTracker(CHUNK, 3, [], ["w1", "w2", "w3"])
    tracker.ack("w1")
    assert not tracker.met and tracker.may_weaken
    tracker.lower_quorum(1)
    assert tracker.met and tracker.write_quorum == 1 and not tracker.may_weaken
    tracker.lower_quorum(3)
    assert tracker.write_quorum == 1


def test_the_failure_says_what_was_needed_what_succeeded_and_what_the_others_returned() -> None:
    tracker = QuorumTracker(CHUNK, 3, ["old"], ["w1", "w2", "w3"])
    tracker.ack("w1")
    tracker.fail("w2", "Unavailable: gone")
    tracker.fail("w3", "StorageFull: no space")
    error = tracker.error()
    assert error.details == {
        "chunk_id": CHUNK, "needed": 3, "succeeded": ["old", "w1"],
        "failures": {"w2": "Unavailable: gone", "w3": "StorageFull: no space"},
    }
    assert "needed 3, 2 succeeded (old, w1)" in error.message
    assert "w2: Unavailable: gone" in error.message


def test_too_few_targets_is_a_placement_failure() -> None:
    tracker = QuorumTracker(CHUNK, 2, [], ["w1"])
    assert not tracker.attainable
    error = tracker.placement_error()
    assert error.details["needed"] == 2 and error.details["succeeded"] == []
    assert error.details["failures"] == {"placement": "only 1 healthy workers can take it"}


def test_dedup_needs_n_live_copies() -> None:
    assert is_dedup(3, 3) and is_dedup(4, 3)
    assert not is_dedup(2, 3)


@st.composite
def writes(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[str, int]]]:
    """(N, W, live holders, events): each event acks or fails a target, or lowers W."""
    n = draw(st.integers(1, 7))
    w = draw(st.integers(1, n))
    live = draw(st.integers(0, n - 1))
    targets = n - live
    order = draw(st.permutations(range(targets)))
    events: list[tuple[str, int]] = [
        (draw(st.sampled_from(["ack", "fail"])), target) for target in order
    ]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(events)))
        events.insert(at, ("lower", draw(st.integers(1, n))))
    return n, w, live, events


@settings(max_examples=100, deadline=None)
@given(writes())
def test_the_bookkeeping_stays_consistent_whatever_the_replicas_answer(
    write: tuple[int, int, int, list[tuple[str, int]]],
) -> None:
    n, w, live, events = write
    holders = [f"old{i}" for i in range(live)]
    targets = [f"w{i}" for i in range(n - live)]
    tracker = QuorumTracker(CHUNK, w, holders, targets)
    was_met = tracker.met
    previous_w = w
    for kind, value in events:
        attainable_before = tracker.attainable
        if kind == "ack":
            tracker.ack(targets[value])
        elif kind == "fail":
            tracker.fail(targets[value], f"error {value}")
        else:
            tracker.lower_quorum(value)
        # W never rises, and once met the quorum stays met.
        assert tracker.write_quorum <= previous_w
        previous_w = tracker.write_quorum
        assert tracker.met or not was_met
        was_met = tracker.met
        # A failure can only take attainability away, never give it.
        if kind == "fail":
            assert attainable_before or not tracker.attainable
        # Every target is in exactly one of pending / acked / failed.
        assert sorted([*tracker.pending, *tracker.acked, *tracker.failures]) == sorted(targets)
        assert len(tracker.acked) + len(tracker.failures) + len(tracker.pending) == len(targets)
        # Met means W durable copies, old and new together.
        assert tracker.met == (tracker.live_copies >= tracker.write_quorum)
        assert tracker.waiting == (bool(tracker.pending) and not tracker.met)
        if not tracker.attainable:
            assert not tracker.met
    assert not tracker.pending
    error = tracker.error()
    assert error.details["needed"] == tracker.write_quorum
    assert error.details["succeeded"] == [*holders, *tracker.acked]
    assert set(error.details["failures"]) == {t for t in targets if t not in tracker.acked}

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from master.placement.rendezvous import Candidate, place

chunk_ids = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
worker_sets = st.lists(st.integers(1, 40), min_size=1, max_size=12, unique=True).map(
    lambda ids: [Candidate(f"w{i}", zone=f"z{i % 3}") for i in ids]
)


@given(chunk_ids, worker_sets, st.integers(1, 5))
def test_replicas_are_distinct_and_as_many_as_possible(chunk_id, workers, n) -> None:  # type: ignore[no-untyped-def]
    chosen = place(chunk_id, workers, n)
    assert len(chosen) == len(set(chosen)) == min(n, len(workers))


@given(chunk_ids, worker_sets, st.integers(1, 5))
def test_placement_is_deterministic_and_order_independent(chunk_id, workers, n) -> None:  # type: ignore[no-untyped-def]
    assert place(chunk_id, workers, n) == place(chunk_id, list(reversed(workers)), n)


@given(chunk_ids, worker_sets, st.integers(1, 3))
def test_zones_are_spread_before_any_zone_gets_a_second_replica(chunk_id, workers, n) -> None:  # type: ignore[no-untyped-def]
    chosen = place(chunk_id, workers, n)
    zones = {c.worker_id: c.zone for c in workers}
    distinct_zones = len({c.zone for c in workers})
    assert len({zones[w] for w in chosen}) == min(len(chosen), distinct_zones)


@given(chunk_ids, worker_sets, st.integers(1, 4))
def test_removing_an_unchosen_worker_moves_nothing(chunk_id, workers, n) -> None:  # type: ignore[no-untyped-def]
    plain = [Candidate(c.worker_id) for c in workers]
    chosen = place(chunk_id, plain, n)
    others = [c for c in plain if c.worker_id not in chosen]
    if others:
        survivors = [c for c in plain if c.worker_id != others[0].worker_id]
        assert place(chunk_id, survivors, n) == chosen


@given(chunk_ids, worker_sets)
def test_excluded_workers_are_never_chosen(chunk_id, workers) -> None:  # type: ignore[no-untyped-def]
    excluded = {workers[0].worker_id}
    assert excluded.isdisjoint(place(chunk_id, workers, 3, exclude=excluded))

"""Drain starts on real PostgreSQL: a drain is admitted only while N other workers
would be left, and drains started at the same moment take turns, so they cannot each
count the other as staying (``WorkersRepository.start_drain``)."""

from __future__ import annotations

import asyncio

import pytest

from master.metadata.pool import Database
from master.metadata.workers import WorkersRepository
from tests.support.db import query

pytestmark = pytest.mark.timeout(60)

N = 3



def _seed(pg_url: str, states: dict[str, str]) -> None:
    for port, (worker_id, state) in enumerate(states.items(), start=7001):
        query(pg_url, "INSERT INTO workers (worker_id, address, state, state_changed_at)"
                      " VALUES (%s, %s, %s, now()) RETURNING worker_id",
              (worker_id, f"127.0.0.1:{port}", state))


def _states(pg_url: str) -> dict[str, str]:
    return {r["worker_id"]: r["state"]
            for r in query(pg_url, "SELECT worker_id, state FROM workers")}


async def test_concurrent_drain_starts_leave_n_workers(db: Database, pg_url: str) -> None:
    # Five members with N = 3: two may go, whoever asks first; the other three stay.
    # (A down worker counts as staying; a removed one never does.)
    _seed(pg_url, {"w1": "healthy", "w2": "healthy", "w3": "healthy", "w4": "healthy",
                   "w5": "down", "w6": "removed"})
    workers = WorkersRepository(db)
    asked = ["w1", "w2", "w3", "w4", "w5"]
    lefts = await asyncio.gather(*(workers.start_drain(w, keep=N) for w in asked))
    started = [w for w, left in zip(asked, lefts, strict=True) if left is not None and left >= N]
    assert len(started) == 2, lefts
    states = _states(pg_url)
    assert sorted(w for w, s in states.items() if s == "draining") == sorted(started)
    assert sum(1 for s in states.values() if s not in ("draining", "removed")) == N
    # Each refusal counted the drains admitted before it: fewer than N would be left,
    # and the two admitted ones saw four and then three others staying.
    counted = [left for left in lefts if left is not None]
    assert len(counted) == len(asked) and sorted(counted, reverse=True)[:2] == [4, 3], lefts
    assert await workers.start_drain("w6", keep=N) is None  # removed
    assert await workers.start_drain("nobody", keep=N) is None


async def test_a_refused_drain_changes_nothing_and_says_how_many_would_be_left(
    db: Database, pg_url: str
) -> None:
    _seed(pg_url, {"a1": "healthy", "a2": "healthy", "a3": "healthy"})
    before = _states(pg_url)
    assert await WorkersRepository(db).start_drain("a1", keep=N) == 2
    assert _states(pg_url) == before
    assert await WorkersRepository(db).start_drain("a1", keep=2) == 2
    assert _states(pg_url)["a1"] == "draining"

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
    results = await asyncio.gather(*(workers.start_drain(w, keep=N) for w in asked))
    started = [w for w, (ok, _) in zip(asked, results, strict=True) if ok]
    assert len(started) == 2, results
    states = _states(pg_url)
    assert sorted(w for w, s in states.items() if s == "draining") == sorted(started)
    assert sum(1 for s in states.values() if s not in ("draining", "removed")) == N
    # Each refusal counted the drains admitted before it: fewer than N would be left.
    assert all(ok or left < N for ok, left in results), results


async def test_a_refused_drain_changes_nothing_and_says_how_many_would_be_left(
    db: Database, pg_url: str
) -> None:
    _seed(pg_url, {"a1": "healthy", "a2": "healthy", "a3": "healthy"})
    before = _states(pg_url)
    assert await WorkersRepository(db).start_drain("a1", keep=N) == (False, 2)
    assert _states(pg_url) == before
    assert await WorkersRepository(db).start_drain("a1", keep=2) == (True, 2)
    assert _states(pg_url)["a1"] == "draining"

"""Singleton leases on real PostgreSQL (DESIGN §16): one holder at a time, takeover with a
higher token when the holder stops renewing, and fencing — a holder that stalled past its
lease cannot commit its job's work once another took over.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from common.errors import LeaseLost
from common.singleton import Fence, SingletonRunner
from master.metadata.gc import GcRepository
from master.metadata.leases import LeasesRepository, fenced
from master.metadata.pool import Database
from master.metadata.replicas import RepairQueue, ReplicasRepository
from master.metadata.sessions import SessionsRepository
from master.metadata.workers import WorkersRepository
from tests.support.db import query

pytestmark = pytest.mark.timeout(60)

TTL_S = 1.0



async def _until(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - waiting for the runners under test
            await asyncio.sleep(0.02)


class _Stallable:
    """The real lease repository, as seen by a process that can stall (calls hang)."""

    def __init__(self, inner: LeasesRepository) -> None:
        self._inner = inner
        self.awake = asyncio.Event()
        self.awake.set()
        self.calls = 0

    async def acquire(self, job: str, holder: str, ttl_s: float) -> int | None:
        await self.awake.wait()
        self.calls += 1
        return await self._inner.acquire(job, holder, ttl_s)

    async def release(self, job: str, holder: str, token: int) -> None:
        await self._inner.release(job, holder, token)


class _Steps:
    def __init__(self) -> None:
        self.fences: list[Fence] = []
        self.running = 0

    async def step(self, fence: Fence) -> None:
        self.fences.append(fence)
        self.running += 1
        try:
            await asyncio.sleep(3600)  # a pass that only ends when the runner stops it
        finally:
            self.running -= 1


async def test_two_contenders_one_holds_and_the_other_takes_over_with_a_higher_token(
    db: Database, pg_url: str,
) -> None:
    leases = LeasesRepository(db)
    store_a, store_b = _Stallable(leases), _Stallable(leases)
    steps_a, steps_b = _Steps(), _Steps()
    a = SingletonRunner(store_a, "repair", "master-a", ttl_s=TTL_S)
    b = SingletonRunner(store_b, "repair", "master-b", ttl_s=TTL_S)
    task_a = asyncio.create_task(a.run(steps_a.step, interval_s=0.05))
    await _until(lambda: steps_a.running == 1)
    task_b = asyncio.create_task(b.run(steps_b.step, interval_s=0.05))
    try:
        # A renews past several TTLs; B keeps asking and never gets it.
        await _until(lambda: store_a.calls >= 10 and store_b.calls >= 8)
        assert (a.fence, b.fence, steps_b.fences) == (Fence("repair", 1), None, [])
        rows = query(pg_url, "SELECT holder, token FROM singleton_leases WHERE job = 'repair'")
        assert rows == [{"holder": "master-a", "token": 1}]

        store_a.awake.clear()  # A stalls: it stops renewing
        await _until(lambda: steps_b.running == 1)
        assert b.fence is not None and b.fence.token == 2
        assert a.fence is None and steps_a.running == 0  # A stopped its own pass
        rows = query(pg_url, "SELECT holder, token FROM singleton_leases WHERE job = 'repair'")
        assert rows == [{"holder": "master-b", "token": 2}]

        store_a.awake.set()  # A wakes up and contends again: B keeps renewing, A waits
        calls = store_a.calls
        await _until(lambda: store_a.calls >= calls + 5)
        assert (a.fence, steps_a.running, b.fence) == (None, 0, Fence("repair", 2))
    finally:
        for task in (task_a, task_b):
            task.cancel()
        await asyncio.gather(task_a, task_b, return_exceptions=True)
    # A graceful stop released the lease: the next contender gets token 3 at once.
    assert await leases.acquire("repair", "master-c", TTL_S) == 3


# --- fencing ------------------------------------------------------------------------------


async def _stale_and_current(leases: LeasesRepository, job: str) -> tuple[Fence, Fence]:
    """A takes ``job``, stalls past its lease, B takes it over: (A's fence, B's fence)."""
    token_a = await leases.acquire(job, "master-a", 0.3)
    assert token_a is not None
    token_b = None
    async with asyncio.timeout(10):
        while token_b is None:
            await asyncio.sleep(0.05)
            token_b = await leases.acquire(job, "master-b", 30.0)
    assert token_b > token_a
    return Fence(job, token_a), Fence(job, token_b)


def _chunk_id(n: int) -> str:
    return hashlib.sha256(f"fence-{n}-{uuid.uuid4()}".encode()).hexdigest()


def _seed(pg_url: str) -> dict[str, Any]:
    """Rows every fenced statement would change: garbage, a repair item, a down worker,
    a draining one, an expired upload session."""
    garbage, queued = _chunk_id(1), _chunk_id(2)
    for chunk_id in (garbage, queued):
        query(pg_url, "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256,"
                      " last_referenced_at) VALUES (%s, 1, 1, 'raw', 'x',"
                      " now() - interval '1 hour') RETURNING chunk_id", (chunk_id,))
    for worker_id, state in (("w-ok", "healthy"), ("w-down", "down"), ("w-drain", "draining")):
        query(pg_url, "INSERT INTO workers (worker_id, address, state, state_changed_at)"
                      " VALUES (%s, %s, %s, now() - interval '1 hour') RETURNING worker_id",
              (worker_id, f"127.0.0.1:{len(state)}", state))
    query(pg_url, "INSERT INTO replicas (chunk_id, worker_id) VALUES (%s, 'w-ok'), (%s, 'w-down')"
                  " RETURNING chunk_id", (garbage, queued))
    query(pg_url, "INSERT INTO repair_queue (chunk_id, reason, live_copies)"
                  " VALUES (%s, 'worker_down', 1) RETURNING chunk_id", (queued,))
    owner = query(pg_url, "INSERT INTO users (username, password_hash) VALUES ('u', 'x')"
                          " RETURNING id")[0]["id"]
    # Sessions commit into a bucket (migration 0007): the user's home bucket.
    query(pg_url, "SELECT echofs_create_home_bucket(%s, 'u')", (owner,))
    session = query(pg_url, "INSERT INTO upload_sessions (id, owner_id, bucket_id, path,"
                            " file_name, file_size, chunk_size, total_chunks, expires_at)"
                            " SELECT gen_random_uuid(), %s, b.id, 'p', 'p', 1, 65536, 1,"
                            "  now() - interval '1 minute' FROM buckets b WHERE b.home_of = %s"
                            " RETURNING id", (owner, owner))[0]["id"]
    return {"garbage": garbage, "queued": queued, "session": session}


def _snapshot(pg_url: str) -> list[list[dict[str, Any]]]:
    return [
        query(pg_url, "SELECT chunk_id, gc_marked_at FROM chunks ORDER BY chunk_id"),
        query(pg_url, "SELECT chunk_id, worker_id, state FROM replicas ORDER BY 1, 2"),
        query(pg_url, "SELECT chunk_id, attempts, next_attempt_at, claim_token, live_copies,"
                      " last_error FROM repair_queue ORDER BY chunk_id"),
        query(pg_url, "SELECT worker_id, state, down_handled_at FROM workers ORDER BY worker_id"),
        query(pg_url, "SELECT id, state FROM upload_sessions ORDER BY id"),
    ]


def _fenced_commits(db: Database, seeded: dict[str, Any]) -> dict[
        str, Callable[[Fence], Awaitable[Any]]]:
    """Every statement a singleton job commits its work with, by job."""
    gc, queue = GcRepository(db), RepairQueue(db)
    replicas, workers = ReplicasRepository(db), WorkersRepository(db)
    sessions = SessionsRepository(db)
    garbage, queued = seeded["garbage"], seeded["queued"]
    return {
        "gc: mark": lambda f: gc.mark(0.0, 10, f),
        "gc: forget_copy": lambda f: gc.forget_copy(garbage, "w-ok", f),
        "gc: delete_if_still_garbage": lambda f: _mark_then_delete(db, gc, garbage, f),
        "repair: claim": lambda f: queue.claim(10, 120.0, f),
        "repair: add_replica": lambda f: queue.add_replica(queued, "w-ok", f),
        "repair: settle": lambda f: queue.settle(queued, 3, 3, "", 1.0, f),
        "membership: claim_down_workers": lambda f: workers.claim_down_workers(0.0, f),
        "membership: enqueue_chunks_of_worker": lambda f: replicas.enqueue_chunks_of_worker(
            "w-ok", "worker_down", f),
        "membership: finish_drain": lambda f: replicas.finish_drain("w-drain", f),
        "membership: forget_replica": lambda f: replicas.forget_replica(queued, "w-down", f),
        "session-expiry: expire_due": lambda f: sessions.expire_due(fence=f),
    }


async def _mark_then_delete(db: Database, gc: GcRepository, chunk_id: str, fence: Fence) -> bool:
    """delete_if_still_garbage needs the mark it checks; the mark is set unfenced here."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE chunks SET gc_marked_at = COALESCE(gc_marked_at, now())"
            " WHERE chunk_id = %s RETURNING gc_marked_at", (chunk_id,))
        row = await cur.fetchone()
    assert row is not None
    return await gc.delete_if_still_garbage(chunk_id, row["gc_marked_at"], fence)


@pytest.mark.parametrize("statement", [
    "gc: mark", "gc: forget_copy", "gc: delete_if_still_garbage",
    "repair: claim", "repair: add_replica", "repair: settle",
    "membership: claim_down_workers", "membership: enqueue_chunks_of_worker",
    "membership: finish_drain", "membership: forget_replica",
    "session-expiry: expire_due",
])
async def test_a_holder_that_stalled_past_its_lease_cannot_commit(
    db: Database, pg_url: str, statement: str,
) -> None:
    seeded = _seed(pg_url)
    commit = _fenced_commits(db, seeded)[statement]
    stale, current = await _stale_and_current(LeasesRepository(db), statement.split(":")[0])
    if statement == "gc: delete_if_still_garbage":  # the mark it checks is already there
        query(pg_url, "UPDATE chunks SET gc_marked_at = now() WHERE chunk_id = %s"
                      " RETURNING chunk_id", (seeded["garbage"],))
    before = _snapshot(pg_url)

    with pytest.raises(LeaseLost):
        await commit(stale)  # A wakes up and tries to commit with its old token
    assert _snapshot(pg_url) == before, "a refused commit changed something"

    await commit(current)  # the holder of the current token commits the same work
    assert _snapshot(pg_url) != before, "the statement under test changes nothing"


async def test_a_takeover_waits_for_the_fenced_commit_in_flight(db: Database) -> None:
    """The fence check holds until its transaction ends: a contender's takeover of an
    expired lease waits for the holder's commit, then bumps the token."""
    leases = LeasesRepository(db)
    token_a = await leases.acquire("gc", "master-a", 0.2)
    assert token_a is not None
    async with fenced(db, Fence("gc", token_a)) as conn:
        await conn.execute("SELECT pg_sleep(0.4)")  # the lease expires meanwhile
        takeover = asyncio.create_task(leases.acquire("gc", "master-b", 30.0))
        await asyncio.sleep(0.3)
        assert not takeover.done(), "the takeover did not wait for the fenced transaction"
    assert await takeover == token_a + 1

"""Repair wake-ups on real PostgreSQL: a worker coming back makes backed-off items due at
once, and a wake-up that lands while an attempt is running is not undone when that
attempt settles with its backoff (the attempt may have looked before the worker came
back; losing the wake-up left the item waiting minutes with its target already there).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable

import pytest

from master.metadata.pool import Database
from master.metadata.replicas import RepairQueue
from tests.support.db import query

pytestmark = pytest.mark.timeout(60)

LEASE_S = 120.0
BACKOFF_S = 300.0


def _backed_off_item(pg_url: str) -> str:
    """A chunk whose repair tried many times and waits minutes: a long outage's state."""
    chunk_id = hashlib.sha256(f"wake-{uuid.uuid4()}".encode()).hexdigest()
    query(pg_url, "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
                  " VALUES (%s, 1, 1, 'raw', 'x') RETURNING chunk_id", (chunk_id,))
    query(pg_url, "INSERT INTO repair_queue (chunk_id, reason, live_copies, attempts,"
                  " last_error, next_attempt_at) VALUES (%s, 'worker_down', 2, 8,"
                  " 'no target', now() - interval '1 second') RETURNING chunk_id", (chunk_id,))
    return chunk_id


def _due(pg_url: str, chunk_id: str) -> bool:
    rows = query(pg_url, "SELECT next_attempt_at <= now() AS due FROM repair_queue"
                         " WHERE chunk_id = %s", (chunk_id,))
    assert len(rows) == 1, "the item must stay queued until it has N copies"
    return bool(rows[0]["due"])


@pytest.mark.parametrize("wake", ["wake_backed_off", "wake"])
async def test_a_wake_up_during_an_attempt_survives_that_attempts_backoff(
    db: Database, pg_url: str, wake: str,
) -> None:
    queue = RepairQueue(db)
    chunk_id = _backed_off_item(pg_url)
    (item,) = await queue.claim(10, LEASE_S)
    assert item["chunk_id"] == chunk_id and item["attempts"] == 9
    assert not _due(pg_url, chunk_id)  # leased while the attempt runs

    wake_up: Callable[[], Awaitable[object]] = getattr(queue, wake)
    await wake_up()  # the worker comes back while the attempt is still looking
    await queue.settle(chunk_id, 2, 3, "no healthy worker to copy to", BACKOFF_S,
                       claimed_until=item["claimed_until"])

    assert _due(pg_url, chunk_id), f"{wake} during the attempt was lost to its backoff"
    (again,) = await queue.claim(10, LEASE_S)
    assert again["chunk_id"] == chunk_id


async def test_an_attempt_nothing_woke_backs_off(db: Database, pg_url: str) -> None:
    queue = RepairQueue(db)
    chunk_id = _backed_off_item(pg_url)
    (item,) = await queue.claim(10, LEASE_S)
    await queue.settle(chunk_id, 2, 3, "no healthy worker to copy to", BACKOFF_S,
                       claimed_until=item["claimed_until"])
    assert not _due(pg_url, chunk_id)
    assert await queue.claim(10, LEASE_S) == []
    assert await queue.wake_backed_off() == 1  # and a later wake-up still works
    assert [i["chunk_id"] for i in await queue.claim(10, LEASE_S)] == [chunk_id]


async def test_an_item_claimed_again_after_its_lease_ran_out_backs_off_as_before(
    db: Database, pg_url: str,
) -> None:
    """A slow attempt whose lease ran out and whose item another claim took settles
    with its backoff: only an earlier due time than its own lease end means a wake-up."""
    queue = RepairQueue(db)
    chunk_id = _backed_off_item(pg_url)
    (first,) = await queue.claim(10, 0.0)  # a lease that is over at once
    (second,) = await queue.claim(10, LEASE_S)
    assert second["claimed_until"] > first["claimed_until"]
    await queue.settle(chunk_id, 2, 3, "slow", BACKOFF_S, claimed_until=first["claimed_until"])
    assert not _due(pg_url, chunk_id)

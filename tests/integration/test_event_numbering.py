"""The change feed's numbering pass against real PostgreSQL: committed outbox rows get
dense ids after the counter's value, the counter moves, every master is told (NOTIFY
``echofs_events`` with the last id), and a pass waits while another holds the counter.

(The reader rule under concurrent writers is tests/integration/test_events.py's; this
file pins the one statement the pass became.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from master.metadata.event_feed import EVENTS_CHANNEL, EventFeedRepository
from master.metadata.pool import open_database

BOUND_S = 10.0  # a bound on waiting for what must already be under way, not a timing


async def _outbox(url: str, paths: list[str]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for path in paths:
            await conn.execute(
                "INSERT INTO event_outbox (type, bucket_id, bucket, owner_id, path, actor)"
                " VALUES ('file.created', 1, 'b', 1, %s, 'tester')", (path,))


@pytest.fixture
async def feed(pg_url: str) -> AsyncIterator[EventFeedRepository]:
    """The feed on a migrated database of its own, with nothing pending."""
    db = await open_database(pg_url)
    try:
        repository = EventFeedRepository(db)
        await repository.number_pending()
        yield repository
    finally:
        await db.close()


async def test_a_pass_numbers_committed_rows_moves_the_counter_and_tells_every_master(
    feed: EventFeedRepository, pg_url: str,
) -> None:
    assert await feed.number_pending() == 0  # nothing pending: no lock, no change
    start = (await feed.bounds()).last_id

    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as listener:
        await listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        await _outbox(pg_url, ["a", "b", "c"])
        assert await feed.number_pending(batch=2) == 3  # two passes: 2, then 1
        heard = []
        async with asyncio.timeout(BOUND_S):
            async for note in listener.notifies():
                heard.append(int(note.payload))
                if heard[-1] == start + 3:
                    break
        assert heard == [start + 2, start + 3]

    assert (await feed.bounds()).last_id == start + 3
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT id, path FROM events WHERE id > %s ORDER BY id",
                                 (start,))
        assert await cur.fetchall() == [(start + 1, "a"), (start + 2, "b"), (start + 3, "c")]
        cur = await conn.execute("SELECT count(*) FROM event_outbox")
        assert await cur.fetchone() == (0,)


async def test_a_pass_waits_for_a_numbering_in_progress_and_takes_what_it_left(
    feed: EventFeedRepository, pg_url: str,
) -> None:
    start = (await feed.bounds()).last_id
    await _outbox(pg_url, ["x"])
    async with await psycopg.AsyncConnection.connect(pg_url) as holder:
        await holder.execute("SELECT last_id FROM event_counter FOR UPDATE")
        waiting = asyncio.create_task(feed.number_pending())
        await _outbox(pg_url, ["y"])  # commits while the pass waits for the lock
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await holder.commit()  # the other numbering ends (it numbered nothing)
    assert await asyncio.wait_for(waiting, BOUND_S) == 2  # its snapshot saw both
    assert (await feed.bounds()).last_id == start + 2

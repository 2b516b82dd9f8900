"""The change feed's storage: number committed outbox rows, read pages, prune.

**The reader rule.** A reader resumes after id k and must miss nothing that commits
later, even a change whose transaction began before others that committed first.
Ids taken from a sequence when the row is inserted cannot promise that: transaction A
takes id 5, B takes id 6 and commits, a reader returns 6 and moves its cursor to 6,
then A commits and its 5 is never read. Filtering by snapshot (only rows whose
``pg_current_xact_id()`` is below the reader's ``xmin``) does not save sequence ids
either: A may hold the *larger* xid and the *smaller* id (A's first write came after
B's, its event row before B's), so B's row passes the filter while A's smaller id is
still invisible. Ordering by (xid, row) instead would keep readers correct, but not
per-path order: a transaction that took its xid early and then waited on a row lock
would sort before the change it waited for.

So outbox rows get no public id when they are written. ``number_pending`` (migration
0020's ``echofs_number_events``) moves every *committed* outbox row into ``events``
with ids ``last_id + 1, last_id + 2, ...`` in insert order, while holding the single
``event_counter`` row locked (``FOR UPDATE``: one numbering transaction at a time, on
any master). Ids are therefore handed out only
to rows that have committed, by one transaction after another, and each numbering
transaction commits before the next one reads the counter: whenever a reader can see
id k, every id below k is already visible (or was pruned), and no later commit can add
an id at or below k. Two changes of one path insert their rows in lock order, so they
keep that order. Ids are dense: the next id after k is k + 1 (until retention prunes a
prefix, which ``pruned_through`` records).

A reader scans at most ``scan`` ids per query and reports how far it scanned
(``EventPage.last_id``), so a filter that matches rarely still moves its cursor on.
"""

from __future__ import annotations

import logging
from typing import Any

from master.domain.events import Event, EventFilter, EventPage, FeedBounds
from master.metadata.pool import Database

__all__ = ["EVENTS_CHANNEL", "OUTBOX_CHANNEL", "EventFeedRepository"]

log = logging.getLogger(__name__)

# pg_notify channels: the outbox trigger's (migration 0012) and the numbering's.
OUTBOX_CHANNEL = "echofs_outbox"
EVENTS_CHANNEL = "echofs_events"

# One pass (migration 0020): the counter row locked, then a batch of committed outbox
# rows numbered after it, every master told; one statement in autocommit mode.
_NUMBER = "SELECT echofs_number_events(%s, %s) AS n"

_MATCHES = (
    "(%(only_bucket)s::bigint IS NULL OR e.bucket_id = %(only_bucket)s)"
    " AND (%(every_bucket)s OR e.bucket_id = ANY(%(buckets)s::bigint[])"
    "      OR e.owner_id = %(owned_by)s)"
    " AND (%(prefix)s = '' OR starts_with(e.path, %(prefix)s)"
    "      OR (e.from_bucket IS NULL AND starts_with(e.from_path, %(prefix)s)))"
    " AND (%(types)s::text[] IS NULL OR e.type = ANY(%(types)s::text[]))"
)

_PAGE = (
    "WITH c AS (SELECT last_id, pruned_through FROM event_counter)"
    " SELECT c.last_id AS high, c.pruned_through AS pruned, e.* FROM c"
    " LEFT JOIN LATERAL (SELECT * FROM events e WHERE e.id > %(after)s"
    "   AND e.id <= LEAST(%(after)s + %(scan)s, c.last_id) AND " + _MATCHES +
    "   ORDER BY e.id LIMIT %(limit)s) e ON true ORDER BY e.id"
)

_PRUNE = (
    "WITH head AS (SELECT id, at FROM events ORDER BY id LIMIT %(batch)s),"
    " keep AS (SELECT min(id) AS id FROM head"
    "   WHERE at >= now() - make_interval(secs => %(older_than)s)),"
    " bound AS (SELECT COALESCE((SELECT id FROM keep) - 1, (SELECT max(id) FROM head)) AS id),"
    " gone AS (DELETE FROM events WHERE id <= (SELECT id FROM bound) RETURNING id)"
    " UPDATE event_counter SET pruned_through = GREATEST(pruned_through,"
    "   (SELECT max(id) FROM gone))"
    " WHERE EXISTS (SELECT 1 FROM gone) RETURNING (SELECT count(*) FROM gone) AS n"
)


def _params(flt: EventFilter) -> dict[str, Any]:
    return {
        "only_bucket": flt.bucket_id, "every_bucket": flt.buckets is None,
        "buckets": sorted(flt.buckets or ()), "owned_by": flt.owned_by,
        "prefix": flt.prefix, "types": sorted(flt.types) if flt.types is not None else None,
    }


def _event(row: dict[str, Any]) -> Event:
    return Event(
        id=int(row["id"]), type=row["type"], bucket_id=int(row["bucket_id"]),
        bucket=row["bucket"], owner_id=int(row["owner_id"]), path=row["path"],
        actor=row["actor"], at=row["at"], from_bucket=row["from_bucket"],
        from_path=row["from_path"], version_id=row["version_id"], size=row["size"],
        etag=row["etag"],
    )


class EventFeedRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def number_pending(self, batch: int = 5000) -> int:
        """Give every committed outbox row its id (see the module docstring); return
        how many. Waits while another master is numbering, then takes what is left."""
        total = 0
        while True:
            numbered = await self._number_batch(batch)
            total += numbered
            if numbered < batch:
                return total

    async def _number_batch(self, batch: int) -> int:
        """One numbering pass: one round trip (was three), its own transaction. It
        takes no lock when nothing is pending (the common periodic re-check)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_NUMBER, (batch, EVENTS_CHANNEL))
            counted = await cur.fetchone()
        return int(counted["n"]) if counted else 0

    async def bounds(self) -> FeedBounds:
        async with self._db.connection() as conn:
            cur = await conn.execute("SELECT last_id, pruned_through FROM event_counter")
            row = await cur.fetchone()
        assert row is not None
        return FeedBounds(int(row["last_id"]), int(row["pruned_through"]))

    async def page(
        self, after: int, flt: EventFilter, *, limit: int, scan: int
    ) -> tuple[EventPage, FeedBounds]:
        """Events after ``after`` matching ``flt``, oldest first, scanning at most
        ``scan`` ids; with the feed's bounds read in the same snapshot (the caller
        checks ``after`` against ``pruned_through``)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_PAGE, {"after": after, "scan": scan, "limit": limit,
                                             **_params(flt)})
            rows = await cur.fetchall()
        bounds = FeedBounds(int(rows[0]["high"]), int(rows[0]["pruned"]))
        events = [_event(r) for r in rows if r["id"] is not None]
        if len(events) == limit:
            last_id = events[-1].id
        else:
            last_id = max(after, min(after + scan, bounds.last_id))
        return EventPage(events, last_id), bounds

    async def count_matching(self, after: int, flt: EventFilter, cap: int) -> int:
        """How many events after ``after`` match ``flt`` (counted up to ``cap``)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM (SELECT 1 FROM events e WHERE e.id > %(after)s"
                f" AND {_MATCHES} LIMIT %(cap)s) s", {"after": after, "cap": cap,
                                                     **_params(flt)})
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def prune(self, older_than_s: float, batch: int = 5000) -> int:
        """Delete the oldest events while they are older than ``older_than_s`` (a
        prefix of ids, so what stays is contiguous) and record how far; return how many."""
        total = 0
        while True:
            async with self._db.connection() as conn:
                cur = await conn.execute(_PRUNE, {"batch": batch, "older_than": older_than_s})
                row = await cur.fetchone()
            pruned = int(row["n"]) if row else 0
            total += pruned
            if pruned < batch:
                if total:
                    log.info("pruned %d events past retention", total)
                return total

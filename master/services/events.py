"""The change feed for readers (DESIGN §13): pages of events, long polls, streams.

A reader names where it resumes (``after``, an event id; none: from now on, i.e. after
every change that committed before it asked) and what
it wants (a bucket, a path prefix, event types). It gets only events of buckets it can
read *now* (``BucketAccess.readable_bucket_ids``, asked again on every page), plus the
events of buckets it owned when they happened, so a deleted bucket's last events still
reach its owner. A cursor older than the retained events is refused with 410
``cursor_expired``: resuming there would skip the pruned events silently.

A page waits up to ``wait_s`` (capped by ``EVENTS_MAX_WAIT_S``) for a matching event.
It wakes on this master's :class:`EventWaker` (a notification that events were
numbered) and re-reads every ``recheck_s`` regardless, so a lost notification delays
a reader, never loses an event for it. The ordering rule that makes resuming safe is
the feed's (``metadata/event_feed.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

from common.errors import CursorExpired, InvalidInput
from master.background.event_pump import EventWaker
from master.domain.events import EVENT_TYPES, EventFilter, EventPage
from master.metadata.event_feed import EventFeedRepository
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal

__all__ = ["EventCursor", "EventService", "parse_types"]

MAX_LIMIT = 1000
SCAN_IDS = 10_000  # ids one query examines at most


def parse_types(raw: str) -> frozenset[str] | None:
    """A comma-separated list of event types (empty: all), or InvalidInput."""
    names = frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = names - set(EVENT_TYPES)
    if unknown:
        raise InvalidInput(f"unknown event types: {', '.join(sorted(unknown))};"
                           f" known: {', '.join(EVENT_TYPES)}")
    return names or None


@dataclass(frozen=True, slots=True)
class EventCursor:
    """Where a reader is (``after``) and what it reads; a stream moves ``after`` on."""

    after: int
    bucket_id: int | None = None
    prefix: str = ""
    types: frozenset[str] | None = None


class EventService:
    def __init__(
        self, feed: EventFeedRepository, access: BucketAccess, waker: EventWaker, *,
        max_wait_s: float, recheck_s: float,
    ) -> None:
        self._feed = feed
        self._access = access
        self._waker = waker
        self._max_wait_s = max_wait_s
        self._recheck_s = recheck_s
        self._closing = False

    def close(self) -> None:
        """The master is stopping: waiting readers answer now, streams end."""
        self._closing = True
        self._waker.wake()

    @property
    def closing(self) -> bool:
        return self._closing

    async def open(
        self, caller: Principal, *, bucket: str | None, prefix: str,
        types: frozenset[str] | None, after: int | None,
    ) -> EventCursor:
        """Check what a reader asks for and where it starts. NotFound for a bucket it
        cannot read, InvalidInput for a cursor beyond the newest event, CursorExpired
        for one behind the retained ones."""
        bucket_id = None
        if bucket is not None:
            bucket_id = (await self._access.require(caller, bucket, Permission.READ)).id
        if after is None:
            # "From now on" means after every change that committed before this call:
            # number what committed but has no id yet, so it falls before the cursor.
            await self._feed.number_pending()
        bounds = await self._feed.bounds()
        if after is None:
            after = bounds.last_id
        elif after < 0 or after > bounds.last_id:
            raise InvalidInput(f"after must be an event id from 0 to {bounds.last_id}")
        elif after < bounds.pruned_through:
            raise _expired(after, bounds.pruned_through, bounds.last_id)
        return EventCursor(after, bucket_id, prefix, types)

    async def next_page(
        self, caller: Principal, cursor: EventCursor, *, wait_s: float, limit: int
    ) -> EventPage:
        """Up to ``limit`` matching events after the cursor, waiting up to ``wait_s``
        for the first; ``last_id`` is where the next page starts (it moves past events
        that did not match, so a quiet filter does not rescan them)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        if wait_s < 0:
            raise InvalidInput("wait_s must be >= 0")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait_s, self._max_wait_s)
        flt = await self._filter(caller, cursor)
        after = cursor.after
        while True:
            seen = self._waker.generation
            page, bounds = await self._feed.page(after, flt, limit=limit, scan=SCAN_IDS)
            if after < bounds.pruned_through:
                raise _expired(after, bounds.pruned_through, bounds.last_id)
            if page.events:
                return page
            after = page.last_id
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return EventPage([], after)
            if after < bounds.last_id:
                continue  # more ids to scan, no need to wait
            await self._waker.wait(seen, min(remaining, self._recheck_s))

    async def _filter(self, caller: Principal, cursor: EventCursor) -> EventFilter:
        return EventFilter(
            buckets=await self._access.readable_bucket_ids(caller), owned_by=caller.user_id,
            bucket_id=cursor.bucket_id, prefix=cursor.prefix, types=cursor.types,
        )

    def advanced(self, cursor: EventCursor, page: EventPage) -> EventCursor:
        return replace(cursor, after=page.last_id)


def _expired(after: int, pruned_through: int, last_id: int) -> CursorExpired:
    return CursorExpired(
        f"events after {after} up to {pruned_through} were pruned (EVENTS_RETENTION_S);"
        f" resume after {pruned_through} knowing they are missed, or start afresh",
        details={"pruned_through": pruned_through, "last_id": last_id},
    )

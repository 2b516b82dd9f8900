"""EventService on in-memory stand-ins: where a reader starts, what it may see, how a
long poll waits and wakes, and the 410 for a cursor behind retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from common.errors import CursorExpired, InvalidInput, NotFound
from master.background.event_pump import EventWaker
from master.domain.events import Event, EventFilter, EventPage, FeedBounds
from master.domain.records import BucketRecord
from master.metadata.shares import OWNER_RANK
from master.services.access import BucketAccess
from master.services.auth import Principal
from master.services.events import EventService, parse_types

ALICE = Principal(1, "alice", False)
ROOT = Principal(9, "root", True)
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _bucket(bucket_id: int, owner_id: int) -> BucketRecord:
    return BucketRecord(id=bucket_id, name=f"bkt{bucket_id}", owner_id=owner_id, home_of=None,
                        versioning=False, keep_versions=None, keep_days=None,
                        quota_bytes=None, quota_files=None, state="active", created_at=NOW)


class FakeBuckets:
    def __init__(self, *buckets: BucketRecord) -> None:
        self.buckets = {b.name: b for b in buckets}

    async def by_name(self, name: str) -> BucketRecord | None:
        return self.buckets.get(name)



class FakeShares:
    """No shares: each user reaches the buckets it owns."""

    def __init__(self, buckets: FakeBuckets) -> None:
        self._buckets = buckets

    async def reachable(self, user_id: int) -> dict[int, int]:
        return {b.id: OWNER_RANK for b in self._buckets.buckets.values()
                if b.owner_id == user_id}

    async def grant(self, bucket_id: int, user_id: int) -> int | None:
        return None


class FakeFeed:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.pruned_through = 0
        self.filters: list[EventFilter] = []

    def add(self, bucket_id: int, owner_id: int, path: str) -> None:
        self.events.append(Event(len(self.events) + 1, "dir.created", bucket_id,
                                 f"bkt{bucket_id}", owner_id, path, "x", NOW))

    async def number_pending(self) -> int:
        return 0

    async def bounds(self) -> FeedBounds:
        return FeedBounds(len(self.events), self.pruned_through)

    async def page(self, after: int, flt: EventFilter, *, limit: int, scan: int
                   ) -> tuple[EventPage, FeedBounds]:
        self.filters.append(flt)
        visible = [e for e in self.events[after:after + scan]
                   if (flt.buckets is None or e.bucket_id in flt.buckets
                       or e.owner_id == flt.owned_by)
                   and flt.bucket_id in (None, e.bucket_id)][:limit]
        bounds = await self.bounds()
        last_id = visible[-1].id if len(visible) == limit else min(after + scan,
                                                                   bounds.last_id)
        return EventPage(visible, max(after, last_id)), bounds


@pytest.fixture
def feed() -> FakeFeed:
    return FakeFeed()


@pytest.fixture
def waker() -> EventWaker:
    return EventWaker()


@pytest.fixture
def service(feed: FakeFeed, waker: EventWaker) -> EventService:
    buckets = FakeBuckets(_bucket(1, ALICE.user_id), _bucket(2, 5))
    access = BucketAccess(buckets, FakeShares(buckets))  # type: ignore[arg-type]
    return EventService(feed, access, waker, max_wait_s=30, recheck_s=0.05)  # type: ignore[arg-type]


async def test_a_reader_sees_its_buckets_and_events_of_buckets_it_owned(
    service: EventService, feed: FakeFeed,
) -> None:
    feed.add(1, ALICE.user_id, "mine")
    feed.add(2, 5, "theirs")
    feed.add(3, ALICE.user_id, "my-deleted-bucket")
    cursor = await service.open(ALICE, bucket=None, prefix="", types=None, after=0)
    page = await service.next_page(ALICE, cursor, wait_s=0, limit=10)
    assert [e.path for e in page.events] == ["mine", "my-deleted-bucket"]
    assert page.last_id == 3
    admin = await service.next_page(ROOT, cursor, wait_s=0, limit=10)
    assert len(admin.events) == 3
    with pytest.raises(NotFound):
        await service.open(ALICE, bucket="bkt2", prefix="", types=None, after=0)


async def test_a_long_poll_answers_when_a_matching_event_comes(
    service: EventService, feed: FakeFeed, waker: EventWaker,
) -> None:
    cursor = await service.open(ALICE, bucket="bkt1", prefix="", types=None, after=None)
    assert cursor.after == 0 and cursor.bucket_id == 1
    polling = asyncio.create_task(service.next_page(ALICE, cursor, wait_s=30, limit=10))
    await asyncio.sleep(0.01)
    feed.add(2, 5, "not for alice")
    waker.wake()
    await asyncio.sleep(0.01)
    assert not polling.done()  # nothing that matches yet
    feed.add(1, ALICE.user_id, "for alice")
    waker.wake()
    page = await asyncio.wait_for(polling, 5)
    assert [e.path for e in page.events] == ["for alice"] and page.last_id == 2


async def test_a_long_poll_that_times_out_moves_past_what_it_scanned(
    service: EventService, feed: FakeFeed,
) -> None:
    feed.add(2, 5, "theirs")
    cursor = await service.open(ALICE, bucket=None, prefix="", types=None, after=0)
    page = await service.next_page(ALICE, cursor, wait_s=0.1, limit=10)
    assert page.events == [] and page.last_id == 1


async def test_cursors_behind_retention_or_beyond_the_newest_event_are_refused(
    service: EventService, feed: FakeFeed,
) -> None:
    for i in range(5):
        feed.add(1, ALICE.user_id, f"d{i}")
    feed.pruned_through = 3
    with pytest.raises(CursorExpired) as expired:
        await service.open(ALICE, bucket=None, prefix="", types=None, after=2)
    assert expired.value.details["pruned_through"] == 3
    cursor = await service.open(ALICE, bucket=None, prefix="", types=None, after=3)
    assert [e.path for e in (await service.next_page(ALICE, cursor, wait_s=0, limit=9)
                             ).events] == ["d3", "d4"]
    with pytest.raises(InvalidInput):
        await service.open(ALICE, bucket=None, prefix="", types=None, after=6)
    with pytest.raises(InvalidInput):
        await service.next_page(ALICE, cursor, wait_s=0, limit=0)


def test_event_types_are_checked() -> None:
    assert parse_types("") is None
    assert parse_types("file.created, dir.deleted") == {"file.created", "dir.deleted"}
    with pytest.raises(InvalidInput):
        parse_types("file.created,file.exploded")

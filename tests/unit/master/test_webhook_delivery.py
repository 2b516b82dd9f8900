"""The webhook delivery engine over in-memory stand-ins for its storage and the network:
in order, at least once, capped backoff, expired cursors stop, a lost lease stops."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from common.errors import Forbidden, LeaseLost
from common.singleton import Fence
from master.background.event_pump import EventWaker
from master.background.webhook_delivery import (
    DeliveryPolicy,
    PostResult,
    WebhookDelivery,
    retry_delay_s,
)
from master.domain.events import (
    DeliveryTarget,
    Event,
    EventFilter,
    EventPage,
    FeedBounds,
    WebhookRecord,
)
from master.domain.webhook_signing import signature

NOW = datetime(2026, 12, 6, tzinfo=UTC)
SECRET = b"0123456789abcdef"


def _event(event_id: int, path: str, bucket_id: int = 1) -> Event:
    return Event(event_id, "dir.created", bucket_id, "b", 7, path, "alice", NOW)


class FakeFeed:
    """EventFeedRepository: dense ids, filtered by bucket and prefix."""

    def __init__(self, events: list[Event], pruned_through: int = 0) -> None:
        self.events = events
        self.pruned_through = pruned_through

    async def page(self, after: int, flt: EventFilter, *, limit: int, scan: int
                   ) -> tuple[EventPage, FeedBounds]:
        last = max((e.id for e in self.events), default=0)
        window = [e for e in self.events if after < e.id <= min(after + scan, last)]
        found = [e for e in window if (flt.bucket_id in (None, e.bucket_id))
                 and e.path.startswith(flt.prefix)][:limit]
        last_id = found[-1].id if len(found) == limit else max(after, min(after + scan, last))
        return EventPage(found, last_id), FeedBounds(last, self.pruned_through)


class FakeWebhooks:
    """WebhooksRepository: rows in a dict; a stale fence raises LeaseLost."""

    def __init__(self, *hooks: WebhookRecord) -> None:
        self.rows = {h.id: h for h in hooks}
        self.current_token = 1
        self.retries: list[float] = []

    def _check(self, fence: Fence | None) -> None:
        if fence is not None and fence.token != self.current_token:
            raise LeaseLost("stale")

    async def due(self) -> tuple[list[WebhookRecord], float | None]:
        return [h for h in self.rows.values() if h.state == "active"
                and (h.next_attempt_at is None)], None

    async def advance(self, fence: Fence | None, webhook_id: uuid.UUID, cursor: int, *,
                      delivered: int, status: int | None) -> bool:
        self._check(fence)
        hook = self.rows.get(webhook_id)
        if hook is None:
            return False
        self.rows[webhook_id] = dataclasses.replace(
            hook, cursor=max(hook.cursor, cursor),
            attempts=0 if delivered else hook.attempts, delivered=hook.delivered + delivered)
        return True

    async def failed(self, fence: Fence | None, webhook_id: uuid.UUID, *, status: int | None,
                     error: str, retry_in_s: float) -> None:
        self._check(fence)
        hook = self.rows[webhook_id]
        self.retries.append(retry_in_s)
        self.rows[webhook_id] = dataclasses.replace(
            hook, attempts=hook.attempts + 1, last_status=status, last_error=error)

    async def expire(self, fence: Fence | None, webhook_id: uuid.UUID, error: str) -> None:
        self._check(fence)
        self.rows[webhook_id] = dataclasses.replace(
            self.rows[webhook_id], state="cursor_expired", last_error=error)


class FakePoster:
    """The receiver: answers 204 unless told to fail; keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[int, bytes, dict[str, str]]] = []
        self.fail_at: set[int] = set()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        event_id = int(headers["X-EchoFS-Event-Id"])
        self.received.append((event_id, body, headers))
        if event_id in self.fail_at:
            return PostResult(False, 500, "HTTP 500: boom")
        return PostResult(True, 204)


def _hook(cursor: int = 0, prefix: str = "") -> WebhookRecord:
    return WebhookRecord(uuid.uuid4(), 7, 1, "b", prefix, None, "http://r/hook", b"sealed",
                         cursor, "active", 0, None, None, None, None, None, 0, NOW)


def _delivery(hooks: FakeWebhooks, feed: FakeFeed, poster: FakePoster,
              resolve_error: Exception | None = None) -> WebhookDelivery:
    async def resolve(hook: WebhookRecord) -> DeliveryTarget:
        if resolve_error is not None:
            raise resolve_error
        return DeliveryTarget(hook.url, SECRET, EventFilter(
            None, bucket_id=hook.bucket_id, prefix=hook.prefix, types=hook.types))

    return WebhookDelivery(hooks, feed, poster, resolve, EventWaker(),  # type: ignore[arg-type]
                           DeliveryPolicy(retry_max_s=4.0, recheck_s=0.01))


async def test_events_go_out_in_order_signed_and_the_cursor_follows() -> None:
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    feed = FakeFeed([_event(i, f"d{i}") for i in range(1, 6)])
    assert await _delivery(hooks, feed, poster).run_once(Fence("webhooks", 1)) == 5
    assert [r[0] for r in poster.received] == [1, 2, 3, 4, 5]
    for _, body, headers in poster.received:
        assert headers["X-EchoFS-Signature"] == signature(SECRET, body)
        assert headers["X-EchoFS-Webhook-Id"] == str(hook.id)
    assert hooks.rows[hook.id].cursor == 5 and hooks.rows[hook.id].delivered == 5


async def test_a_failure_stops_the_pass_and_the_next_one_resends_from_there() -> None:
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    feed = FakeFeed([_event(i, f"d{i}") for i in range(1, 6)])
    poster.fail_at = {3}
    delivery = _delivery(hooks, feed, poster)
    assert await delivery.run_once() == 2
    assert hooks.rows[hook.id].cursor == 2 and hooks.rows[hook.id].attempts == 1
    assert await delivery.run_once() == 0  # still failing: backoff grows
    assert hooks.retries == [retry_delay_s(1, 4.0), retry_delay_s(2, 4.0)]
    poster.fail_at = set()
    assert await delivery.run_once() == 3
    assert [r[0] for r in poster.received] == [1, 2, 3, 3, 3, 4, 5]
    assert hooks.rows[hook.id].cursor == 5 and hooks.rows[hook.id].attempts == 0


async def test_after_a_failure_the_next_pass_comes_when_the_retry_is_due() -> None:
    """The pass remembers the backoff it set (no statement before each wait): with no
    new events and a recheck far off, the next pass starts once the retry is due."""
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    poster.fail_at = {1}
    delivery = WebhookDelivery(
        hooks, FakeFeed([_event(1, "d1")]), poster, _resolve_plainly,  # type: ignore[arg-type]
        EventWaker(), DeliveryPolicy(retry_max_s=4.0, recheck_s=600.0))
    assert await delivery.run_once() == 0
    assert hooks.retries == [retry_delay_s(1, 4.0)]
    poster.fail_at = set()  # no event comes meanwhile: only the retry can end the wait
    async with asyncio.timeout(30):  # recheck_s would be 600 s
        assert await delivery.run_once() == 1
    assert hooks.rows[hook.id].cursor == 1


async def _resolve_plainly(hook: WebhookRecord) -> DeliveryTarget:
    return DeliveryTarget(hook.url, SECRET, EventFilter(
        None, bucket_id=hook.bucket_id, prefix=hook.prefix, types=hook.types))


def test_the_backoff_doubles_from_half_a_second_up_to_its_cap() -> None:
    assert [retry_delay_s(n, 4.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert retry_delay_s(10_000, 300.0) == 300.0


async def test_events_outside_the_prefix_move_the_cursor_without_a_post() -> None:
    hook = _hook(prefix="keep/")
    hooks, poster = FakeWebhooks(hook), FakePoster()
    feed = FakeFeed([_event(1, "skip/a"), _event(2, "keep/b"), _event(3, "skip/c")])
    assert await _delivery(hooks, feed, poster).run_once() == 1
    assert [r[0] for r in poster.received] == [2]
    assert hooks.rows[hook.id].cursor == 3


async def test_a_cursor_behind_retention_stops_the_webhook() -> None:
    hook = _hook(cursor=2)
    hooks, poster = FakeWebhooks(hook), FakePoster()
    feed = FakeFeed([_event(i, f"d{i}") for i in range(5, 8)], pruned_through=4)
    assert await _delivery(hooks, feed, poster).run_once() == 0
    assert poster.received == []
    assert hooks.rows[hook.id].state == "cursor_expired"
    assert hooks.rows[hook.id].last_error.startswith("cursor_expired")  # type: ignore[union-attr]


async def test_an_owner_who_lost_access_gets_nothing_and_the_failure_is_recorded() -> None:
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    delivery = _delivery(hooks, FakeFeed([_event(1, "a")]), poster,
                         resolve_error=Forbidden("no longer readable"))
    assert await delivery.run_once() == 0
    assert poster.received == []
    assert hooks.rows[hook.id].last_error == "no longer readable"


async def test_a_stale_fence_stops_the_pass_with_lease_lost() -> None:
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    hooks.current_token = 2  # another master took the job over
    with pytest.raises(LeaseLost):
        await _delivery(hooks, FakeFeed([_event(1, "a")]), poster).run_once(
            Fence("webhooks", 1))
    assert hooks.rows[hook.id].cursor == 0  # nothing committed under the stale token


async def test_wake_ups_within_the_pass_gap_wait_and_are_taken_by_one_later_pass() -> None:
    """Every numbering wakes the delivery; with ``min_gap_s`` a burst of wake-ups right
    after a pass leads to one more pass, not one per wake-up, and no query meanwhile."""
    hook = _hook()
    hooks, poster = FakeWebhooks(hook), FakePoster()
    feed = FakeFeed([_event(1, "d1")])
    waker = EventWaker()
    due_calls = 0
    real_due = hooks.due

    async def counted_due() -> list[WebhookRecord]:
        nonlocal due_calls
        due_calls += 1
        return await real_due()

    hooks.due = counted_due  # type: ignore[method-assign]
    delivery = WebhookDelivery(
        hooks, feed, poster, _delivery(hooks, feed, poster)._resolve, waker,  # type: ignore[arg-type]
        DeliveryPolicy(retry_max_s=4.0, recheck_s=60.0, min_gap_s=60.0))
    assert await delivery.run_once() == 1  # the first pass does not wait
    second = asyncio.create_task(delivery.run_once())
    for index in range(2, 12):
        feed.events.append(_event(index, f"d{index}"))
        waker.wake()
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert not second.done() and due_calls == 1  # resting out the gap, no query
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert [r[0] for r in poster.received] == [1]

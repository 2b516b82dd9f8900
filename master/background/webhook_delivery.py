"""Deliver webhooks: each event POSTed in order, at least once, signed.

``run_once`` is the step of the singleton job ``webhooks``: exactly one master runs it
at a time, under a lease with a fencing token (``common.singleton``); every cursor move
and failure record it writes is fenced (``WebhooksRepository``), so a master that lost
the lease cannot write over its successor, and the successor resumes from the last
cursor committed: a duplicate at most, never a gap.

One pass: wait for new events (the waker), the next retry (as the last pass read it,
moved by its own failures), or ``recheck_s``; then, for every webhook not waiting out
a backoff (one statement reads them and the next retry), concurrently
(``max_parallel``), deliver its backlog in id order for at most ``pass_budget_s``. Per
webhook:

- each matching event is POSTed alone as JSON (``Event.public``) with
  ``X-EchoFS-Event-Id``, ``X-EchoFS-Webhook-Id`` and ``X-EchoFS-Signature:
  sha256=<hex HMAC-SHA256 of the exact body>``; a 2xx answer moves the cursor past it
  (committed after each page and every ``CURSOR_SAVE_EVERY_S``: one fenced commit per
  event capped a receiver at ~100 events/s here; a takeover resends at most what was
  delivered since the last commit);
- any other answer, a redirect (never followed), a timeout (``timeout_s`` for the whole
  request) or a refused target stops this webhook's pass: the failure is recorded and
  the next attempt is due after ``min(retry_max_s, 0.5 s * 2^(failures - 1))``;
- events that do not match (another prefix or type) move the cursor on silently;
- a cursor behind the retained events stops the webhook (``cursor_expired``): never a
  silent gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from common.errors import EchoError, LeaseLost
from common.singleton import Fence
from master.background.event_pump import EventWaker
from master.domain.events import DeliveryTarget, Event, WebhookRecord
from master.domain.webhook_signing import signature
from master.domain.webhook_targets import AllowedHosts
from master.metadata.event_feed import EventFeedRepository
from master.metadata.webhooks import WebhooksRepository

__all__ = [
    "WEBHOOK_PASS_GAP_S",
    "DeliveryPolicy",
    "HttpWebhookPoster",
    "PostResult",
    "WebhookDelivery",
    "WebhookPoster",
    "retry_delay_s",
]

log = logging.getLogger(__name__)

RETRY_BASE_S = 0.5
MAX_ANSWER_BYTES = 1024  # of a receiver's answer, kept for last_error
PAGE_EVENTS = 100
SCAN_IDS = 10_000
# The cursor is committed after each page of events and at least this often while a
# page is being delivered: a new holder resends at most what was delivered since.
CURSOR_SAVE_EVERY_S = 0.2


def retry_delay_s(failures: int, cap_s: float) -> float:
    """Capped exponential backoff after ``failures`` failed attempts in a row."""
    return min(cap_s, RETRY_BASE_S * 2 ** min(max(failures - 1, 0), 30))


@dataclass(frozen=True, slots=True)
class PostResult:
    delivered: bool
    status: int | None
    error: str | None = None


class WebhookPoster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult: ...


class HttpWebhookPoster:
    """POSTs with aiohttp: bounded time, no redirects, at most MAX_ANSWER_BYTES read."""

    def __init__(
        self, session: aiohttp.ClientSession, allowed: AllowedHosts, timeout_s: float
    ) -> None:
        self._session = session
        self._allowed = allowed
        self._timeout_s = timeout_s

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        if not self._allowed.allows(url):
            return PostResult(False, None, "target host is not in WEBHOOK_ALLOWED_HOSTS")
        try:
            async with asyncio.timeout(self._timeout_s), self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                text = await answer.content.read(MAX_ANSWER_BYTES)
                if 200 <= answer.status < 300:
                    return PostResult(True, answer.status)
                snippet = text[:200].decode("utf-8", errors="replace")
                return PostResult(False, answer.status, f"HTTP {answer.status}: {snippet}")
        except TimeoutError:
            return PostResult(False, None, f"no answer within {self._timeout_s} s")
        except (aiohttp.ClientError, OSError) as exc:
            return PostResult(False, None, f"{type(exc).__name__}: {exc}"[:300])


@dataclass(slots=True)
class _Progress:
    """One webhook's pass: where it is, and what is not committed yet."""

    cursor: int
    saved_cursor: int = -1
    unsaved: int = 0
    total: int = 0
    status: int | None = None
    saved_at: float = 0.0

    def __post_init__(self) -> None:
        self.saved_cursor = self.cursor
        self.saved_at = time.monotonic()

    def took(self, event_id: int, status: int | None) -> None:
        self.cursor, self.status = event_id, status
        self.unsaved += 1
        self.total += 1

    def saved(self, now: float) -> None:
        self.saved_cursor, self.unsaved, self.saved_at = self.cursor, 0, now


# A pass woken by new events starts at least this long after the previous one began
# (``DeliveryPolicy.min_gap_s`` in the master). Every numbering wakes the delivery, and
# each pass costs two queries even with no webhook at all: under a stream of small
# uploads that was ~1.4 PostgreSQL statements per upload. Events wait at most this much
# longer under load; a delivery that is behind (budget spent) does not wait.
WEBHOOK_PASS_GAP_S = 0.05


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    retry_max_s: float
    recheck_s: float = 1.0
    pass_budget_s: float = 5.0
    max_parallel: int = 8
    min_gap_s: float = 0.0


class WebhookDelivery:
    def __init__(
        self, webhooks: WebhooksRepository, feed: EventFeedRepository, poster: WebhookPoster,
        resolve: Callable[[WebhookRecord], Awaitable[DeliveryTarget]], waker: EventWaker,
        policy: DeliveryPolicy,
    ) -> None:
        self._webhooks = webhooks
        self._feed = feed
        self._poster = poster
        self._resolve = resolve
        self._waker = waker
        self._policy = policy
        self._slots = asyncio.Semaphore(policy.max_parallel)
        self._behind = False  # the last pass stopped with events left (budget spent)
        self._seen = -1
        self._last_pass = -math.inf  # time.monotonic() when the last pass began
        # When the earliest backed-off webhook is due (time.monotonic(); None: none
        # waits), as the last pass read it and its own failures moved it. A pass reads
        # the table anyway; asking again before each wait cost a statement per pass.
        self._retry_at: float | None = None

    async def run_once(self, fence: Fence | None = None) -> int:
        """One pass (see the module docstring); return how many events were delivered."""
        await self._wait_for_work()
        self._last_pass = time.monotonic()
        self._seen = self._waker.generation
        self._behind = False
        delivered = 0
        due, retry_in_s = await self._webhooks.due()
        self._retry_at = None if retry_in_s is None else self._last_pass + retry_in_s
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._deliver_guarded(hook, fence))
                         for hook in due]
        except* LeaseLost as lost:
            raise lost.exceptions[0] from None
        for task in tasks:
            delivered += task.result()
        return delivered

    async def _wait_for_work(self) -> None:
        if self._behind:
            return
        wait_s = self._policy.recheck_s
        if self._retry_at is not None:
            wait_s = min(wait_s, max(self._retry_at - time.monotonic(), 0.0))
        await self._waker.wait(self._seen, wait_s)
        rest_s = self._last_pass + self._policy.min_gap_s - time.monotonic()
        if rest_s > 0:  # wake-ups meanwhile are taken by this pass
            await asyncio.sleep(rest_s)

    async def _deliver_guarded(self, hook: WebhookRecord, fence: Fence | None) -> int:
        async with self._slots:
            try:
                return await self._deliver(hook, fence)
            except (LeaseLost, asyncio.CancelledError):
                raise
            except EchoError as exc:  # PostgreSQL down and the like: next pass retries
                log.warning("webhook %s: delivery pass failed: %s", hook.id, exc.message)
            except Exception:
                log.exception("webhook %s: delivery pass failed unexpectedly", hook.id)
            return 0

    async def _deliver(self, hook: WebhookRecord, fence: Fence | None) -> int:
        try:
            target = await self._resolve(hook)
        except EchoError as exc:
            await self._failed(hook, fence, None, exc.message)
            return 0
        deadline = time.monotonic() + self._policy.pass_budget_s
        progress = _Progress(hook.cursor)
        while True:
            page, bounds = await self._feed.page(progress.cursor, target.filter,
                                                 limit=PAGE_EVENTS, scan=SCAN_IDS)
            if progress.cursor < bounds.pruned_through:
                await self._webhooks.expire(fence, hook.id, (
                    f"cursor_expired: events after {progress.cursor} up to"
                    f" {bounds.pruned_through} were pruned before they could be delivered"))
                log.warning("webhook %s: cursor expired at %d", hook.id, progress.cursor)
                return progress.total
            for event in page.events:
                result = await self._post(hook.id, target, event)
                if not result.delivered:
                    await self._save(hook, fence, progress)
                    await self._failed(hook, fence, result.status, result.error or "failed",
                                       first=progress.total > 0)
                    return progress.total
                progress.took(event.id, result.status)
                if time.monotonic() - progress.saved_at >= CURSOR_SAVE_EVERY_S and not (
                    await self._save(hook, fence, progress)
                ):
                    return progress.total  # deleted meanwhile
            progress.cursor = max(progress.cursor, page.last_id)
            if not await self._save(hook, fence, progress):
                return progress.total
            if progress.cursor >= bounds.last_id:
                return progress.total
            if time.monotonic() >= deadline:
                self._behind = True
                return progress.total

    async def _save(self, hook: WebhookRecord, fence: Fence | None, progress: _Progress) -> bool:
        """Commit the cursor (fenced); False when the webhook was deleted meanwhile."""
        if progress.cursor <= progress.saved_cursor:
            return True
        alive = await self._webhooks.advance(fence, hook.id, progress.cursor,
                                             delivered=progress.unsaved, status=progress.status)
        progress.saved(time.monotonic())
        return alive

    async def _post(self, webhook_id: uuid.UUID, target: DeliveryTarget,
                    event: Event) -> PostResult:
        body = json.dumps(event.public(), separators=(",", ":")).encode()
        return await self._poster.post(target.url, body, {
            "Content-Type": "application/json",
            "User-Agent": "echofs-webhooks/1",
            "X-EchoFS-Event-Id": str(event.id),
            "X-EchoFS-Webhook-Id": str(webhook_id),
            "X-EchoFS-Signature": signature(target.secret, body),
        })

    async def _failed(self, hook: WebhookRecord, fence: Fence | None, status: int | None,
                      error: str, *, first: bool = False) -> None:
        """Record a failed attempt; ``first``: the pass delivered events before it, so the
        failures in a row start again at one."""
        failures = 1 if first else hook.attempts + 1
        delay_s = retry_delay_s(failures, self._policy.retry_max_s)
        log.info("webhook %s: delivery failed (%s); retry in %.1f s", hook.id, error[:200],
                 delay_s, extra={"failures": failures})
        await self._webhooks.failed(fence, hook.id, status=status, error=error,
                                    retry_in_s=delay_s)
        retry_at = time.monotonic() + delay_s
        self._retry_at = retry_at if self._retry_at is None else min(self._retry_at, retry_at)

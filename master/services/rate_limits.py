"""Request rate limits per user and per API key (DESIGN §12), shared by every master.

Each authenticated request counts once against its user (``RATE_LIMIT_PER_USER``) and,
when it came with an API key, once against the key (``RATE_LIMIT_PER_KEY``), in fixed
windows of ``RATE_LIMIT_WINDOW_SECONDS`` aligned to the wall clock (every master agrees
which window it is). Over a limit the request is refused with 429 ``rate_limited`` and
``Retry-After`` = the seconds left in the window. 0 turns a limit off.

The counts live in Redis (``INCRBY`` on one key per subject and window), so the masters
share them. To keep Redis off the hot path, a master does not ask Redis on every
request: it counts locally and adds its count to Redis once per ``batch`` requests
(``limit // 50``, at least 1), and whenever its own view of the window reaches the
limit. With M masters a subject may therefore get up to about M x 2 % past its limit in
a window; with small limits (``batch`` 1) every request is counted in Redis and the
limit is exact. Once a subject is over its limit, a master refuses it locally until the
window ends, without asking Redis again.

When Redis is unreachable the limits do not switch off: each master keeps limiting
with its own counts (so M masters admit at most M times the limit), logs one warning
per outage and tries Redis again after ``REDIS_RETRY_S``. Counts live in memory for the
current window only and at most ``max_subjects`` of them.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.errors import RateLimited
from master.services.auth import Principal

__all__ = [
    "RateLimits",
    "RedisWindowStore",
    "RequestRateLimiter",
    "WindowStore",
]

log = logging.getLogger(__name__)

REDIS_RETRY_S = 5.0
KEY_PREFIX = "echofs:rate:"
SYNC_DIVISOR = 50


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_user: int  # requests per window; 0: no limit
    per_key: int
    window_s: int

    @property
    def enabled(self) -> bool:
        return self.per_user > 0 or self.per_key > 0


class WindowStore(abc.ABC):
    """The shared counts: one counter per subject and window."""

    @abc.abstractmethod
    async def add(self, subject: str, window: int, count: int, ttl_s: int) -> int:
        """Add ``count`` to the subject's counter of ``window``; its new total."""


class RedisWindowStore(WindowStore):
    """Raises RedisError / OSError when Redis is unreachable."""

    def __init__(self, redis: aioredis.Redis, scope: str) -> None:
        self._redis = redis
        self._prefix = f"{KEY_PREFIX}{hashlib.sha256(scope.encode()).hexdigest()[:16]}:"

    async def add(self, subject: str, window: int, count: int, ttl_s: int) -> int:
        key = f"{self._prefix}{subject}:{window}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(key, count)
            pipe.expire(key, ttl_s)
            total, _ = await pipe.execute()
        return int(total)


@dataclass(slots=True)
class _Count:
    window: int
    shared: int = 0  # the last total Redis answered (every master's requests)
    pending: int = 0  # this master's requests not yet added to Redis
    blocked: bool = False


class RequestRateLimiter:
    def __init__(
        self, store: WindowStore, limits: RateLimits, *,
        clock: Callable[[], float] = time.time, max_subjects: int = 100_000,
    ) -> None:
        self._store = store
        self._limits = limits
        self._clock = clock
        self._max_subjects = max_subjects
        self._counts: dict[str, _Count] = {}
        self._store_down_until: float | None = None

    async def check(self, caller: Principal) -> None:
        """Count one request of ``caller``; RateLimited when it is over a limit."""
        if self._limits.per_user > 0:
            await self._hit(f"user:{caller.user_id}", self._limits.per_user)
        if caller.key_id and self._limits.per_key > 0:
            await self._hit(f"key:{caller.key_id}", self._limits.per_key)

    async def _hit(self, subject: str, limit: int) -> None:
        now = self._clock()
        window_s = self._limits.window_s
        window = int(now // window_s)
        count = self._counts.get(subject)
        if count is None or count.window != window:
            count = self._counts[subject] = _Count(window)
            self._bound(window)
        if not count.blocked:
            count.pending += 1
            batch = max(1, limit // SYNC_DIVISOR)
            if count.pending >= batch or count.shared + count.pending > limit:
                await self._sync(subject, count)
            count.blocked = count.shared + count.pending > limit
        if count.blocked:
            retry_after_s = max(1, math.ceil((window + 1) * window_s - now))
            raise RateLimited(f"too many requests; try again in {retry_after_s} s",
                              retry_after_s=retry_after_s)

    async def _sync(self, subject: str, count: _Count) -> None:
        """Add this master's pending requests to the shared counter (or, while Redis is
        unreachable, to this master's own)."""
        delta, count.pending = count.pending, 0
        now = self._clock()
        if self._store_down_until is not None and now < self._store_down_until:
            count.shared += delta
            return
        try:
            total = await self._store.add(subject, count.window, delta,
                                          2 * self._limits.window_s + 1)
        except (RedisError, OSError) as exc:
            if self._store_down_until is None:
                log.warning("Redis unreachable: request rate limits fall back to this"
                            " master's own counts until it is back",
                            extra={"error": repr(exc)})
            self._store_down_until = now + REDIS_RETRY_S
            count.shared += delta
            return
        if self._store_down_until is not None:
            log.info("Redis reachable again: request rate limits use the shared counts")
            self._store_down_until = None
        # Answers to concurrent adds may arrive out of order: keep the largest.
        count.shared = max(count.shared + delta, total)

    def _bound(self, window: int) -> None:
        if len(self._counts) <= self._max_subjects:
            return
        for subject in [s for s, c in self._counts.items() if c.window != window]:
            del self._counts[subject]
        if len(self._counts) > self._max_subjects:
            self._counts.clear()

"""Failed-login throttling: fixed windows per username and per client address.

Each failed login adds one to two counters, ``user:<sha256 of the name>`` and
``addr:<client address>``, that expire ``window_s`` after their first failure (a fixed
window). While either is at its limit, login answers ``RateLimited`` with the seconds
left *before* the password is checked, so a guesser learns nothing during a lockout,
not even when it guesses right. A successful login clears the username's counter (not
the address's: one address may be trying many names). Failures of unknown names count
like those of real ones, so the throttle does not reveal which names exist.

The counters live in Redis, so every master shares them; their keys are scoped by the
metadata database's name (usernames are scoped by it too), so clusters that share one
Redis do not share lockouts. When Redis is unreachable the
limiter does **not** stop throttling: it falls back to an in-process counter per master
(bounded; with M masters a guesser gets at most M times the limit while Redis is
down), logs one warning per outage and retries Redis after ``REDIS_RETRY_S``. Counts made
during an outage are not carried over to Redis when it returns.

The client address is the TCP peer (``request.remote``); behind a reverse proxy every
client shares the proxy's address, so give the per-address limit room for that.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.errors import RateLimited

__all__ = [
    "FailureCounter",
    "LoginLimiter",
    "LoginLimits",
    "MemoryFailureCounter",
    "RedisFailureCounter",
]

log = logging.getLogger(__name__)

REDIS_RETRY_S = 5.0
KEY_PREFIX = "echofs:login-failures:"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures_per_user: int
    max_failures_per_address: int
    window_s: int


class FailureCounter(abc.ABC):
    """Counters with a fixed window each. ``(count, seconds left)``; (0, 0) when absent."""

    @abc.abstractmethod
    async def peek(self, keys: list[str]) -> list[tuple[int, float]]: ...

    @abc.abstractmethod
    async def add(self, keys: list[str], window_s: int) -> None:
        """One more failure on each key; a key's window starts at its first failure."""

    @abc.abstractmethod
    async def clear(self, key: str) -> None: ...


# INCR, and start the window on the first failure (or if a key lost its expiry).
_ADD = """
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, ARGV[1])
  end
end
return 0
"""


class RedisFailureCounter(FailureCounter):
    """Shared by every master. Raises RedisError / OSError when Redis is unreachable."""

    def __init__(self, redis: aioredis.Redis, scope: str) -> None:
        self._redis = redis
        self._prefix = f"{KEY_PREFIX}{hashlib.sha256(scope.encode()).hexdigest()[:16]}:"

    async def peek(self, keys: list[str]) -> list[tuple[int, float]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(self._prefix + key)
                pipe.pttl(self._prefix + key)
            replies = await pipe.execute()
        found = []
        for raw, ttl_ms in zip(replies[0::2], replies[1::2], strict=True):
            count = int(raw) if raw is not None else 0
            found.append((count, max(0, ttl_ms) / 1000.0 if count else 0.0))
        return found

    async def add(self, keys: list[str], window_s: int) -> None:
        await self._redis.eval(_ADD, len(keys), *(self._prefix + k for k in keys), window_s)

    async def clear(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class MemoryFailureCounter(FailureCounter):
    """One process's counters: the Redis fallback, and the test twin.

    Holds at most ``max_keys``; when full it drops expired windows first, then the
    oldest ones.
    """

    def __init__(self, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_keys = max_keys
        self._clock = clock
        self._windows: OrderedDict[str, tuple[int, float]] = OrderedDict()  # key -> (n, ends)

    async def peek(self, keys: list[str]) -> list[tuple[int, float]]:
        now = self._clock()
        found = []
        for key in keys:
            count, ends = self._windows.get(key, (0, now))
            found.append((count, ends - now) if ends > now else (0, 0.0))
        return found

    async def add(self, keys: list[str], window_s: int) -> None:
        now = self._clock()
        for key in keys:
            count, ends = self._windows.get(key, (0, now))
            if ends <= now:
                self._windows.pop(key, None)
                count, ends = 0, now + window_s
            self._windows[key] = (count + 1, ends)
        self._bound(now)

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    def __len__(self) -> int:
        return len(self._windows)

    def _bound(self, now: float) -> None:
        if len(self._windows) <= self._max_keys:
            return
        for key in [k for k, (_, ends) in self._windows.items() if ends <= now]:
            del self._windows[key]
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)


class LoginLimiter:
    """``check`` before the password, ``failed`` / ``succeeded`` after it."""

    def __init__(
        self, shared: FailureCounter, fallback: FailureCounter, limits: LoginLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shared = shared
        self._fallback = fallback
        self._limits = limits
        self._clock = clock
        self._shared_down_until: float | None = None

    async def check(self, username: str, address: str) -> None:
        """Raise RateLimited (with the seconds left) when either counter is at its limit."""
        user_key, address_key = _user_key(username), _address_key(address)
        (user_n, user_left), (addr_n, addr_left) = await self._call(
            lambda counter: counter.peek([user_key, address_key]))
        waits = [left for n, left, limit in (
            (user_n, user_left, self._limits.max_failures_per_user),
            (addr_n, addr_left, self._limits.max_failures_per_address),
        ) if n >= limit]
        if waits:
            retry_after_s = max(1, math.ceil(max(waits)))
            raise RateLimited(
                f"too many failed logins; try again in {retry_after_s} s",
                retry_after_s=retry_after_s,
            )

    async def failed(self, username: str, address: str) -> None:
        keys = [_user_key(username), _address_key(address)]
        await self._call(lambda counter: counter.add(keys, self._limits.window_s))

    async def succeeded(self, username: str) -> None:
        key = _user_key(username)
        await self._call(lambda counter: counter.clear(key))

    async def _call(self, use: Callable[[FailureCounter], Awaitable[T]]) -> T:
        """``use(shared)``, or ``use(fallback)`` while Redis is unreachable."""
        now = self._clock()
        if self._shared_down_until is not None and now < self._shared_down_until:
            return await use(self._fallback)
        try:
            result = await use(self._shared)
        except (RedisError, OSError) as exc:
            if self._shared_down_until is None:
                log.warning("Redis unreachable: login throttling falls back to this master's"
                            " own counters until it is back", extra={"error": repr(exc)})
            self._shared_down_until = now + REDIS_RETRY_S
            return await use(self._fallback)
        if self._shared_down_until is not None:
            log.info("Redis reachable again: login throttling uses the shared counters")
            self._shared_down_until = None
        return result


def _user_key(username: str) -> str:
    # Hashed: any text may be typed as a name, the key stays short and printable.
    return "user:" + hashlib.sha256(username.encode("utf-8", "replace")).hexdigest()


def _address_key(address: str) -> str:
    return "addr:" + (address[:64] or "unknown")

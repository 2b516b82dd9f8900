"""Request rate limits per user and per API key: fixed windows shared through a store
(Redis in production, an in-memory twin here), batched, and still enforced when the
store is down."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from common.errors import RateLimited
from master.services.auth import Principal
from master.services.rate_limits import RateLimits, RequestRateLimiter, WindowStore

ALICE = Principal(1, "alice", False, 10, "alice")
ALICE_KEY = Principal(1, "alice", False, 10, "alice", key_id="EK" + "B" * 18,
                      key_scope="rw")
OTHER_KEY = Principal(1, "alice", False, 10, "alice", key_id="EK" + "C" * 18,
                      key_scope="rw")


class MemoryStore(WindowStore):
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.down = False

    async def add(self, subject: str, window: int, count: int, ttl_s: int) -> int:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("connection refused")
        total = self.counts.get((subject, window), 0) + count
        self.counts[(subject, window)] = total
        return total


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _admitted(limiter: RequestRateLimiter, caller: Principal, attempts: int) -> int:
    admitted = 0
    for _ in range(attempts):
        try:
            await limiter.check(caller)
            admitted += 1
        except RateLimited:
            pass
    return admitted


async def test_a_small_limit_admits_exactly_the_limit_then_429_until_the_window_ends() -> None:
    clock = Clock(1_000_003.2)  # 3.2 s into a 10 s window
    limiter = RequestRateLimiter(MemoryStore(), RateLimits(5, 0, 10), clock=clock)
    assert await _admitted(limiter, ALICE, 5) == 5
    with pytest.raises(RateLimited) as refused:
        await limiter.check(ALICE)
    assert refused.value.retry_after_s == 7
    assert refused.value.code == "rate_limited"
    clock.now += 7.0  # the next window
    assert await _admitted(limiter, ALICE, 6) == 5


async def test_masters_sharing_a_store_share_the_count() -> None:
    store, clock = MemoryStore(), Clock()
    first = RequestRateLimiter(store, RateLimits(6, 0, 60), clock=clock)
    second = RequestRateLimiter(store, RateLimits(6, 0, 60), clock=clock)
    assert await _admitted(first, ALICE, 4) == 4
    assert await _admitted(second, ALICE, 4) == 2


async def test_a_key_has_its_own_limit_and_counts_against_its_user_too() -> None:
    limiter = RequestRateLimiter(MemoryStore(), RateLimits(10, 3, 60), clock=Clock())
    assert await _admitted(limiter, ALICE_KEY, 5) == 3
    assert await _admitted(limiter, OTHER_KEY, 5) == 3
    # The user made 10 requests that counted (each key's refused ones count for the
    # user too: they were made); its login token is now limited as well.
    assert await _admitted(limiter, ALICE, 1) == 0


async def test_large_limits_reach_the_store_once_per_batch_not_per_request() -> None:
    store = MemoryStore()
    limiter = RequestRateLimiter(store, RateLimits(10_000, 0, 10), clock=Clock())
    assert await _admitted(limiter, ALICE, 1000) == 1000
    assert store.calls == 1000 // (10_000 // 50)


async def test_once_over_the_limit_a_master_refuses_without_asking_the_store() -> None:
    store = MemoryStore()
    limiter = RequestRateLimiter(store, RateLimits(2, 0, 60), clock=Clock())
    assert await _admitted(limiter, ALICE, 10) == 2
    assert store.calls == 3


async def test_limits_hold_on_this_masters_counts_while_the_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = MemoryStore(), Clock()
    store.down = True
    limiter = RequestRateLimiter(store, RateLimits(3, 0, 60), clock=clock)
    with caplog.at_level(logging.WARNING, logger="master.services.rate_limits"):
        assert await _admitted(limiter, ALICE, 5) == 3
    assert [r.message for r in caplog.records].count(
        "Redis unreachable: request rate limits fall back to this master's own counts"
        " until it is back") == 1
    assert store.calls == 1  # not retried before REDIS_RETRY_S


async def test_zero_turns_a_limit_off() -> None:
    store = MemoryStore()
    limiter = RequestRateLimiter(store, RateLimits(0, 0, 10), clock=Clock())
    assert await _admitted(limiter, ALICE_KEY, 200) == 200
    assert store.calls == 0

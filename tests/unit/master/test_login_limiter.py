"""The login limiter's windows, limits and Redis fallback, on in-memory counters."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from common.errors import RateLimited
from master.services.login_limiter import (
    FailureCounter,
    LoginLimiter,
    LoginLimits,
    MemoryFailureCounter,
)

LIMITS = LoginLimits(max_failures_per_user=5, max_failures_per_address=8, window_s=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class DownCounter(FailureCounter):
    """Redis that does not answer."""

    def __init__(self) -> None:
        self.calls = 0

    async def peek(self, keys: list[str]) -> list[tuple[int, float]]:
        self.calls += 1
        raise RedisConnectionError("connection refused")

    async def add(self, keys: list[str], window_s: int) -> None:
        self.calls += 1
        raise RedisConnectionError("connection refused")

    async def clear(self, key: str) -> None:
        self.calls += 1
        raise RedisConnectionError("connection refused")


def _limiter(clock: Clock, shared: FailureCounter | None = None) -> LoginLimiter:
    return LoginLimiter(shared or MemoryFailureCounter(clock=clock),
                        MemoryFailureCounter(clock=clock), LIMITS, clock=clock)


async def _fail(limiter: LoginLimiter, times: int, user: str = "alice",
                address: str = "192.0.2.1") -> None:
    for _ in range(times):
        await limiter.check(user, address)
        await limiter.failed(user, address)


async def test_the_failure_after_the_limit_is_refused_with_the_seconds_left() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    await _fail(limiter, 5)
    clock.now += 20.4
    with pytest.raises(RateLimited) as refused:
        await limiter.check("alice", "192.0.2.99")
    assert refused.value.retry_after_s == 40
    assert refused.value.code == "rate_limited"


async def test_the_lockout_ends_with_the_window() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    await _fail(limiter, 5)
    clock.now += 59.5
    with pytest.raises(RateLimited):
        await limiter.check("alice", "192.0.2.1")
    clock.now += 0.6
    await limiter.check("alice", "192.0.2.1")


async def test_a_success_clears_the_username_but_not_the_address() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    await _fail(limiter, 4, user="alice")
    await limiter.succeeded("alice")
    await _fail(limiter, 4, user="alice")  # a fresh allowance of 5 for the name
    with pytest.raises(RateLimited):  # but the address has failed 8 times
        await limiter.check("bob", "192.0.2.1")
    await limiter.check("bob", "198.51.100.7")


async def test_many_names_from_one_address_meet_the_address_limit() -> None:
    clock = Clock()
    limiter = _limiter(clock)
    for i in range(8):
        await _fail(limiter, 1, user=f"user-{i}")
    with pytest.raises(RateLimited):
        await limiter.check("someone-new", "192.0.2.1")


async def test_with_redis_down_it_keeps_throttling_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    down = DownCounter()
    limiter = _limiter(clock, shared=down)
    with caplog.at_level(logging.WARNING, logger="master.services.login_limiter"):
        await _fail(limiter, 5)
        with pytest.raises(RateLimited):
            await limiter.check("alice", "192.0.2.1")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert down.calls == 1  # not retried on every call while it is down
    clock.now += 10
    with pytest.raises(RateLimited):
        await limiter.check("alice", "192.0.2.1")
    assert down.calls == 2  # retried after REDIS_RETRY_S


async def test_the_in_process_counters_are_bounded() -> None:
    clock = Clock()
    counter = MemoryFailureCounter(max_keys=100, clock=clock)
    for i in range(1000):
        await counter.add([f"user:{i}"], 60)
    assert len(counter) == 100
    assert await counter.peek(["user:999"]) == [(1, 60.0)]


async def test_expired_windows_start_again_from_one() -> None:
    clock = Clock()
    counter = MemoryFailureCounter(clock=clock)
    await counter.add(["k"], 10)
    await counter.add(["k"], 10)
    clock.now += 11
    assert await counter.peek(["k"]) == [(0, 0.0)]
    await counter.add(["k"], 10)
    assert await counter.peek(["k"]) == [(1, 10.0)]

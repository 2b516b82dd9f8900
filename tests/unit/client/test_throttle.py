"""--bwlimit: rates as people write them, and slots that never let more than the rate
start per second."""

from __future__ import annotations

import pytest

from client.throttle import Throttle, parse_rate
from common.errors import InvalidInput


def test_rates_take_binary_units_and_refuse_nonsense() -> None:
    assert parse_rate("500") == 500
    assert parse_rate("8M") == 8 * 1024**2
    assert parse_rate("1.5k") == 1536
    assert parse_rate("2GiB/s") == 2 * 1024**3
    for bad in ("", "fast", "-1M", "0", "8T"):
        with pytest.raises(InvalidInput):
            parse_rate(bad)


def test_each_slot_starts_when_the_previous_ones_bytes_have_had_their_time() -> None:
    now = [100.0]
    throttle = Throttle(1000, clock=lambda: now[0])
    assert throttle.reserve(500) == 0.0       # the first goes at once
    assert throttle.reserve(500) == 0.5       # then 500 bytes take 0.5 s at 1000 B/s
    assert throttle.reserve(1000) == 1.0
    now[0] = 110.0                            # idle time is not saved up as a burst
    assert throttle.reserve(2000) == 0.0
    assert throttle.reserve(1) == 2.0


async def test_acquire_sleeps_for_its_slot() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
    throttle = Throttle(100, clock=lambda: 0.0, sleep=sleep)
    for _ in range(3):
        await throttle.acquire(50)
    assert slept == [0.5, 1.0]

"""The pacer's arithmetic and rests on a fake clock: background batches take at most their
share of the wall time while clients are active, run back to back when they are not, and
a rest follows the traffic as it starts and stops."""

from __future__ import annotations

import pytest

from common.pacing import ForegroundActivity, Pacer, PacingConfig


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.during_sleep: list[object] = []  # callables run at a given sleep's start

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.during_sleep:
            action = self.during_sleep.pop(0)
            if callable(action):
                action()
        self.sleeps.append(seconds)
        self.now += seconds


def _pacer(time: FakeTime, **config: float) -> Pacer:
    return Pacer(PacingConfig(**config), ForegroundActivity(time), time, time.sleep)


def test_the_rest_gives_background_its_share_of_the_wall_time() -> None:
    time = FakeTime()
    pacer = _pacer(time, busy_share=0.25, max_rest_s=10.0)
    assert pacer.pause_s(1.0, busy=True) == pytest.approx(3.0)  # 1 of 4 seconds working
    assert pacer.pause_s(1.0, busy=False) == 0.0  # idle share 1.0: back to back
    assert pacer.pause_s(60.0, busy=True) == 10.0  # capped
    assert _pacer(time, busy_share=0.5, idle_share=0.5).pause_s(2.0, busy=False) == 2.0


@pytest.mark.parametrize("config", [{"busy_share": 0.0}, {"idle_share": 1.5},
                                    {"recent_s": -1.0}])
def test_nonsense_settings_are_refused(config: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PacingConfig(**config)


async def test_while_a_request_is_in_flight_batches_are_small_and_rest() -> None:
    time = FakeTime()
    pacer = _pacer(time, busy_share=0.25, recent_s=1.0)
    rests: list[tuple[str, float]] = []
    pacer.on_rest = lambda work, seconds: rests.append((work, seconds))
    assert pacer.batch(64, 8) == 64 and not pacer.busy()
    pacer.foreground.begin()
    assert pacer.batch(64, 8) == 8
    assert await pacer.rest("repair", 0.5) == pytest.approx(1.5)
    assert max(time.sleeps) <= 0.25  # re-checks the traffic at least every 0.25 s
    stats = pacer.stats["repair"]
    assert (stats.batches, stats.busy_batches) == (1, 1)
    assert (stats.worked_s, stats.rested_s) == (pytest.approx(0.5), pytest.approx(1.5))
    assert rests == [("repair", pytest.approx(1.5))]  # the metric's increment


async def test_a_request_that_ended_recently_still_counts_then_stops_counting() -> None:
    time = FakeTime()
    pacer = _pacer(time, busy_share=0.25, recent_s=1.0)
    pacer.foreground.begin()
    pacer.foreground.end()
    time.now += 0.5
    assert pacer.busy() and pacer.batch(64, 8) == 8
    time.now += 0.6
    assert not pacer.busy() and pacer.batch(64, 8) == 64
    assert await pacer.rest("gc", 2.0) == 0.0
    assert time.sleeps == []


async def test_traffic_that_stops_during_a_rest_cuts_it_short() -> None:
    time = FakeTime()
    pacer = _pacer(time, busy_share=0.1, recent_s=0.0)
    pacer.foreground.begin()
    time.during_sleep = [None, None, pacer.foreground.end]  # ends at the third slice
    slept = await pacer.rest("repair", 1.0)  # 9 s of rest while busy
    assert slept == pytest.approx(0.75)
    assert pacer.busy() is False


async def test_traffic_that_starts_during_a_rest_lengthens_it() -> None:
    time = FakeTime()
    pacer = _pacer(time, busy_share=0.5, idle_share=0.8, recent_s=0.0)
    time.during_sleep = [pacer.foreground.begin]
    slept = await pacer.rest("gc", 0.8)  # idle: 0.2 s; busy: 0.8 s
    assert slept == pytest.approx(0.8)

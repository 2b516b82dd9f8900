"""The one loop runner: a step that raises, expectedly or not, never ends the loop."""

from __future__ import annotations

import asyncio

import pytest

from common.errors import Unavailable
from common.loops import run_loop

pytestmark = pytest.mark.timeout(10)


async def test_a_loop_keeps_running_after_an_unexpected_exception() -> None:
    calls: list[int] = []
    failures: list[str] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise KeyError("a bug in one pass")
        if len(calls) == 3:
            raise Unavailable("a dependency is down")

    task = asyncio.create_task(run_loop(step, name="demo", interval_s=0.01,
                                        on_failure=failures.append))
    async with asyncio.timeout(5):
        while len(calls) < 6:  # noqa: ASYNC110 - waiting for the loop under test
            await asyncio.sleep(0.01)
    assert not task.done(), "the loop ended"
    assert failures == ["demo", "demo"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_failures_back_off_and_success_resets_the_pause() -> None:
    pauses: list[float] = []
    real_sleep = asyncio.sleep
    outcomes = iter([RuntimeError, RuntimeError, RuntimeError, None, RuntimeError])

    async def step() -> None:
        outcome = next(outcomes, None)
        if outcome is not None:
            raise outcome("boom")

    async def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) >= 5:
            raise asyncio.CancelledError
        await real_sleep(0)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("common.loops.asyncio.sleep", recording_sleep)
        with pytest.raises(asyncio.CancelledError):
            await run_loop(step, name="backoff", interval_s=1.0, max_backoff_s=3.0)
    assert pauses == [1.0, 2.0, 3.0, 1.0, 1.0]


async def test_delay_after_decides_the_pause_after_a_success() -> None:
    pauses: list[float] = []

    async def step() -> int:
        return 7

    async def recording_sleep(seconds: float) -> None:
        pauses.append(seconds)
        raise asyncio.CancelledError

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("common.loops.asyncio.sleep", recording_sleep)
        with pytest.raises(asyncio.CancelledError):
            await run_loop(step, name="drain", interval_s=5.0, delay_after=lambda n: n / 100)
    assert pauses == [0.07]

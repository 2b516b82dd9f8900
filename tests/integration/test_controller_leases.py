"""Several controllers on one PostgreSQL (DESIGN §16): one evaluates under the
``evaluation`` lease, the others stand by and take over when it stops; a controller whose
token is no longer current cannot commit a round."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from common.errors import LeaseLost
from common.migrate import apply_migrations
from common.singleton import Fence
from consistency_controller.app import LOOP, METRICS
from consistency_controller.leases import EVALUATION, ControllerLeases
from tests.support.controller_harness import controller, get, post

pytestmark = pytest.mark.timeout(120)

MASTER_MIGRATIONS = Path(__file__).resolve().parents[2] / "master" / "metadata" / "migrations"
FAST = {"lease_ttl_seconds": 1.0, "evaluation_interval_seconds": 0.1, "mode_ttl_seconds": 1.0}


@pytest.fixture
async def master_db(pg_url: str) -> str:
    await apply_migrations(pg_url, "master", MASTER_MIGRATIONS)
    return pg_url


async def _rows(database_url: str, sql: str) -> list[tuple[object, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(sql)
        return list(await cur.fetchall())


async def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - waiting for the controllers under test
            await asyncio.sleep(0.05)


def _gauge(client: object, name: str, labels: dict[str, str] | None = None) -> float:
    registry = client.app[METRICS].registry  # type: ignore[attr-defined]
    return registry.get_sample_value(name, labels) or 0.0


def _leading(client: object) -> bool:
    return _gauge(client, "echofs_singleton_leader", {"job": EVALUATION}) == 1.0


async def test_one_controller_evaluates_and_a_standby_takes_over_when_it_stops(
    master_db: str, redis_url: str,
) -> None:
    async with controller(master_db, redis_url, run_loop=True, **FAST) as first:
        await _until(lambda: _leading(first))
        async with controller(master_db, redis_url, run_loop=True, **FAST) as second:
            rounds = _gauge(first, "echofs_controller_evaluations_total")
            await _until(lambda: _gauge(first, "echofs_controller_evaluations_total")
                         >= rounds + 20)  # a couple of lease TTLs of rounds
            assert _leading(first) and not _leading(second)
            assert _gauge(second, "echofs_controller_evaluations_total") == 0.0
            assert first.app[LOOP].status()["evaluating"] is True
            assert second.app[LOOP].status()["evaluating"] is False
            # The standby answers what the evaluating controller decided (it reloads the
            # state every mode TTL): an override set through the first shows on the second.
            status, _ = await post(first, "/v1/override", {"mode": "A"})
            assert status == 200
            answers: list[str] = []

            async def second_says_a() -> bool:
                answers.append((await get(second, "/v1/mode"))[1]["mode"])
                return answers[-1] == "A"

            async with asyncio.timeout(30):
                while not await second_says_a():  # noqa: ASYNC110 - polling a route
                    await asyncio.sleep(0.2)
            [(token_first,)] = await _rows(
                master_db, "SELECT token FROM controller_leases WHERE job = 'evaluation'")

            await first.close()  # a graceful stop releases the lease
            await _until(lambda: _leading(second))
            await _until(lambda: _gauge(second, "echofs_controller_evaluations_total") > 0)
            [(token_second,)] = await _rows(
                master_db, "SELECT token FROM controller_leases WHERE job = 'evaluation'")
            assert token_second == token_first + 1  # type: ignore[operator]


async def test_a_controller_that_lost_its_lease_cannot_commit_a_round(
    master_db: str, redis_url: str,
) -> None:
    async with controller(master_db, redis_url) as client:
        leases = ControllerLeases(client.app[LOOP].service.store.pool)
        stale = await leases.acquire(EVALUATION, "controller-a", 0.3)
        assert stale is not None
        current = None
        async with asyncio.timeout(10):
            while current is None:  # controller-a stalls past its lease; b takes over
                await asyncio.sleep(0.05)
                current = await leases.acquire(EVALUATION, "controller-b", 30.0)
        count = "SELECT (SELECT count(*) FROM controller_decisions)," \
                " (SELECT max(decided_at) FROM controller_objects)"
        before = await _rows(master_db, count)
        with pytest.raises(LeaseLost):
            await client.app[LOOP].run_once(Fence(EVALUATION, stale))
        assert await _rows(master_db, count) == before, "a refused round wrote something"
        await client.app[LOOP].run_once(Fence(EVALUATION, current))
        assert await _rows(master_db, count) != before

"""The controller decides on what the masters observe (issue 23), against real PostgreSQL
and Redis: the masters' rows are written with SQL (the controller may not import master
code), the workers are real ``grpc.health.v1`` servers that answer every probe.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.migrate import apply_migrations
from consistency_controller.app import LOOP
from consistency_controller.policy import COOLDOWN_S, RETURN_STABLE_S
from tests.support.controller_harness import controller, get, health_server, seed_workers, sql

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
MASTER_MIGRATIONS = REPO / "master" / "metadata" / "migrations"


@pytest.fixture
async def master_db(pg_url: str) -> str:
    await apply_migrations(pg_url, "master", MASTER_MIGRATIONS)
    return pg_url


@contextlib.asynccontextmanager
async def three_answering_workers(database_url: str) -> AsyncIterator[list[str]]:
    async with health_server() as a, health_server() as b, health_server() as c:
        await seed_workers(database_url, {"w1": a, "w2": b, "w3": c})
        yield ["w1", "w2", "w3"]


async def report(database_url: str, master_id: str, states: dict[str, str], *,
                 failure_rate: float = 0.0, age_s: float = 0.0) -> None:
    """What a master publishes every second (master/background/observations.py)."""
    await sql(database_url, "DELETE FROM worker_write_observations WHERE master_id = %s",
              (master_id,))
    for worker_id, state in states.items():
        await sql(
            database_url,
            "INSERT INTO worker_write_observations (master_id, worker_id, state,"
            " put_failure_rate, put_latency_ms, observed_at)"
            " VALUES (%s, %s, %s, %s, 12.5, now() - make_interval(secs => %s))",
            (master_id, worker_id, state, failure_rate, age_s),
        )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_partition_only_the_master_sees_switches_to_a_and_back(
    master_db: str, redis_url: str
) -> None:
    async with three_answering_workers(master_db), controller(
        master_db, redis_url, controller_startup_grace_seconds=0
    ) as client:
        loop = client.app[LOOP]
        clock = Clock(1_000_000.0)
        loop.clock = clock
        healthy = {"w1": "healthy", "w2": "healthy", "w3": "healthy"}
        await report(master_db, "m1", healthy)
        first = await loop.run_once()
        assert first.cluster.mode.value == "C" and first.signals["writable"] == 3
        assert first.signals["observed_by_masters"] == 3
        assert first.signals["c_latency_ms"] == 12.5

        # The master cannot reach w1 and w2; the controller's own probes still can.
        await report(master_db, "m1", {**healthy, "w1": "suspect", "w2": "suspect"})
        clock.now += 1
        cut = await loop.run_once()
        assert cut.cluster.mode.value == "A" and cut.cluster.reason_code == "emergency"
        assert cut.signals["not_writable"] == ["w1", "w2"]
        assert cut.signals["workers_failing"] == [], "the controller's probes all answered"

        # Healed: back to C after the stable time and the cooldown, not before.
        await report(master_db, "m1", healthy)
        for _ in range(int(RETURN_STABLE_S) + 2):
            clock.now += 1
            held = await loop.run_once()
        assert held.cluster.mode.value == "A" and held.cluster.reason_code == "cooldown"
        clock.now += COOLDOWN_S
        back = await loop.run_once()
        assert back.cluster.mode.value == "C" and back.cluster.reason_code == "threshold"


async def test_one_master_cut_off_is_enough_and_stale_reports_are_ignored(
    master_db: str, redis_url: str
) -> None:
    async with three_answering_workers(master_db), controller(
        master_db, redis_url, controller_startup_grace_seconds=0
    ) as client:
        loop = client.app[LOOP]
        healthy = {"w1": "healthy", "w2": "healthy", "w3": "healthy"}
        # A master that stopped a minute ago said w1 and w2 were down: ignored.
        await report(master_db, "gone", {**healthy, "w1": "down", "w2": "down"}, age_s=60)
        calm = await loop.run_once()
        assert calm.cluster.mode.value == "C" and calm.signals["writable"] == 3
        assert calm.signals["observed_by_masters"] == 0, "the controller's own view decided"
        # Two live masters: one writes fine, the other's C writes cannot be placed.
        await report(master_db, "m1", healthy)
        await report(master_db, "m2", {**healthy, "w2": "down", "w3": "suspect"})
        urgent = await loop.run_once()
        assert urgent.cluster.mode.value == "A" and urgent.signals["writable"] == 1


async def test_puts_failing_behind_answering_probes_count(master_db: str, redis_url: str) -> None:
    async with three_answering_workers(master_db), controller(
        master_db, redis_url, controller_startup_grace_seconds=0
    ) as client:
        loop = client.app[LOOP]
        await report(master_db, "m1", {"w1": "healthy"})
        await report(master_db, "m2", {"w2": "healthy", "w3": "healthy"}, failure_rate=0.9)
        result = await loop.run_once()
        assert result.cluster.mode.value == "A"
        assert result.signals["not_writable"] == ["w2", "w3"]


async def test_the_durability_estimate_is_in_status_and_metrics(
    master_db: str, redis_url: str
) -> None:
    async with three_answering_workers(master_db), controller(
        master_db, redis_url, controller_startup_grace_seconds=0
    ) as client:
        loop = client.app[LOOP]
        await sql(
            master_db,
            "INSERT INTO master_write_stats (master_id, chunk_writes, repair_share, settle_ms,"
            " repair_completions, repair_age_ms) VALUES ('m1', 100, 0.25, 40.0, 3, 9000.0)",
        )
        clock = Clock(1_000_000.0)
        loop.clock = clock
        for _ in range(3):
            clock.now += 1
            await loop.run_once()
        _, body = await get(client, "/status")
        durability = body["data"]["durability"]
        assert set(durability["per_mode"]) == {"C", "A"}
        assert durability["per_mode"]["C"]["sync_copies"] == 2
        assert durability["per_mode"]["A"]["sync_copies"] == 1
        inputs = durability["inputs"]
        assert (inputs["settle_s"], inputs["repair_share"], inputs["repair_window_s"]) == (
            0.04, 0.25, 9.0)
        assert inputs["worker_failures"] == 0 and inputs["writable_worker_seconds"] == 6.0
        # No failure seen: the estimate is 0 and only the upper bound says something.
        assert durability["per_mode"]["A"]["loss_probability"] == 0.0
        assert 0 < durability["per_mode"]["A"]["loss_probability_upper"] <= 1
        text = await (await client.get("/metrics")).text()
        assert 'echofs_controller_loss_probability{mode="A"} 0.0' in text
        assert 'echofs_controller_loss_probability_upper{mode="C"}' in text
        assert "echofs_controller_workers_writable 3.0" in text

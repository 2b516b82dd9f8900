"""The contract between the master's migrations and the controller: the views the master
publishes have exactly the shape the controller declares (``read_model.READ_MODEL``), the
controller's per-object reads through them still use the tables' indexes, and a controller
that starts before the master has migrated waits, says so, and starts measuring once the
views appear.

Real PostgreSQL, migrated by the master's own migration files.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from common.migrate import apply_migrations
from consistency_controller.app import LOOP, METRICS
from consistency_controller.read_model import READ_MODEL, check_read_model, describe_views
from consistency_controller.signals import OBJECT_FACTS_SQL
from consistency_controller.store import FILE_HINT_SQL
from tests.support.controller_harness import controller, get, post, seed_file
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
MASTER_MIGRATIONS = REPO / "master" / "metadata" / "migrations"

# The test's own reading of information_schema, independent of read_model.describe_views.
COLUMNS_SQL = (
    "SELECT table_name, column_name,"
    " CASE WHEN data_type = 'ARRAY' THEN substr(udt_name, 2) || '[]' ELSE data_type END"
    " FROM information_schema.columns"
    " WHERE table_schema = 'public' AND left(table_name, 11) = 'controller_'"
    " AND table_name IN (SELECT table_name FROM information_schema.views"
    "                    WHERE table_schema = 'public')"
)


@pytest.fixture
async def master_db(pg_url: str) -> str:
    await apply_migrations(pg_url, "master", MASTER_MIGRATIONS)
    return pg_url


async def _rows(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def test_the_master_publishes_each_view_in_the_shape_the_controller_declares(
    master_db: str,
) -> None:
    published: dict[str, dict[str, str]] = {}
    for view, column, column_type in await _rows(master_db, COLUMNS_SQL):
        published.setdefault(view, {})[column] = column_type
    declared = {view.name: dict(view.columns) for view in READ_MODEL}
    assert published == declared


async def test_a_view_that_changes_shape_is_reported(master_db: str) -> None:
    """The check the controller logs at start sees what the contract test sees."""
    async with await psycopg.AsyncConnection.connect(master_db, autocommit=True) as conn:
        assert await describe_views(conn, ["controller_workers"]) == {
            "controller_workers": {"worker_id": "text", "address": "text", "state": "text"}
        }
        await conn.execute(
            "CREATE OR REPLACE VIEW controller_workers AS"
            " SELECT worker_id, address, state, zone FROM workers WHERE state <> 'removed'"
        )
    async with AsyncConnectionPool(master_db, min_size=1, max_size=1, open=False) as pool:
        assert await check_read_model(pool) == ["controller_workers.zone: not declared (text)"]


async def test_per_object_reads_through_the_views_use_the_tables_indexes(
    master_db: str,
) -> None:
    """With sequential scans priced out, a read that cannot use an index still shows one:
    every table a per-object read touches must be reached through an index."""
    file_id = uuid.UUID(await seed_file(master_db, []))
    async with await psycopg.AsyncConnection.connect(master_db) as conn:
        await conn.execute("SET enable_seqscan = off")
        plans: dict[str, str] = {}
        for name, sql, params in (
            ("object facts", OBJECT_FACTS_SQL, ([file_id],)),
            ("file hint", FILE_HINT_SQL, (file_id,)),
        ):
            cur = await conn.execute("EXPLAIN " + sql, params)
            plans[name] = "\n".join(row[0] for row in await cur.fetchall())
    for name, plan in plans.items():
        assert "Seq Scan" not in plan, f"{name}:\n{plan}"
    facts = plans["object facts"]
    for index in ("files_pkey", "version_chunks_pkey", "replicas_pkey", "repair_queue_pkey",
                  "file_versions_by_file"):
        assert index in facts, f"{index} not used:\n{facts}"
    assert "files_pkey" in plans["file hint"]


async def test_a_controller_started_before_the_master_waits_then_measures(
    pg_url: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consistency_controller")
    async with controller(pg_url, redis_url, evaluation_interval_seconds=0.1) as client:
        assert any(
            "read model is not there yet" in r.getMessage()
            for r in caplog.records if r.name == "consistency_controller.read_model"
        ), "the start says the master's views are missing"
        loop = client.app[LOOP]
        rounds = 0
        read_workers = loop.reader.workers

        async def counting_rounds() -> Any:  # the real read, counted: every round starts here
            nonlocal rounds
            rounds += 1
            return await read_workers()

        loop.reader.workers = counting_rounds  # type: ignore[method-assign]
        loop.start()
        assert await eventually(lambda: rounds >= 3, timeout_s=20, every_s=0.05), (
            "the loop keeps trying while it waits"
        )
        waiting_lines = [r for r in caplog.records if "waiting" in r.getMessage()
                         and r.name == "consistency_controller.loop"]
        assert len(waiting_lines) == 1
        assert loop.last_success_age_s() is None
        errors = client.app[METRICS].registry.get_sample_value(
            "echofs_controller_evaluation_errors_total"
        )
        assert errors == 0, "waiting for the master is no failed round"
        status, body = await get(client, "/v1/mode")
        assert status == 200 and body["mode"] == "C"
        status, body = await post(client, "/v1/hint",
                                  {"object_id": str(uuid.uuid4()), "hint": "Strong"})
        assert (status, body["code"]) == (404, "unknown_object")

        await apply_migrations(pg_url, "master", MASTER_MIGRATIONS)
        assert await eventually(
            lambda: loop.last_success_age_s() is not None, timeout_s=20, every_s=0.05
        ), "an evaluation once the master has migrated"
        assert any("read model is there" in r.getMessage() for r in caplog.records)
        file_id = await seed_file(pg_url, [])
        status, body = await post(client, "/v1/hint", {"object_id": file_id, "hint": "Strong"})
        assert status == 200 and body["data"]["hint"] == "Strong"

"""The controller in process against real PostgreSQL and Redis: routes, measured signals,
decisions, persistence across a restart, publication on Redis.

The master's schema is applied by path and seeded with SQL; workers are real
``grpc.health.v1`` servers on loopback (or ports nothing listens on, for dead ones).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from common.embedded import EmbeddedRedis, free_port
from common.migrate import apply_migrations
from consistency_controller.app import LOOP, SERVICE
from consistency_controller.publisher import CHANNEL
from consistency_controller.store import ObjectRecord
from tests.support.controller_harness import (
    controller,
    get,
    health_server,
    post,
    seed_file,
    seed_workers,
    sql,
)

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
MASTER_MIGRATIONS = REPO / "master" / "metadata" / "migrations"


@pytest.fixture
async def master_db(pg_url: str) -> str:
    await apply_migrations(pg_url, "master", MASTER_MIGRATIONS)
    return pg_url


# --- routes validate their input ---------------------------------------------------------


async def test_mode_for_an_object_without_state_is_the_cluster_mode(
    master_db: str, redis_url: str
) -> None:
    async with controller(master_db, redis_url) as client:
        status, body = await get(client, "/v1/mode")
        assert status == 200
        assert set(body) == {"mode", "ttl_seconds", "reason", "timestamp"}
        assert body["mode"] == "C" and body["ttl_seconds"] == 5.0
        status, body = await get(client, f"/v1/mode?object_id={uuid.uuid4()}")
        assert status == 200 and body["mode"] == "C"
        assert "cluster-wide" in body["reason"]
        status, body = await get(client, "/v1/mode?object_id=")
        assert status == 400 and body["success"] is False and body["code"] == "invalid_input"


async def test_hint_rejects_unknown_object_bad_hint_and_bad_json(
    master_db: str, redis_url: str
) -> None:
    file_id = await seed_file(master_db, [])
    async with controller(master_db, redis_url) as client:
        status, body = await post(client, "/v1/hint", {"object_id": "nobody", "hint": "Strong"})
        assert (status, body["code"]) == (404, "unknown_object")
        assert body["success"] is False and body["message"] and body["data"] is None
        status, body = await post(client, "/v1/hint", {"object_id": file_id, "hint": "Maybe"})
        assert (status, body["code"]) == (400, "invalid_input")
        status, body = await post(client, "/v1/hint", '{"object_id": ')
        assert (status, body["code"]) == (400, "bad_json")
        status, body = await post(client, "/v1/hint", "[1, 2]")
        assert (status, body["code"]) == (400, "bad_json")
        status, body = await post(client, "/v1/hint", {"hint": "Strong"})
        assert (status, body["code"]) == (400, "invalid_input")
        # A file the master knows needs no registration; hints are case-insensitive.
        status, body = await post(client, "/v1/hint", {"object_id": file_id, "hint": "strong"})
        assert status == 200 and body["data"]["hint"] == "Strong"
        # A registered object that is no file is known too.
        status, _ = await post(client, "/v1/register", {"object_id": "bucket/key"})
        assert status == 200
        status, body = await post(
            client, "/v1/hint", {"object_id": "bucket/key", "hint": "Available"}
        )
        assert status == 200


async def test_register_override_and_critical_keys_validate_and_apply(
    master_db: str, redis_url: str
) -> None:
    async with controller(master_db, redis_url) as client:
        for bad in ({"object_id": ""}, {"object_id": 5}, {"object_id": "k", "critical": "yes"},
                    {"object_id": "k", "hint": "Loud"}):
            status, body = await post(client, "/v1/register", bad)
            assert (status, body["code"]) == (400, "invalid_input"), bad
        for bad in ({}, {"mode": "Hybrid"}, {"mode": "X"}):
            status, body = await post(client, "/v1/override", bad)
            assert (status, body["code"]) == (400, "invalid_input"), bad
        status, body = await post(client, "/v1/override", "nope")
        assert (status, body["code"]) == (400, "bad_json")
        for bad in ({}, {"add": "k"}, {"add": [""]}):
            status, body = await post(client, "/v1/critical-keys", bad)
            assert (status, body["code"]) == (400, "invalid_input"), bad

        status, body = await post(
            client, "/v1/register", {"object_id": "ledger", "hint": "Available", "critical": True}
        )
        assert status == 200 and body["data"]["critical"] is True and body["data"]["mode"] == "C"
        status, body = await post(client, "/v1/override", {"mode": "A"})
        assert status == 200 and body["data"]["mode"] == "A"
        assert (await get(client, "/v1/mode"))[1]["mode"] == "A"
        assert (await get(client, "/v1/mode?object_id=other"))[1]["mode"] == "A"
        # Critical keys stay C even under an override to A.
        _, body = await get(client, "/v1/mode?object_id=ledger")
        assert body["mode"] == "C" and "critical" in body["reason"]
        status, body = await post(client, "/v1/override", {"mode": None})
        assert status == 200 and (await get(client, "/v1/mode"))[1]["mode"] == "C"

        status, body = await post(
            client, "/v1/critical-keys", {"add": ["k1"], "remove": ["ledger"]}
        )
        assert status == 200 and body["data"]["critical_keys"] == ["k1"]
        status, body = await get(client, "/v1/critical-keys")
        assert status == 200 and body["data"]["critical_keys"] == ["k1"]

        status, body = await get(client, "/nowhere")
        assert (status, body["code"]) == (404, "not_found")


async def test_health_status_and_metrics_answer(master_db: str, redis_url: str) -> None:
    async with controller(master_db, redis_url) as client:
        await client.app[LOOP].run_once()
        status, body = await get(client, "/health")
        assert status == 200 and body["status"] == "ok" and body["checks"]["postgres"] == "ok"
        status, body = await get(client, "/status")
        assert status == 200 and body["data"]["cluster"]["mode"] == "C"
        assert body["data"]["decisions"], "every decision is persisted with its reason"
        response = await client.get("/metrics")
        text = await response.text()
        assert response.status == 200
        assert 'echofs_objects_by_mode{mode="C"}' in text
        assert "echofs_controller_partition_risk" in text


# --- measured signals drive decisions; changes are published -----------------------------


async def test_two_dead_workers_of_three_switch_to_a_at_once_and_it_is_published(
    master_db: str, redis_url: str
) -> None:
    async with health_server() as alive:
        workers = {"w0": alive, **{f"w{i}": f"127.0.0.1:{free_port()}" for i in (1, 2)}}
        await seed_workers(master_db, workers)
        file_id = await seed_file(master_db, list(workers), versions=2)  # decided on its own
        subscriber = aioredis.from_url(redis_url)
        pubsub = subscriber.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async with controller(master_db, redis_url, controller_probe_timeout_seconds=0.2,
                                  controller_startup_grace_seconds=0) as client:
                loop = client.app[LOOP]
                # One failed probe puts the failure EWMA at 0.3 (not yet failing); the
                # second crosses 0.5: one writable worker, C cannot place its quorum of 2
                # → emergency, no votes, no cooldown.
                first = await loop.run_once()
                assert first.cluster.mode.value == "C"
                second = await loop.run_once()
                assert second.cluster.mode.value == "A"
                assert second.cluster.reason_code == "emergency"
                assert second.signals["risk"] == 1.0 and second.signals["writable"] == 1
                changed = {object_id for object_id, *_ in second.changes}
                assert {"*", file_id} <= changed

                messages = await _collect(pubsub, want={"*", file_id})
                assert messages["*"]["mode"] == "A" and messages["*"]["ttl_seconds"] == 5.0
                assert "emergency" in messages["*"]["reason"] and messages["*"]["timestamp"]
                assert messages[file_id]["mode"] == "A"

                _, body = await get(client, f"/v1/mode?object_id={file_id}")
                assert body["mode"] == "A" and "emergency" in body["reason"]
                response = await client.get("/metrics")
                text = await response.text()
                assert (
                    'echofs_object_mode_changes_total{from_mode="C",reason="emergency",'
                    'to_mode="A"}' in text
                )
        finally:
            await pubsub.aclose()
            await subscriber.aclose()


async def test_no_reachable_worker_keeps_c(master_db: str, redis_url: str) -> None:
    """Issue 23's restart over an existing var/: every worker failing because none has
    re-registered. A helps no write then, so the controller keeps C."""
    dead = {f"w{i}": f"127.0.0.1:{free_port()}" for i in range(3)}
    await seed_workers(master_db, dead)
    async with controller(master_db, redis_url, controller_probe_timeout_seconds=0.2,
                          controller_startup_grace_seconds=0) as client:
        loop = client.app[LOOP]
        for _ in range(4):
            report = await loop.run_once()
        assert report.cluster.mode.value == "C" and report.changes == []
        assert report.cluster.reason_code == "no_writable"
        assert report.signals["writable"] == 0


async def test_workers_not_heard_from_since_start_weaken_nothing(
    master_db: str, redis_url: str
) -> None:
    """Workers coming back one by one: one answers, two not yet. Within the start-up
    grace they are unknown, and C is kept although it could not place two copies."""
    async with health_server() as alive:
        workers = {"w0": alive, **{f"w{i}": f"127.0.0.1:{free_port()}" for i in (1, 2)}}
        await seed_workers(master_db, workers)
        async with controller(master_db, redis_url, controller_probe_timeout_seconds=0.2,
                              controller_startup_grace_seconds=60) as client:
            loop = client.app[LOOP]
            for _ in range(4):
                report = await loop.run_once()
            assert report.cluster.mode.value == "C" and report.changes == []
            assert report.cluster.reason_code == "unknown_workers"
            assert report.signals["unknown"] == 2


async def _collect(pubsub: Any, want: set[str], timeout_s: float = 5.0) -> dict[str, Any]:
    found: dict[str, Any] = {}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not want <= set(found) and asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            payload = json.loads(message["data"])
            found[payload["object_id"]] = payload
    assert want <= set(found), f"missing published changes: {want - set(found)}"
    return found


async def test_healthy_workers_keep_c_and_signals_are_measured(
    master_db: str, redis_url: str
) -> None:
    async with health_server() as a, health_server() as b:
        dead = f"127.0.0.1:{free_port()}"
        await seed_workers(master_db, {"a": a, "b": b, "c": dead})
        file_id = await seed_file(master_db, ["a", "c"], versions=2)
        written_once = await seed_file(master_db, ["a", "c"])
        await sql(
            master_db,
            "INSERT INTO repair_queue (chunk_id, reason, live_copies, created_at)"
            " SELECT chunk_id, 'write_pending', 1, now() - interval '10 seconds'"
            " FROM version_chunks",
        )
        async with controller(master_db, redis_url, controller_probe_timeout_seconds=0.5,
                              controller_startup_grace_seconds=0) as client:
            loop = client.app[LOOP]
            for _ in range(3):
                report = await loop.run_once()
            assert report.cluster.mode.value == "C"
            # One of three workers failing: a third of the cluster, half of what C absorbs;
            # the backlog it causes cannot be placed and weakens nothing.
            assert report.signals["writable"] == 2 and report.signals["not_writable"] == ["c"]
            assert abs(report.signals["risk"] - 0.5) < 1e-3
            assert 8.0 <= report.signals["lag_s"] < 10.0 + 5.0  # age past the 2 s grace
            assert report.signals["write_rate_per_min"] == 1.5  # 3 versions of 2 files
            _, body = await get(client, "/status")
            workers = {w["worker_id"]: w for w in body["data"]["workers"]}
            assert workers["a"]["rtt_ms"] is not None and not workers["a"]["failing"]
            assert workers["c"]["failing"] and workers["c"]["last_error"]
            objects = {o["object_id"]: o for o in body["data"]["objects"]}
            assert file_id in objects, "a file written again recently gets its own state"
            assert written_once not in objects, "a file written once takes the cluster's"
            decisions = [d for d in body["data"]["decisions"] if d["object_id"] == file_id]
            # The object decides on the cluster's viability with its own lag and hint.
            assert decisions and decisions[0]["signals"]["replica_workers"] == 2
            assert objects[file_id]["mode"] == "C"


# --- persistence ---------------------------------------------------------------------------


async def test_restarted_controller_resumes_its_persisted_state(
    master_db: str, redis_url: str
) -> None:
    dead = {f"w{i}": f"127.0.0.1:{free_port()}" for i in range(2)}
    async with health_server() as alive:
        await seed_workers(master_db, {"alive": alive, **dead})
        async with controller(master_db, redis_url, controller_probe_timeout_seconds=0.2,
                              controller_startup_grace_seconds=0) as client:
            await post(client, "/v1/register", {"object_id": "doc-1", "hint": "Available"})
            await post(client, "/v1/critical-keys", {"add": ["ledger"]})
            loop = client.app[LOOP]
            await loop.run_once()
            await loop.run_once()  # emergency: the cluster-wide mode goes to A
            assert (await get(client, "/v1/mode"))[1]["mode"] == "A"
            _, before = await get(client, "/v1/mode?object_id=doc-1")

    async with controller(master_db, redis_url) as client:
        # No evaluation has run in this process: everything below comes from PostgreSQL.
        _, body = await get(client, "/v1/mode")
        assert body["mode"] == "A" and "emergency" in body["reason"]
        _, after = await get(client, "/v1/mode?object_id=doc-1")
        assert after == before
        _, body = await get(client, "/v1/critical-keys")
        assert body["data"]["critical_keys"] == ["ledger"]
        _, body = await get(client, "/status")
        objects = {o["object_id"]: o for o in body["data"]["objects"]}
        assert objects["doc-1"]["hint"] == "Available" and objects["doc-1"]["registered"]
        assert any(d["reason_code"] == "emergency" for d in body["data"]["decisions"])
        await post(client, "/v1/override", {"mode": "C"})
    async with controller(master_db, redis_url) as client:
        _, body = await get(client, "/v1/mode")
        assert body["mode"] == "C" and "override" in body["reason"]


async def test_redis_down_does_not_stop_the_controller(master_db: str) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    async with controller(master_db, nowhere) as client:
        status, body = await post(client, "/v1/override", {"mode": "A"})
        assert status == 200 and body["data"]["mode"] == "A"
        await client.app[LOOP].run_once()
        status, body = await get(client, "/health")
        assert status == 200 and body["checks"]["redis"] != "ok"
        assert (await get(client, "/v1/mode"))[1]["mode"] == "A"


async def test_changes_published_while_redis_was_down_arrive_when_it_returns(
    master_db: str, tmp_path: Path
) -> None:
    port = free_port()
    async with controller(master_db, f"redis://127.0.0.1:{port}/0") as client:
        status, _ = await post(client, "/v1/override", {"mode": "A"})
        assert status == 200
        redis_server = EmbeddedRedis(tmp_path / "redis", port=port)
        redis_url = redis_server.start()
        try:
            subscriber = aioredis.from_url(redis_url)
            pubsub = subscriber.pubsub()
            await pubsub.subscribe(CHANNEL)
            try:
                await client.app[LOOP].run_once()  # retries what could not be delivered
                messages = await _collect(pubsub, want={"*"})
                assert messages["*"]["mode"] == "A"
                assert (await get(client, "/health"))[1]["checks"]["redis"] == "ok"
            finally:
                await pubsub.aclose()
                await subscriber.aclose()
        finally:
            redis_server.stop()


async def test_steady_decisions_share_a_row_and_idle_objects_are_forgotten(
    master_db: str, redis_url: str
) -> None:
    async with controller(master_db, redis_url) as client:
        service = client.app[SERVICE]
        idle = ObjectRecord("idle-object", decided_at=time.time() - 10_000)
        await service.apply([idle])
        loop = client.app[LOOP]
        for _ in range(4):
            await loop.run_once()
        assert "idle-object" not in service.records, "idle, unregistered state is dropped"
        await service.store.record_decisions([], force=True)
        async with await psycopg.AsyncConnection.connect(master_db) as conn:
            cur = await conn.execute(
                "SELECT count(*), sum(repeats) FROM controller_decisions WHERE object_id = '*'"
            )
            assert await cur.fetchone() == (1, 4)
            cur = await conn.execute(
                "SELECT count(*) FROM controller_objects WHERE object_id = 'idle-object'"
            )
            assert await cur.fetchone() == (0,)

"""Running the controller in process, and seeding the master's tables it reads.

Shared by the controller's integration tests: the controller must not import master
code, so its tests write the master's rows with SQL.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
from aiohttp.test_utils import TestClient, TestServer
from grpc_health.v1 import health, health_pb2_grpc

from common.cluster_auth import ClusterIdentity
from common.config import ControllerSettings
from consistency_controller.app import build_app
from tests.support.identity import SESSION_SECRET

__all__ = ["controller", "get", "health_server", "post", "seed_file", "seed_workers", "sql"]


@contextlib.asynccontextmanager
async def controller(
    database_url: str, redis_url: str, *, run_loop: bool = False, **overrides: Any
) -> AsyncIterator[TestClient]:
    overrides.setdefault("cluster_secret", SESSION_SECRET)
    overrides.setdefault("mode_ttl_seconds", 5.0)
    settings = ControllerSettings(database_url=database_url, redis_url=redis_url, **overrides)
    app = build_app(settings, database_url, redis_url, run_loop=run_loop)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def health_server() -> AsyncIterator[str]:
    """A real grpc.health.v1 server answering SERVING; yields its address."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)


async def sql(database_url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(statement, params)


async def seed_workers(database_url: str, workers: dict[str, str]) -> None:
    for worker_id, address in workers.items():
        await sql(
            database_url,
            "INSERT INTO workers (worker_id, address) VALUES (%s, %s)",
            (worker_id, address),
        )


async def seed_file(
    database_url: str, replica_workers: list[str], hint: str = "Auto", versions: int = 1
) -> str:
    """A user, a file whose current version has one chunk with live replicas on
    ``replica_workers``, and ``versions - 1`` older versions (written a second apart,
    the file row as old as the oldest: a file written again)."""
    file_id, version_id = uuid.uuid4(), uuid.uuid4()
    chunk_id = uuid.uuid4().hex * 2
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "INSERT INTO users (username, password_hash) VALUES (%s, 'x') RETURNING id",
            (f"u-{file_id.hex[:8]}",),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
            " VALUES (%s, 1, 1, 'raw', %s)",
            (chunk_id, chunk_id),
        )
        # Every file lives in a bucket (migration 0007): the user's home bucket.
        await conn.execute("SELECT echofs_create_home_bucket(%s, %s)",
                           (row[0], f"u-{file_id.hex[:8]}"))
        await conn.execute(
            "INSERT INTO files (id, owner_id, bucket_id, path, current_version_id,"
            " consistency_hint, created_at) SELECT %s, %s, b.id, %s, %s, %s,"
            " now() - make_interval(secs => %s) FROM buckets b WHERE b.home_of = %s",
            (file_id, row[0], f"/f-{file_id.hex[:8]}", version_id, hint, versions - 1,
             row[0]),
        )
        await conn.execute(
            "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count, mode)"
            " VALUES (%s, %s, 1, 'x', 1, 1, 'C')",
            (version_id, file_id),
        )
        for age_s in range(1, versions):
            await conn.execute(
                "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count,"
                " mode, created_at) VALUES (%s, %s, 1, 'x', 1, 1, 'C',"
                " now() - make_interval(secs => %s))",
                (uuid.uuid4(), file_id, age_s),
            )
        await conn.execute(
            "INSERT INTO version_chunks (version_id, idx, chunk_id) VALUES (%s, 0, %s)",
            (version_id, chunk_id),
        )
        for worker_id in replica_workers:
            await conn.execute(
                "INSERT INTO replicas (chunk_id, worker_id) VALUES (%s, %s)",
                (chunk_id, worker_id),
            )
    return str(file_id)


async def post(
    client: TestClient, path: str, body: Any, *, signed: bool = True
) -> tuple[int, dict[str, Any]]:
    """POST as a cluster member (``signed``) or as anybody."""
    data = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": "application/json"}
    if signed:
        headers.update(ClusterIdentity(SESSION_SECRET).http_headers("POST", path.split("?")[0]))
    response = await client.post(path, data=data, headers=headers)
    return response.status, await response.json()


async def get(client: TestClient, path: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path)
    return response.status, await response.json()

"""The master's PostgreSQL connection pool (psycopg_pool), opened and closed with the app."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.errors import DependencyDown
from common.migrate import apply_migrations
from master.metadata.refusals import refusal_from

__all__ = ["MIGRATIONS_DIR", "Database", "open_database", "retry_conflicts"]

CONFLICT_ATTEMPTS = 4
IDLE_CHECK_AFTER_S = 1.0
T = TypeVar("T")
_CONFLICTS = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


async def retry_conflicts(run: Callable[[], Awaitable[T]]) -> T:
    """Run a transaction again when PostgreSQL aborted it to break a deadlock or a
    serialization conflict (SQLSTATE 40P01 / 40001), as PostgreSQL asks callers to.

    Concurrent overwrites and deletes of one path lock its file row and the chunk rows it
    shares with other versions in different orders; one side is then rolled back. That is
    not PostgreSQL being down, and a client must not see a 503 for it.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return await run()
        except DependencyDown as exc:
            if attempt == CONFLICT_ATTEMPTS or not isinstance(exc.__cause__, _CONFLICTS):
                raise
            log.info("transaction rolled back by a conflict; retrying",
                     extra={"attempt": attempt, "error": str(exc.__cause__)})
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")


class Database:
    """A pool plus the one translation of driver errors into our vocabulary."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise DependencyDown(f"PostgreSQL unavailable: {exc}") from exc
        except psycopg.Error as exc:  # our own refusals (metadata/refusals.py) are no bug
            refused = refusal_from(exc)
            if refused is None:
                raise
            raise refused from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def ping(self) -> bool:
        try:
            async with self.connection() as conn:
                await conn.execute("SELECT 1")
            return True
        except Exception:  # health probing must answer, whatever broke
            return False

    async def close(self) -> None:
        await self.pool.close()


class _PooledConnection(psycopg.AsyncConnection[dict]):  # type: ignore[type-var]
    """A connection that remembers when it was last handed back to the pool."""

    returned_at: float = 0.0


async def _note_return(conn: _PooledConnection) -> None:
    conn.returned_at = time.monotonic()


async def _check_if_idle(conn: _PooledConnection) -> None:
    """Test a connection before lending it, unless it answered moments ago.

    A connection idle in the pool may have died with a restarted PostgreSQL; the check
    costs a round trip, so a dead one costs a reconnect instead of a failed request. A
    connection returned within IDLE_CHECK_AFTER_S was alive then: checking it on every
    checkout cost ~7 % of the master's CPU on small files (three checkouts per upload)
    and as many extra statements in PostgreSQL. A connection that did die meanwhile
    fails its request once (503) and is discarded by the pool.
    """
    if time.monotonic() - conn.returned_at >= IDLE_CHECK_AFTER_S:
        await AsyncConnectionPool.check_connection(conn)


async def open_database(database_url: str, *, min_size: int = 2, max_size: int = 16) -> Database:
    """Apply migrations, then open a pool whose connections return dict rows.

    Connections idle for a while are checked before they are lent (``_check_if_idle``).
    """
    await apply_migrations(database_url, "master", MIGRATIONS_DIR)
    pool = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        connection_class=_PooledConnection,
        check=_check_if_idle,
        reset=_note_return,
        timeout=10.0,
        open=False,
    )
    await pool.open(wait=True, timeout=30.0)
    return Database(pool)

"""The master's PostgreSQL connection pool (psycopg_pool), opened and closed with the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from common.errors import DependencyDown
from common.migrate import apply_migrations

__all__ = ["MIGRATIONS_DIR", "Database", "open_database"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Database:
    """A pool plus the one translation of driver errors into our vocabulary."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict]]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as exc:
            raise DependencyDown(f"PostgreSQL unavailable: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[dict]]:
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


async def open_database(database_url: str, *, min_size: int = 2, max_size: int = 16) -> Database:
    """Apply migrations, then open a pool whose connections return dict rows.

    ``check`` makes the pool test a connection before lending it, so a restarted
    PostgreSQL costs a reconnect instead of failing requests.
    """
    await apply_migrations(database_url, "master", MIGRATIONS_DIR)
    pool = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        check=AsyncConnectionPool.check_connection,
        timeout=10.0,
        open=False,
    )
    await pool.open(wait=True, timeout=30.0)
    return Database(pool)

"""The master's singleton leases (``singleton_leases``, migration 0006) and the fence check.

:class:`LeasesRepository` is the PostgreSQL :class:`common.singleton.LeaseStore`.
:func:`fenced` opens the transaction a singleton job commits its work in: with a fence,
its first statement locks the job's lease row ``FOR SHARE`` *with the token it was given*.
If another process took the job over meanwhile, the token is no longer there and
:class:`LeaseLost` is raised before anything is written; if the token is current, a
takeover waits for this short transaction to end, so the check holds until it commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from common.errors import LeaseLost
from common.singleton import Fence
from master.metadata.pool import Database

__all__ = ["LeaseRow", "LeasesRepository", "check_fence", "fenced"]

# Take a free or expired lease (a new token), or renew our own (the same token). The
# database's clock decides expiry. A contender whose lease is still running gets no row.
_ACQUIRE = (
    "INSERT INTO singleton_leases AS l (job, holder, token, expires_at)"
    " VALUES (%(job)s, %(holder)s, 1, now() + make_interval(secs => %(ttl)s))"
    " ON CONFLICT (job) DO UPDATE SET"
    "  token = CASE WHEN l.holder = EXCLUDED.holder THEN l.token ELSE l.token + 1 END,"
    "  acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,"
    "  holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, renewed_at = now()"
    " WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()"
    " RETURNING token"
)


@dataclass(frozen=True, slots=True)
class LeaseRow:
    job: str
    holder: str
    token: int
    expires_at: datetime
    held: bool  # not expired, by the database's clock


class LeasesRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(self, job: str, holder: str, ttl_s: float) -> int | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(_ACQUIRE, {"job": job, "holder": holder, "ttl": ttl_s})
            row = await cur.fetchone()
        return int(row["token"]) if row is not None else None

    async def release(self, job: str, holder: str, token: int) -> None:
        """Expire our lease now; the row (and its token) stays, so tokens keep growing."""
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE singleton_leases SET expires_at = now()"
                " WHERE job = %s AND holder = %s AND token = %s",
                (job, holder, token),
            )

    async def all(self) -> list[LeaseRow]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT job, holder, token, expires_at, expires_at > now() AS held"
                " FROM singleton_leases ORDER BY job"
            )
            return [LeaseRow(r["job"], r["holder"], int(r["token"]), r["expires_at"],
                             bool(r["held"])) for r in await cur.fetchall()]


async def check_fence(conn: psycopg.AsyncConnection[Any], fence: Fence) -> None:
    """Inside a transaction: hold the lease row with ``fence``'s token until it ends, or
    raise LeaseLost (the caller's transaction then rolls back: nothing is written)."""
    cur = await conn.execute(
        "SELECT 1 FROM singleton_leases WHERE job = %s AND token = %s FOR SHARE",
        (fence.job, fence.token),
    )
    if await cur.fetchone() is None:
        raise LeaseLost(
            f"singleton job {fence.job!r}: token {fence.token} is no longer current;"
            " another process holds the job, this one's work is refused"
        )


@asynccontextmanager
async def fenced(db: Database, fence: Fence | None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A transaction that commits only while ``fence`` is current (any, without one:
    ``run_once()`` called directly, as unit and single-master tests do)."""
    async with db.transaction() as conn:
        if fence is not None:
            await check_fence(conn, fence)
        yield conn

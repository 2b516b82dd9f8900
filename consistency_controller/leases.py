"""The controller's singleton lease (``controller_leases``, its migration 0002): several
controllers may run, one evaluates (DESIGN §16).

:class:`ControllerLeases` is the :class:`common.singleton.LeaseStore` over the
controller's own pool; :func:`check_fence` is the statement a round's commit starts with
(the lease row ``FOR SHARE`` with the round's token, in the same transaction): a
controller that stalled past its lease cannot write decisions once another took over.
The rules are the master's (``master.metadata.leases``), on the controller's own table:
the controller never reads the master's tables.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from common.errors import LeaseLost
from common.singleton import Fence

__all__ = ["EVALUATION", "ControllerLeases", "check_fence"]

EVALUATION = "evaluation"

_ACQUIRE = (
    "INSERT INTO controller_leases AS l (job, holder, token, expires_at)"
    " VALUES (%(job)s, %(holder)s, 1, now() + make_interval(secs => %(ttl)s))"
    " ON CONFLICT (job) DO UPDATE SET"
    "  token = CASE WHEN l.holder = EXCLUDED.holder THEN l.token ELSE l.token + 1 END,"
    "  acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at ELSE now() END,"
    "  holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, renewed_at = now()"
    " WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()"
    " RETURNING token"
)


class ControllerLeases:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def acquire(self, job: str, holder: str, ttl_s: float) -> int | None:
        """Take a free or expired lease (a new token) or renew ours (the same token)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_ACQUIRE, {"job": job, "holder": holder, "ttl": ttl_s})
            row = await cur.fetchone()
        return int(row[0]) if row is not None else None

    async def release(self, job: str, holder: str, token: int) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE controller_leases SET expires_at = now()"
                " WHERE job = %s AND holder = %s AND token = %s",
                (job, holder, token),
            )


async def check_fence(conn: psycopg.AsyncConnection[Any], fence: Fence) -> None:
    """Inside a transaction: hold the lease row with ``fence``'s token until it ends, or
    raise LeaseLost (the transaction then rolls back: nothing is written)."""
    cur = await conn.execute(
        "SELECT 1 FROM controller_leases WHERE job = %s AND token = %s FOR SHARE",
        (fence.job, fence.token),
    )
    if await cur.fetchone() is None:
        raise LeaseLost(
            f"controller job {fence.job!r}: token {fence.token} is no longer current;"
            " another controller evaluates, this one's decisions are refused"
        )

"""A Redis lease: exclusive for a while, never stuck.

``SET key token NX PX ttl`` takes it; a holder renews it while it works; release deletes
it only if the token still matches (a Lua compare-and-delete), so a holder whose lease
lapsed cannot release someone else's. If the holder dies, the lease simply expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from common.errors import DependencyDown, UploadLocked

__all__ = ["lease"]

_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then"
    " return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


@contextlib.asynccontextmanager
async def lease(redis: aioredis.Redis, key: str, ttl_ms: int = 30_000) -> AsyncIterator[None]:
    """Hold ``key`` for the duration of the block, renewing every third of ``ttl_ms``.

    Raises UploadLocked when someone else holds it, DependencyDown when Redis is gone.
    """
    token = secrets.token_hex(16)
    try:
        taken = await redis.set(key, token, nx=True, px=ttl_ms)
    except RedisError as exc:
        raise DependencyDown(f"Redis unavailable for the upload lease: {exc}") from exc
    if not taken:
        raise UploadLocked("another request is writing to this upload; retry after it ends")

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            with contextlib.suppress(RedisError):
                await redis.eval(_RENEW, 1, key, token, ttl_ms)

    renewer = asyncio.create_task(renew(), name=f"lease-renew:{key}")
    try:
        yield
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        with contextlib.suppress(RedisError):
            await redis.eval(_RELEASE, 1, key, token)

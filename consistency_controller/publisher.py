"""Publish mode changes on Redis so masters apply them within a second.

Channel ``echofs:mode-changes``; each message is JSON::

    {"object_id": "<file id, or "*" for the cluster-wide mode>", "mode": "C"|"A"|"Hybrid",
     "ttl_seconds": 5.0, "reason": "...", "timestamp": "2026-11-21T05:40:00.123456+00:00"}

Redis holds nothing that matters here: the state of record is PostgreSQL and masters
that miss a message re-ask ``GET /v1/mode`` when their cached entry expires. So a Redis
outage is logged and the undelivered messages (newest per object, bounded) are retried
on the next publish or ``flush()``; it never stops the controller.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["CHANNEL", "MemoryPublisher", "ModePublisher", "RedisPublisher"]

log = logging.getLogger(__name__)

CHANNEL = "echofs:mode-changes"
MAX_PENDING = 10_000


class ModePublisher(Protocol):
    async def publish(self, message: dict[str, Any]) -> bool: ...

    async def flush(self) -> bool: ...

    async def close(self) -> None: ...


class RedisPublisher:
    """Publishes on ``CHANNEL``; keeps undelivered messages (newest per object) for retry."""

    def __init__(
        self,
        redis_url: str,
        *,
        timeout_s: float = 1.0,
        on_failure: Callable[[], None] | None = None,
    ) -> None:
        self._client = aioredis.from_url(
            redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._pending: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._on_failure = on_failure
        self._healthy = True

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def publish(self, message: dict[str, Any]) -> bool:
        """Queue ``message`` behind any undelivered ones and try to deliver all."""
        key = str(message.get("object_id", "*"))
        self._pending.pop(key, None)
        self._pending[key] = message
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return await self.flush()

    async def flush(self) -> bool:
        while self._pending:
            key, message = next(iter(self._pending.items()))
            try:
                await self._client.publish(CHANNEL, json.dumps(message))
            except (RedisError, OSError) as exc:
                if self._healthy:
                    log.warning(
                        "redis publish failed; will retry",
                        extra={"error": repr(exc), "pending": len(self._pending)},
                    )
                self._healthy = False
                if self._on_failure is not None:
                    self._on_failure()
                return False
            self._pending.pop(key, None)
        if not self._healthy:
            log.info("redis publish recovered")
        self._healthy = True
        return True

    async def close(self) -> None:
        await self._client.aclose()


class MemoryPublisher:
    """In-memory twin for unit tests: records what would have been published."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def publish(self, message: dict[str, Any]) -> bool:
        self.messages.append(message)
        return True

    async def flush(self) -> bool:
        return True

    async def close(self) -> None:
        return None

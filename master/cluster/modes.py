"""Which consistency mode an object is in, as the controller decides.

Modes are cached for the ``ttl_seconds`` the controller returns. Mode changes published
on Redis (``echofs:mode-changes``) replace cache entries within a second. When the
controller cannot be reached the answer is C: failing safe costs latency, never data.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

import aiohttp
import redis.asyncio as aioredis

from common.quorum import Mode

__all__ = ["CLUSTER_KEY", "MODE_CHANNEL", "ModeDecision", "ModeOracle"]

log = logging.getLogger(__name__)

MODE_CHANNEL = "echofs:mode-changes"
CLUSTER_KEY = "*"
_FALLBACK_TTL_S = 2.0


@dataclass(frozen=True, slots=True)
class ModeDecision:
    mode: Mode
    reason: str
    expires_at: float


class ModeOracle:
    def __init__(self, controller_url: str, session: aiohttp.ClientSession) -> None:
        self._url = controller_url.rstrip("/") + "/v1/mode"
        self._session = session
        self._cache: dict[str, ModeDecision] = {}
        # Set (and replaced) on every applied change: writers waiting for acks follow it.
        self._changed = asyncio.Event()

    def next_change(self) -> asyncio.Event:
        """An event set at the next applied mode change (``LiveQuorum`` waits on it)."""
        return self._changed

    def _announce(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def mode_for(self, object_id: str) -> ModeDecision:
        now = time.monotonic()
        cached = self._cache.get(object_id)
        if cached is not None and cached.expires_at > now:
            return cached
        decision = await self._ask(object_id, now)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[object_id] = decision
        return decision

    async def _ask(self, object_id: str, now: float) -> ModeDecision:
        try:
            async with self._session.get(
                self._url, params={"object_id": object_id},
                timeout=aiohttp.ClientTimeout(total=0.5),
            ) as response:
                if response.status != 200:
                    raise ValueError(f"controller answered {response.status}")
                body = await response.json()
            mode = Mode(body["mode"])
            ttl_s = float(body.get("ttl_seconds", _FALLBACK_TTL_S))
            return ModeDecision(mode, str(body.get("reason", "")), now + max(0.0, ttl_s))
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            log.warning("controller unreachable, using C", extra={"error": str(exc)})
            return ModeDecision(
                Mode.STRONG, "controller unreachable: fail safe", now + _FALLBACK_TTL_S
            )

    def apply_change(self, message: dict) -> None:
        """A published mode change: replace the object's entry, or drop all on a cluster change."""
        object_id = str(message.get("object_id", CLUSTER_KEY))
        try:
            mode = Mode(message["mode"])
            ttl_s = float(message.get("ttl_seconds", _FALLBACK_TTL_S))
        except (KeyError, ValueError, TypeError):
            log.warning("ignoring malformed mode change", extra={"payload": message})
            return
        if object_id == CLUSTER_KEY:
            self._cache.clear()
        else:
            self._cache[object_id] = ModeDecision(
                mode, str(message.get("reason", "published")), time.monotonic() + ttl_s
            )
        self._announce()

    async def follow_changes(self, redis: aioredis.Redis) -> None:
        """Apply published changes until cancelled; reconnect when Redis drops."""
        while True:
            try:
                async with redis.pubsub() as pubsub:
                    await pubsub.subscribe(MODE_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            self.apply_change(json.loads(message["data"]))
                        except (json.JSONDecodeError, TypeError):
                            log.warning("ignoring non-JSON mode change")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis may vanish; modes then come from the controller
                log.warning("mode subscription lost", extra={"error": str(exc)})
                self._cache.clear()
                self._announce()
                await asyncio.sleep(1.0)

"""The controller's use cases: answer mode questions, take hints, registrations, overrides
and critical keys, and remember every object's state (in memory, written through to
PostgreSQL so a restarted controller resumes where it was).

No aiohttp type reaches this module; errors are ``common.errors`` classes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from common.errors import InvalidInput, NotFound
from common.quorum import Hint, Mode
from common.singleton import Fence

from .policy import PolicyState
from .publisher import ModePublisher
from .store import CLUSTER, ObjectRecord, Store

__all__ = ["ControllerService", "ModeAnswer", "UnknownObject"]

log = logging.getLogger(__name__)

MAX_OBJECT_ID_LENGTH = 256
# A record whose state did not change is written again only this often (its decided_at).
PERSIST_UNCHANGED_EVERY_S = 30.0


def _material(record: ObjectRecord) -> tuple[object, ...]:
    """What must reach PostgreSQL at once when it changes."""
    return (record.policy, record.reason_code, record.hint, record.hint_set, record.registered)


class UnknownObject(NotFound):
    """Neither registered with the controller nor a file the master knows."""

    code = "unknown_object"


@dataclass(frozen=True)
class ModeAnswer:
    mode: Mode
    ttl_seconds: float
    reason: str
    timestamp: float

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "ttl_seconds": self.ttl_seconds,
            "reason": self.reason,
            "timestamp": iso(self.timestamp),
        }

    def message(self, object_id: str) -> dict[str, Any]:
        return {"object_id": object_id, **self.as_json()}


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def check_object_id(object_id: object) -> str:
    if not isinstance(object_id, str) or not object_id.strip():
        raise InvalidInput("object_id must be a non-empty string")
    if len(object_id) > MAX_OBJECT_ID_LENGTH or object_id == CLUSTER:
        raise InvalidInput(f"object_id must be at most {MAX_OBJECT_ID_LENGTH} chars and not '*'")
    return object_id


class ControllerService:
    """State of record for modes; the evaluation loop writes decisions through ``apply``."""

    def __init__(
        self,
        store: Store,
        publisher: ModePublisher,
        *,
        ttl_seconds: float,
        active_window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.ttl_seconds = ttl_seconds
        self.active_window_s = active_window_s
        self.clock = clock
        self.records: dict[str, ObjectRecord] = {}
        self.critical_keys: set[str] = set()
        self.override: Mode | None = None
        # Serialises read-modify-write of records between routes and the evaluation loop.
        self.lock = asyncio.Lock()
        # Objects the last evaluation round tracked; None until the first round has run.
        self.active_ids: set[str] | None = None
        self._saved_at: dict[str, float] = {}

    async def load(self, *, quiet: bool = False) -> None:
        """Resume from PostgreSQL (a standby controller does it again and again,
        ``quiet``ly, so its answers follow the evaluating one's decisions)."""
        self.records = await self.store.load_objects()
        self.critical_keys = await self.store.load_critical_keys()
        self.override = await self.store.load_override()
        if CLUSTER not in self.records:
            self.records[CLUSTER] = ObjectRecord(CLUSTER, decided_at=self.clock())
            await self.store.save_objects([self.records[CLUSTER]])
        cluster = self.records[CLUSTER]
        if quiet:
            return
        log.info(
            "controller state loaded",
            extra={
                "objects": len(self.records) - 1,
                "critical_keys": len(self.critical_keys),
                "override": self.override.value if self.override else None,
                "cluster_mode": cluster.policy.mode.value,
            },
        )

    @property
    def cluster(self) -> ObjectRecord:
        return self.records[CLUSTER]

    # --- questions ----------------------------------------------------------------------

    def tracked(self, record: ObjectRecord, now: float) -> bool:
        """Does this object have a live per-object state (else it takes the cluster's)?

        Registered and hinted objects always do; others while they were written within the
        active window (as the last evaluation saw it; before the first round, by the age
        of their persisted decision).
        """
        if record.registered or record.hint_set:
            return True
        if self.active_ids is not None:
            return record.object_id in self.active_ids
        return now - record.decided_at <= self.active_window_s

    def mode_for(self, object_id: str | None) -> ModeAnswer:
        now = self.clock()
        cluster = self.cluster
        if object_id is None or object_id == CLUSTER:
            if self.override is not None:
                return ModeAnswer(
                    self.override, self.ttl_seconds,
                    f"operator override pins mode {self.override.value}", now,
                )
            return ModeAnswer(
                cluster.policy.mode, self.ttl_seconds, cluster.reason, cluster.decided_at or now
            )
        if object_id in self.critical_keys:
            return ModeAnswer(Mode.STRONG, self.ttl_seconds, "critical key: always C", now)
        if self.override is not None:
            return ModeAnswer(
                self.override, self.ttl_seconds,
                f"operator override pins mode {self.override.value}", now,
            )
        record = self.records.get(object_id)
        if record is not None and self.tracked(record, now):
            return ModeAnswer(
                record.policy.mode, self.ttl_seconds, record.reason, record.decided_at or now
            )
        return ModeAnswer(
            cluster.policy.mode,
            self.ttl_seconds,
            f"no per-object state for this object: cluster-wide mode ({cluster.reason})",
            cluster.decided_at or now,
        )

    # --- commands -----------------------------------------------------------------------

    async def _known(self, object_id: str) -> Hint | None:
        """The file's hint if the master knows it; raises UnknownObject if nobody does."""
        file_hint = await self.store.file_hint(object_id)
        if file_hint is None and object_id not in self.records:
            raise UnknownObject(f"unknown object {object_id!r}: register it first")
        return file_hint

    async def set_hint(self, object_id: str, hint: Hint) -> ObjectRecord:
        check_object_id(object_id)
        await self._known(object_id)
        async with self.lock:
            record = self.records.get(object_id) or ObjectRecord(
                object_id, decided_at=self.clock()
            )
            record = replace(record, hint=hint, hint_set=True)
            await self.store.save_objects([record])
            self.records[object_id] = record
        log.info("hint set", extra={"object_id": object_id, "hint": hint.value})
        return record

    async def register(
        self, object_id: str, hint: Hint | None = None, critical: bool | None = None
    ) -> ObjectRecord:
        check_object_id(object_id)
        async with self.lock:
            record = await self._register_locked(object_id, hint)
        if critical is True:
            await self.change_critical_keys([object_id], [])
        elif critical is False and object_id in self.critical_keys:
            await self.change_critical_keys([], [object_id])
        log.info("object registered", extra={"object_id": object_id})
        return record

    async def _register_locked(self, object_id: str, hint: Hint | None) -> ObjectRecord:
        record = self.records.get(object_id)
        if record is None:
            # A new object starts from the cluster-wide mode, not from C.
            cluster = self.cluster
            record = ObjectRecord(
                object_id,
                policy=PolicyState(mode=cluster.policy.mode),
                reason_code="registered",
                reason=f"registered; starts in the cluster-wide mode {cluster.policy.mode.value}",
                decided_at=self.clock(),
            )
        record = replace(record, registered=True)
        if hint is not None:
            record = replace(record, hint=hint, hint_set=True)
        await self.store.save_objects([record])
        self.records[object_id] = record
        return record

    async def set_override(self, mode: Mode | None) -> ModeAnswer:
        if mode is Mode.HYBRID:
            raise InvalidInput("override mode must be C, A or null")
        await self.store.save_override(mode)
        previous = self.override
        self.override = mode
        log.warning(
            "override changed",
            extra={
                "from": previous.value if previous else None,
                "to": mode.value if mode else None,
            },
        )
        answer = self.mode_for(None)
        if mode is None:
            # The state keeps the pinned mode; the policy moves on from it with its usual
            # votes and cooldowns, so clearing a pin never causes a sudden flip.
            answer = replace(
                answer,
                reason=f"override cleared; automatic decisions resume from mode "
                f"{answer.mode.value}",
                timestamp=self.clock(),
            )
        if previous is not mode:
            await self.publisher.publish(answer.message(CLUSTER))
        return answer

    async def change_critical_keys(self, add: Iterable[str], remove: Iterable[str]) -> list[str]:
        add_list = [check_object_id(key) for key in add]
        remove_list = [check_object_id(key) for key in remove]
        await self.store.change_critical_keys(add_list, remove_list)
        newly_critical = [key for key in add_list if key not in self.critical_keys]
        self.critical_keys.update(add_list)
        self.critical_keys.difference_update(remove_list)
        for key in newly_critical:
            await self.publisher.publish(self.mode_for(key).message(key))
        return sorted(self.critical_keys)

    async def forget_inactive(self, now: float) -> int:
        """Drop the state of objects nobody registered or hinted and nobody wrote for twice
        the active window: they take the cluster-wide mode anyway. Bounds memory and rows."""
        cutoff = now - 2 * self.active_window_s
        async with self.lock:
            stale = [
                oid for oid, rec in self.records.items()
                if oid != CLUSTER and not rec.registered and not rec.hint_set
                and rec.decided_at < cutoff
                and (self.active_ids is None or oid not in self.active_ids)
            ]
            await self.store.delete_objects(stale)
            for oid in stale:
                del self.records[oid]
                self._saved_at.pop(oid, None)
        return len(stale)

    async def apply(
        self, records: list[ObjectRecord], fence: Fence | None = None
    ) -> list[ObjectRecord]:
        """Write evaluated records through to PostgreSQL, then to memory.

        Hint and registration come from the current record, not the evaluated copy, so a
        hint set while an evaluation ran is not lost. With the evaluation lease's fence,
        a round whose token is no longer current raises LeaseLost and changes nothing.
        """
        async with self.lock:
            merged, changed = [], []
            for record in records:
                current = self.records.get(record.object_id)
                if current is not None:
                    record = replace(
                        record,
                        hint=current.hint,
                        hint_set=current.hint_set,
                        registered=current.registered,
                    )
                merged.append(record)
                saved_at = self._saved_at.get(record.object_id)
                if (
                    current is None
                    or _material(current) != _material(record)
                    or saved_at is None
                    or record.decided_at - saved_at >= PERSIST_UNCHANGED_EVERY_S
                ):
                    changed.append(record)
            await self.store.save_objects(changed, fence)
            for record in changed:
                self._saved_at[record.object_id] = record.decided_at
            for record in merged:
                self.records[record.object_id] = record
        return merged

"""Who may do what on a bucket: the one place every route's permission check happens.

Permissions (DESIGN §12) rank owner > rwd > rw > ro:

- ``ro`` reads and lists; ``rw`` also writes, makes directories, copies in and
  restores; ``rwd`` also deletes and moves out; ``owner`` also changes settings,
  deletes the bucket and manages its shares.
- A bucket's owner holds ``owner``; admins hold ``owner`` on every bucket; anybody
  else holds the strongest share naming them or a group they are in (``SharesRepository``).
- An API key never holds more than its user (``decide``): an ``ro`` key is capped at
  ``ro``; a key limited to some buckets holds nothing on the others; an ``admin`` key
  is an admin only while its user is one (``Principal.is_admin`` already says so).

A bucket the caller cannot read answers NotFound exactly like a bucket that does not
exist (its existence is not revealed); a readable bucket with too weak a permission
answers Forbidden.

Nothing is cached beyond one call: the owner fast path needs no query (the bucket row
is already at hand), and any other caller's grant is read from PostgreSQL each time, so
a share, a group membership or a key revoked on one master is in force on every master
from the next request on.
"""

from __future__ import annotations

import enum

from common.errors import Forbidden, NotFound
from master.domain.records import BucketRecord
from master.metadata.buckets import BucketsRepository
from master.metadata.shares import OWNER_RANK, SharesRepository
from master.services.auth import Principal
from master.services.paths import is_bucket_name

__all__ = ["BucketAccess", "Permission", "decide", "require_write_scope"]


class Permission(enum.IntEnum):
    """What an operation needs, ordered: a higher value includes the lower ones."""

    READ = 1  # ro: read, list
    WRITE = 2  # rw: + write, mkdir, copy in
    DELETE = 3  # rwd: + delete, move out
    OWNER = 4  # settings, bucket delete, shares

    @property
    def label(self) -> str:
        return {1: "ro", 2: "rw", 3: "rwd", 4: "owner"}[int(self)]

    @classmethod
    def of_label(cls, label: str) -> Permission:
        """``ro`` / ``rw`` / ``rwd`` / ``owner`` -> the permission; KeyError otherwise."""
        return {"ro": cls.READ, "rw": cls.WRITE, "rwd": cls.DELETE, "owner": cls.OWNER}[label]


def _owns(caller: Principal, owner_id: int) -> bool:
    return caller.is_admin or caller.user_id == owner_id


def decide(
    caller: Principal, bucket_id: int, owner_id: int, shared: Permission | None
) -> Permission | None:
    """The pure rule: the caller's permission on bucket ``bucket_id`` owned by
    ``owner_id``, given ``shared`` (the strongest share it holds there), or None."""
    if caller.key_buckets is not None and bucket_id not in caller.key_buckets:
        return None
    held = Permission.OWNER if _owns(caller, owner_id) else shared
    if held is not None and caller.read_only:
        held = min(held, Permission.READ)
    return held


def require_write_scope(caller: Principal, what: str) -> None:
    """Forbidden for a read-only API key: ``what`` (e.g. "create a bucket") changes
    something outside any one bucket's permission."""
    if caller.read_only:
        raise Forbidden(f"a read-only API key cannot {what}")


class BucketAccess:
    def __init__(self, buckets: BucketsRepository, shares: SharesRepository) -> None:
        self._buckets = buckets
        self._shares = shares

    async def permission(
        self, caller: Principal, bucket_id: int, owner_id: int
    ) -> Permission | None:
        """The caller's permission on a bucket (None: nothing, not even reading)."""
        if caller.key_buckets is not None and bucket_id not in caller.key_buckets:
            return None
        shared = None
        if not _owns(caller, owner_id):
            rank = await self._shares.grant(bucket_id, caller.user_id)
            if rank is None:
                return None
            shared = Permission(rank)
        return decide(caller, bucket_id, owner_id, shared)

    async def check(
        self, caller: Principal, name: str, bucket_id: int, owner_id: int, need: Permission
    ) -> Permission:
        """NotFound (unreadable) or Forbidden (too weak) unless ``caller`` holds ``need``
        on the bucket; the permission it holds."""
        held = await self.permission(caller, bucket_id, owner_id)
        if held is None:
            raise NotFound(f"no bucket {name!r}")
        if held < need:
            raise Forbidden(f"{held.label} on bucket {name!r} does not allow this")
        return held

    async def require(self, caller: Principal, name: str, need: Permission) -> BucketRecord:
        """The bucket named ``name`` if ``caller`` holds ``need`` on it (see ``check``);
        a name no bucket can have is NotFound without a query."""
        bucket = await self._buckets.by_name(name) if is_bucket_name(name) else None
        if bucket is None:
            raise NotFound(f"no bucket {name!r}")
        await self.check(caller, name, bucket.id, bucket.owner_id, need)
        return bucket

    async def require_id(self, caller: Principal, bucket_id: int, need: Permission) -> None:
        """``check`` on the bucket with id ``bucket_id`` (the caller's home bucket needs
        no lookup)."""
        if bucket_id == caller.home_bucket_id:
            name, owner_id = caller.home_bucket, caller.user_id
        else:
            bucket = await self._buckets.by_id(bucket_id)
            if bucket is None:
                raise NotFound("no such bucket")
            name, owner_id = bucket.name, bucket.owner_id
        await self.check(caller, name, bucket_id, owner_id, need)

    async def reachable(self, caller: Principal) -> dict[int, Permission] | None:
        """Every bucket the caller holds a permission on, with that permission; None
        for an admin not limited by a key (every bucket, as ``owner``)."""
        if caller.is_admin:
            if caller.key_buckets is None:
                return None
            # An admin owns every bucket: the key's list is what limits it.
            return {i: held for i in caller.key_buckets
                    if (held := decide(caller, i, 0, None)) is not None}
        found: dict[int, Permission] = {}
        for bucket_id, rank in (await self._shares.reachable(caller.user_id)).items():
            owner_id = caller.user_id if rank == OWNER_RANK else 0
            shared = Permission(rank) if rank != OWNER_RANK else None
            held = decide(caller, bucket_id, owner_id, shared)
            if held is not None:
                found[bucket_id] = held
        return found

    async def readable_bucket_ids(self, caller: Principal) -> frozenset[int] | None:
        """The ids of every bucket the caller may read; None means all of them (an
        admin not limited by a key). For feeds and searches that filter many buckets
        at once (the event feed, chunk possession)."""
        reach = await self.reachable(caller)
        return None if reach is None else frozenset(reach)

    def label(self, caller: Principal, bucket: BucketRecord,
              reach: dict[int, Permission] | None) -> str:
        """The caller's permission on a listed bucket as text, from ``reachable``'s answer
        (no query)."""
        if reach is None:
            held = decide(caller, bucket.id, bucket.owner_id, None)
        else:
            held = reach.get(bucket.id)
        return held.label if held is not None else ""

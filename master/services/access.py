"""Who may do what on a bucket: the one place every route's permission check happens.

Permissions (DESIGN §12) rank owner > rwd > rw > ro. Today a bucket's owner and the
admins hold ``owner`` on it and nobody else holds anything; shares (the next issue) add
the weaker grants here, and only here. A bucket the caller cannot read answers
NotFound exactly like a bucket that does not exist (its existence is not revealed); a
readable bucket with too weak a permission answers Forbidden.
"""

from __future__ import annotations

import enum

from common.errors import Forbidden, NotFound
from master.domain.records import BucketRecord
from master.metadata.buckets import BucketsRepository
from master.services.auth import Principal

__all__ = ["BucketAccess", "Permission"]


class Permission(enum.IntEnum):
    """What an operation needs, ordered: a higher value includes the lower ones."""

    READ = 1  # ro: read, list
    WRITE = 2  # rw: + write, mkdir, copy in
    DELETE = 3  # rwd: + delete, move out
    OWNER = 4  # settings, bucket delete

    @property
    def label(self) -> str:
        return {1: "ro", 2: "rw", 3: "rwd", 4: "owner"}[int(self)]


class BucketAccess:
    def __init__(self, buckets: BucketsRepository) -> None:
        self._buckets = buckets

    @staticmethod
    def permission(caller: Principal, owner_id: int) -> Permission | None:
        """The caller's permission on a bucket owned by ``owner_id`` (None: nothing)."""
        if caller.is_admin or caller.user_id == owner_id:
            return Permission.OWNER
        return None

    def check(self, caller: Principal, bucket: str, owner_id: int, need: Permission) -> None:
        """NotFound (unreadable) or Forbidden (too weak) unless ``caller`` holds ``need``."""
        held = self.permission(caller, owner_id)
        if held is None:
            raise NotFound(f"no bucket {bucket!r}")
        if held < need:
            raise Forbidden(f"{held.label} on bucket {bucket!r} does not allow this")

    async def readable_bucket_ids(self, caller: Principal) -> frozenset[int] | None:
        """The ids of every bucket ``caller`` may read (None: every bucket, an admin).
        The change feed filters by it (DESIGN §13: only buckets the caller can read)."""
        if caller.is_admin:
            return None
        return frozenset(await self._buckets.ids_owned_by(caller.user_id))

    async def require(self, caller: Principal, name: str, need: Permission) -> BucketRecord:
        """The bucket named ``name`` if ``caller`` holds ``need`` on it (see ``check``)."""
        bucket = await self._buckets.by_name(name)
        if bucket is None:
            raise NotFound(f"no bucket {name!r}")
        self.check(caller, name, bucket.owner_id, need)
        return bucket

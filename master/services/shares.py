"""Sharing a bucket with users and groups as ro, rw or rwd (DESIGN §12).

Only a caller holding ``owner`` on the bucket manages its shares: its owner and admins
(and their ``rw``/``admin`` API keys where the key allows the bucket). Everyone else
gets the access rule's answer: 404 when it cannot read the bucket, 403 when it can.
A share is in force from the next request on every master (``BucketAccess`` reads
shares from PostgreSQL on every check; nothing caches them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput, NotFound
from master.domain.access import ShareRecord
from master.metadata.groups import GroupsRepository
from master.metadata.shares import SharesRepository
from master.metadata.users import UsersRepository
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import USERNAME_RE, Principal

__all__ = ["SHARE_PERMISSIONS", "Grantee", "ShareService", "grantee_of_body", "parse_grantee"]

SHARE_PERMISSIONS = ("ro", "rw", "rwd")


@dataclass(frozen=True, slots=True)
class Grantee:
    kind: str  # 'user' | 'group'
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_grantee(raw: str) -> Grantee:
    """``user:alice`` / ``group:devs`` (the share route's last segment)."""
    kind, sep, name = raw.partition(":")
    if not sep or kind not in ("user", "group") or not name:
        raise InvalidInput("name the share as user:<username> or group:<group name>")
    return Grantee(kind, name)


def grantee_of_body(body: dict[str, Any]) -> Grantee:
    """The ``user`` or ``group`` field of a share request (exactly one of them)."""
    named = [k for k in ("user", "group") if body.get(k) is not None]
    if len(named) != 1 or not isinstance(body[named[0]], str) or not body[named[0]]:
        raise InvalidInput("give exactly one of 'user' (a username) or 'group' (a group name)")
    return Grantee(named[0], body[named[0]])


class ShareService:
    def __init__(
        self, access: BucketAccess, shares: SharesRepository, users: UsersRepository,
        groups: GroupsRepository, audit: AuditService,
    ) -> None:
        self._access = access
        self._shares = shares
        self._users = users
        self._groups = groups
        self._audit = audit

    async def put(self, caller: Principal, bucket: str, grantee: Grantee,
                  permission: Any) -> tuple[ShareRecord, bool]:
        """Share ``bucket`` with ``grantee`` as ``permission`` (replacing an earlier
        share with it); (the share, True when new)."""
        if permission not in SHARE_PERMISSIONS:
            raise InvalidInput("permission must be one of ro, rw, rwd")
        record = await self._access.require(caller, bucket, Permission.OWNER)
        user_id, group_id = await self._resolve(grantee)
        if user_id is not None and user_id == record.owner_id:
            raise InvalidInput("the bucket's owner already holds every permission on it")
        share, created = await self._shares.put(
            record.id, user_id=user_id, group_id=group_id, permission=permission,
            granted_by=caller.user_id,
        )
        await self._audit.record(caller, "share.put", bucket, grantee=str(grantee),
                                 permission=permission, created=created)
        return share, created

    async def of_bucket(self, caller: Principal, bucket: str) -> list[ShareRecord]:
        record = await self._access.require(caller, bucket, Permission.OWNER)
        return await self._shares.of_bucket(record.id)

    async def delete(self, caller: Principal, bucket: str, grantee: Grantee) -> None:
        record = await self._access.require(caller, bucket, Permission.OWNER)
        user_id, group_id = await self._resolve(grantee, missing=f"{grantee} has no share"
                                                f" on bucket {bucket!r}")
        if not await self._shares.delete(record.id, user_id=user_id, group_id=group_id):
            raise NotFound(f"{grantee} has no share on bucket {bucket!r}")
        await self._audit.record(caller, "share.delete", bucket, grantee=str(grantee))

    async def _resolve(self, grantee: Grantee, missing: str = ""
                       ) -> tuple[int | None, int | None]:
        """(user id, None) or (None, group id); NotFound (``missing`` as its message)
        when nobody has that name."""
        known = USERNAME_RE.fullmatch(grantee.name)  # group names follow the same rule
        if grantee.kind == "user":
            user = await self._users.by_username(grantee.name) if known else None
            if user is None:
                raise NotFound(missing or f"no user {grantee.name[:64]!r}")
            return user.id, None
        group = await self._groups.by_name(grantee.name) if known else None
        if group is None:
            raise NotFound(missing or f"no group {grantee.name[:64]!r}")
        return None, group.id

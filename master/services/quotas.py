"""Quotas (DESIGN §12): usage, user quotas, and refusing a doomed upload early.

Enforcement itself happens in PostgreSQL at COMMIT (migration 0010): whatever a
transaction adds is checked against every quota it counts in, with the counter rows
locked, so concurrent uploads cannot overshoot together, and a refused transaction
leaves nothing behind (507 ``quota_exceeded``). This service adds what needs no lock:

- ``refuse_declared``: an upload that declares its size (chunk session ``file_size``,
  tus ``Upload-Length``, a PUT's ``Content-Length``) and would be refused at commit
  even in the best case is refused before a byte moves. Best case: everything the
  file already at that path holds were freed. Anything less certain is left to the
  commit, so the early answer never refuses what the commit would accept.
- user and group quotas, set by admins (``quota.set`` in the audit log; bucket quotas
  are bucket settings, audited by ``BucketService``), and a user's usage for the
  profile. A group's usage is that of the buckets charged to it (migration 0015).
"""

from __future__ import annotations

from typing import Any

from common.errors import Forbidden, InvalidInput, NotFound, QuotaExceeded
from master.domain.usage import Headroom, Usage
from master.metadata.usage import USER_QUOTAS, UsageRepository
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import Principal

__all__ = ["QUOTA_LIMIT", "QuotaService", "parse_quotas"]

QUOTA_LIMIT = 2**62  # as for bucket quotas (services/buckets.py)


def parse_quotas(body: dict[str, Any]) -> dict[str, int | None]:
    """``quota_bytes`` / ``quota_files`` of a JSON body: null (no limit) or an integer
    from 0 to 2**62. Other fields and an empty body are refused."""
    unknown = sorted(set(body) - set(USER_QUOTAS))
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(unknown)}")
    if not body:
        raise InvalidInput("give quota_bytes and/or quota_files (null: no limit)")
    quotas: dict[str, int | None] = {}
    for key in USER_QUOTAS:
        if key not in body:
            continue
        value = body[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= QUOTA_LIMIT):
            raise InvalidInput(f"{key} must be null or an integer from 0 to {QUOTA_LIMIT}")
        quotas[key] = value
    return quotas


def _storable_name(name: str) -> bool:
    """Whether ``name`` could be a username at all (PostgreSQL text takes it)."""
    if not 1 <= len(name) <= 64 or "\x00" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refusal(room: Headroom, declared_bytes: int) -> QuotaExceeded:
    u = room.usage
    return QuotaExceeded(
        f"the {u.scope} quota of {u.name or u.scope_id} is exceeded: {declared_bytes}"
        f" bytes declared, {u.used_bytes} of {u.quota_bytes} bytes and {u.files} of"
        f" {u.quota_files} files used; nothing was stored",
        details={"scope": u.scope, "name": u.name, "used_bytes": u.used_bytes,
                 "used_files": u.files, "adding_bytes": declared_bytes,
                 "quota_bytes": u.quota_bytes, "quota_files": u.quota_files},
    )


class QuotaService:
    def __init__(
        self, usage: UsageRepository, access: BucketAccess, audit: AuditService, *,
        early_check_min_bytes: int,
    ) -> None:
        self._usage = usage
        self._access = access
        self._audit = audit
        # A PUT declaring less than this (one chunk) skips the early check: it costs a
        # query, and at most one chunk moves before the commit refuses it anyway.
        self._early_check_min_bytes = early_check_min_bytes

    async def refuse_doomed_upload(
        self, caller: Principal, bucket: str | None, path: str, declared_bytes: int | None
    ) -> None:
        """Before a PUT's body is read: QuotaExceeded when its ``Content-Length`` is
        sure to be refused at commit. NotFound / Forbidden as the upload would answer."""
        if declared_bytes is None or declared_bytes < self._early_check_min_bytes:
            return
        target = await self._access.require(caller, bucket or caller.home_bucket,
                                            Permission.WRITE)
        await self.refuse_declared(target.id, path, declared_bytes)

    async def refuse_declared(self, bucket_id: int, path: str, declared_bytes: int) -> None:
        """QuotaExceeded when a new version of ``declared_bytes`` at ``path`` is sure to
        be refused at commit (the caller has checked access to the bucket)."""
        for room in await self._usage.headroom(bucket_id, path):
            if room.refuses(declared_bytes):
                raise _refusal(room, declared_bytes)

    async def of_user(self, caller: Principal) -> Usage:
        return await self._usage.of_user(caller.user_id)

    async def set_user_quota(
        self, caller: Principal, username: str, quotas: dict[str, int | None]
    ) -> Usage:
        """Admins only. NotFound for an unknown user."""
        return await self._set_quota(caller, "user", username, quotas)

    async def set_group_quota(
        self, caller: Principal, group: str, quotas: dict[str, int | None]
    ) -> Usage:
        """Admins only. NotFound for an unknown group."""
        return await self._set_quota(caller, "group", group, quotas)

    async def _set_quota(
        self, caller: Principal, scope: str, name: str, quotas: dict[str, int | None]
    ) -> Usage:
        values: dict[str, Any] = dict(quotas)
        plausible = _storable_name(name)  # else no such user or group could exist
        target = f"{scope}:{name}" if plausible else f"{scope}:?"
        if not caller.is_admin:
            await self._audit.record(caller, "quota.set", target, outcome="denied", **values)
            raise Forbidden(f"setting a {scope}'s quota needs the admin role")
        if not plausible:
            raise NotFound(f"no such {scope}")
        if scope == "user":
            usage = await self._usage.set_user_quota(name, quotas)
        else:
            usage = await self._usage.set_group_quota(name, quotas)
        await self._audit.record(caller, "quota.set", target, **values)
        return usage

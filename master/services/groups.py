"""Groups of users (DESIGN §12): buckets are shared with a group as with a user.

Who may do what:

- any user (not a read-only API key) may create a group; group names are unique and
  follow the username rule;
- a group is managed by its creator and by admins: they add and remove members;
- a member may remove itself (leave); nobody else may change a group;
- a user sees the groups it created or belongs to, with their members; an admin sees
  every group.

Group names are not secret (creating a taken name answers 409), so a non-manager
changing a group gets 403, not 404. Membership is read from PostgreSQL by every
permission check (``BucketAccess``): adding or removing a member takes effect on every
master at the next request.
"""

from __future__ import annotations

from typing import Any

from common.errors import Conflict, Forbidden, InvalidInput, NotFound
from master.domain.access import GroupRecord
from master.metadata.groups import GroupsRepository
from master.metadata.users import UsersRepository
from master.services.access import require_write_scope
from master.services.audit import AuditService
from master.services.auth import USERNAME_RE, Principal

__all__ = ["GroupService"]

_NAME_RE = USERNAME_RE  # group names follow the username rule


class GroupService:
    def __init__(self, groups: GroupsRepository, users: UsersRepository,
                 audit: AuditService) -> None:
        self._groups = groups
        self._users = users
        self._audit = audit

    async def create(self, caller: Principal, name: Any) -> GroupRecord:
        """A new, empty group managed by the caller (409 ``conflict`` on a taken name)."""
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise InvalidInput("group name must be 3-64 characters of letters, digits, _ . -")
        require_write_scope(caller, "create a group")
        try:
            group = await self._groups.create(name, caller.user_id)
        except Conflict:
            raise Conflict(f"group {name!r} exists") from None
        await self._audit.record(caller, "group.create", name)
        return group

    async def visible(self, caller: Principal, after: str, limit: int) -> list[GroupRecord]:
        """The groups the caller created or belongs to (every group for an admin), by
        name after ``after``, with their members."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000")
        return await self._groups.visible(None if caller.is_admin else caller.user_id,
                                          after, limit)

    async def add_member(self, caller: Principal, group_name: str, username: str) -> bool:
        """Add ``username`` to the group; True when it was not a member before."""
        group = await self._group(group_name)
        self._require_manager(caller, group, "add members to")
        user_id = await self._user_id(username)
        if user_id is None:
            raise NotFound(f"no user {username[:64]!r}")
        added = await self._groups.add_member(group.id, user_id)
        if added:
            await self._audit.record(caller, "group.member.add", group.name, member=username)
        return added

    async def remove_member(self, caller: Principal, group_name: str, username: str) -> None:
        """Remove ``username`` from the group (a manager; or the member itself)."""
        group = await self._group(group_name)
        leaving = username == caller.username
        if not leaving:
            self._require_manager(caller, group, "remove members from")
        else:
            require_write_scope(caller, "leave a group")
        user_id = await self._user_id(username)
        if user_id is None or not await self._groups.remove_member(group.id, user_id):
            raise NotFound(f"{username[:64]!r} is not a member of group {group.name!r}")
        await self._audit.record(caller, "group.member.remove", group.name, member=username)

    async def _user_id(self, username: str) -> int | None:
        user = await self._users.by_username(username) if _NAME_RE.fullmatch(username) else None
        return user.id if user is not None else None

    async def _group(self, name: str) -> GroupRecord:
        group = await self._groups.by_name(name) if _NAME_RE.fullmatch(name) else None
        if group is None:
            raise NotFound(f"no group {name[:64]!r}")
        return group

    @staticmethod
    def _require_manager(caller: Principal, group: GroupRecord, what: str) -> None:
        require_write_scope(caller, f"{what} a group")
        if not (caller.is_admin or group.created_by == caller.user_id):
            raise Forbidden(f"only the creator of group {group.name!r} or an admin may {what}"
                            " it")

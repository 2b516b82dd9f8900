"""The access and change-feed operations of ``Client`` and ``AsyncClient`` (DESIGN §12,
§13), as one mixin per I/O style, side by side so the two stay alike.

Each method is one :mod:`client.protocol_access` / :mod:`client.protocol_links` call
run through the client's ``call`` (retries, failover, errors as classes); the only
loops are paging and :meth:`AccessOps.watch`, which long-polls the change feed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from client import protocol, protocol_access, protocol_links
from client.models_access import (
    ApiKey,
    Event,
    EventPage,
    Group,
    Link,
    Membership,
    NewApiKey,
    NewLink,
    QuotaUsage,
    Share,
    ShareRemoval,
)
from client.protocol_access import UNSET

__all__ = ["DEFAULT_WATCH_WAIT_S", "AccessOps", "AsyncAccessOps"]

T = TypeVar("T")

DEFAULT_WATCH_WAIT_S = 25.0  # one long poll; a proxy's idle timeout is often 60 s


class AccessOps:
    """Mixed into :class:`client.sync_client.Client`, which provides ``call`` and
    ``master_url``."""

    def call(self, op: protocol.Call[T]) -> T:
        raise NotImplementedError

    @property
    def master_url(self) -> str:
        raise NotImplementedError

    # --- groups ----------------------------------------------------------------------
    def groups(self) -> tuple[Group, ...]:
        """The groups the caller made or belongs to (every group for an admin)."""
        found: list[Group] = []
        after: str | None = None
        while True:
            page, after = self.call(protocol_access.list_groups(after))
            found.extend(page)
            if after is None:
                return tuple(found)

    def create_group(self, name: str) -> Group:
        return self.call(protocol_access.create_group(name))

    def add_member(self, group: str, username: str) -> Membership:
        return self.call(protocol_access.add_member(group, username))

    def remove_member(self, group: str, username: str) -> Membership:
        return self.call(protocol_access.remove_member(group, username))

    # --- shares ----------------------------------------------------------------------
    def share(self, bucket: str, kind: str, name: str, permission: str) -> Share:
        """Share ``bucket`` with the user or group (``kind``) ``name``: ro, rw or rwd."""
        return self.call(protocol_access.put_share(bucket, kind, name, permission))

    def shares(self, bucket: str) -> tuple[Share, ...]:
        return self.call(protocol_access.list_shares(bucket))

    def unshare(self, bucket: str, kind: str, name: str) -> ShareRemoval:
        return self.call(protocol_access.delete_share(bucket, kind, name))

    # --- API keys ----------------------------------------------------------------------
    def create_key(self, name: str, permission: str, buckets: list[str] | None = None,
                   expires_in_s: int | None = None) -> NewApiKey:
        return self.call(protocol_access.create_key(name, permission, buckets, expires_in_s))

    def keys(self) -> tuple[ApiKey, ...]:
        return self.call(protocol_access.list_keys())

    def revoke_key(self, key_id: str) -> ApiKey:
        return self.call(protocol_access.revoke_key(key_id))

    # --- quotas --------------------------------------------------------------------------
    def usage(self) -> QuotaUsage:
        """The caller's usage and quotas over the buckets it owns."""
        return self.call(protocol_access.user_usage())

    def set_user_quota(self, username: str, quota_bytes: Any = UNSET,
                       quota_files: Any = UNSET) -> QuotaUsage:
        """Admins: a user's quotas (None: no limit; left out: unchanged)."""
        return self.call(protocol_access.set_user_quota(username, quota_bytes, quota_files))

    def set_group_quota(self, group: str, quota_bytes: Any = UNSET,
                        quota_files: Any = UNSET) -> QuotaUsage:
        """Admins: a group's quotas, over the buckets charged to the group."""
        return self.call(protocol_access.set_group_quota(group, quota_bytes, quota_files))

    def set_bucket_quota(self, bucket: str, quota_bytes: Any = UNSET,
                         quota_files: Any = UNSET) -> QuotaUsage:
        return self.call(protocol_access.set_bucket_quota(bucket, quota_bytes, quota_files))

    # --- links ---------------------------------------------------------------------------
    def create_link(self, remote: str, expires_in_s: int,
                    max_uses: int | None = None) -> NewLink:
        return self.call(protocol_links.create_link(remote, expires_in_s, max_uses,
                                                    self.master_url))

    def links(self, bucket: str | None = None, everyone: bool = False) -> tuple[Link, ...]:
        found: list[Link] = []
        cursor: str | None = None
        while True:
            page, cursor = self.call(protocol_links.list_links(bucket, everyone, cursor))
            found.extend(page)
            if cursor is None:
                return tuple(found)

    def revoke_link(self, link_id: str) -> Link:
        return self.call(protocol_links.revoke_link(link_id))

    # --- change feed ---------------------------------------------------------------------
    def events(self, bucket: str | None = None, prefix: str = "", *,
               after: int | None = None, types: tuple[str, ...] = (),
               wait_s: float = 0.0, limit: int = 100) -> EventPage:
        """One page of the change feed (see :func:`client.protocol_links.events`)."""
        return self.call(protocol_links.events(bucket, prefix, after, types, wait_s, limit))

    def watch(self, bucket: str | None = None, prefix: str = "", *,
              after: int | None = None, types: tuple[str, ...] = (),
              wait_s: float = DEFAULT_WATCH_WAIT_S) -> Iterator[Event]:
        """Every matching event after ``after`` (None: from now on), as it happens;
        never ends by itself. Resume after the last event's ``id``."""
        while True:
            page = self.events(bucket, prefix, after=after, types=types, wait_s=wait_s)
            yield from page.events
            after = page.last_id


class AsyncAccessOps:
    """Mixed into :class:`client.async_client.AsyncClient`; the twin of AccessOps."""

    async def call(self, op: protocol.Call[T]) -> T:
        raise NotImplementedError

    @property
    def master_url(self) -> str:
        raise NotImplementedError

    async def groups(self) -> tuple[Group, ...]:
        found: list[Group] = []
        after: str | None = None
        while True:
            page, after = await self.call(protocol_access.list_groups(after))
            found.extend(page)
            if after is None:
                return tuple(found)

    async def create_group(self, name: str) -> Group:
        return await self.call(protocol_access.create_group(name))

    async def add_member(self, group: str, username: str) -> Membership:
        return await self.call(protocol_access.add_member(group, username))

    async def remove_member(self, group: str, username: str) -> Membership:
        return await self.call(protocol_access.remove_member(group, username))

    async def share(self, bucket: str, kind: str, name: str, permission: str) -> Share:
        return await self.call(protocol_access.put_share(bucket, kind, name, permission))

    async def shares(self, bucket: str) -> tuple[Share, ...]:
        return await self.call(protocol_access.list_shares(bucket))

    async def unshare(self, bucket: str, kind: str, name: str) -> ShareRemoval:
        return await self.call(protocol_access.delete_share(bucket, kind, name))

    async def create_key(self, name: str, permission: str, buckets: list[str] | None = None,
                         expires_in_s: int | None = None) -> NewApiKey:
        return await self.call(protocol_access.create_key(name, permission, buckets,
                                                          expires_in_s))

    async def keys(self) -> tuple[ApiKey, ...]:
        return await self.call(protocol_access.list_keys())

    async def revoke_key(self, key_id: str) -> ApiKey:
        return await self.call(protocol_access.revoke_key(key_id))

    async def usage(self) -> QuotaUsage:
        return await self.call(protocol_access.user_usage())

    async def set_user_quota(self, username: str, quota_bytes: Any = UNSET,
                             quota_files: Any = UNSET) -> QuotaUsage:
        return await self.call(protocol_access.set_user_quota(username, quota_bytes,
                                                              quota_files))

    async def set_group_quota(self, group: str, quota_bytes: Any = UNSET,
                              quota_files: Any = UNSET) -> QuotaUsage:
        return await self.call(protocol_access.set_group_quota(group, quota_bytes,
                                                               quota_files))

    async def set_bucket_quota(self, bucket: str, quota_bytes: Any = UNSET,
                               quota_files: Any = UNSET) -> QuotaUsage:
        return await self.call(protocol_access.set_bucket_quota(bucket, quota_bytes,
                                                                quota_files))

    async def create_link(self, remote: str, expires_in_s: int,
                          max_uses: int | None = None) -> NewLink:
        return await self.call(protocol_links.create_link(remote, expires_in_s, max_uses,
                                                          self.master_url))

    async def links(self, bucket: str | None = None,
                    everyone: bool = False) -> tuple[Link, ...]:
        found: list[Link] = []
        cursor: str | None = None
        while True:
            page, cursor = await self.call(protocol_links.list_links(bucket, everyone, cursor))
            found.extend(page)
            if cursor is None:
                return tuple(found)

    async def revoke_link(self, link_id: str) -> Link:
        return await self.call(protocol_links.revoke_link(link_id))

    async def events(self, bucket: str | None = None, prefix: str = "", *,
                     after: int | None = None, types: tuple[str, ...] = (),
                     wait_s: float = 0.0, limit: int = 100) -> EventPage:
        return await self.call(protocol_links.events(bucket, prefix, after, types, wait_s,
                                                     limit))

    async def watch(self, bucket: str | None = None, prefix: str = "", *,
                    after: int | None = None, types: tuple[str, ...] = (),
                    wait_s: float = DEFAULT_WATCH_WAIT_S) -> AsyncIterator[Event]:
        while True:
            page = await self.events(bucket, prefix, after=after, types=types, wait_s=wait_s)
            for event in page.events:
                yield event
            after = page.last_id

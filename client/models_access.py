"""Typed results of the access operations (DESIGN §12) and of the change feed (§13):
groups, shares, API keys, download links, quota usage, events.

Like ``client.models``: ``from_json`` reads the server's shape, ``to_json`` is what the
CLI's ``--json`` prints, so a script reading the CLI sees the SDK's fields. Optional
fields the server leaves out (an event's ``size``) are None here, never missing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiKey",
    "Event",
    "EventPage",
    "Group",
    "Link",
    "Membership",
    "NewApiKey",
    "NewLink",
    "QuotaUsage",
    "Share",
    "ShareRemoval",
]


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _plain(value: Any) -> Any:
    """Tuples as lists: ``to_json`` equals what ``json.loads`` reads back."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Json:
    def to_json(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True, slots=True)
class Group(_Json):
    """A group: who made it (its manager) and its members' usernames."""

    name: str
    created_by: str | None
    created_at: str
    members: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Group:
        return cls(str(data["name"]), _str_or_none(data.get("created_by")),
                   str(data.get("created_at") or ""),
                   tuple(str(m) for m in data.get("members") or ()))


@dataclass(frozen=True, slots=True)
class Membership(_Json):
    """After adding or removing a member: ``member`` says whether ``username`` is in
    the group now, ``changed`` whether this call changed that."""

    group: str
    username: str
    member: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class Share(_Json):
    """A bucket shared with a user or a group (``grantee_kind``: "user" | "group")."""

    bucket: str
    grantee_kind: str
    grantee: str
    permission: str
    granted_by: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_json(cls, bucket: str, data: dict[str, Any]) -> Share:
        kind = "user" if data.get("user") is not None else "group"
        return cls(bucket, kind, str(data.get(kind) or ""), str(data.get("permission") or ""),
                   _str_or_none(data.get("granted_by")), str(data.get("created_at") or ""),
                   str(data.get("updated_at") or ""))


@dataclass(frozen=True, slots=True)
class ShareRemoval(_Json):
    bucket: str
    grantee_kind: str
    grantee: str


@dataclass(frozen=True, slots=True)
class ApiKey(_Json):
    """An API key as listings show it (never its secret). ``permission``: ro | rw |
    admin; ``buckets``: the only buckets it reaches (None: all the user's);
    ``state``: active | expired | revoked."""

    key_id: str
    name: str
    permission: str
    buckets: tuple[str, ...] | None
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    state: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiKey:
        buckets = data.get("buckets")
        return cls(str(data["key_id"]), str(data.get("name") or ""),
                   str(data.get("permission") or ""),
                   None if buckets is None else tuple(str(b) for b in buckets),
                   _str_or_none(data.get("created_at")), _str_or_none(data.get("expires_at")),
                   _str_or_none(data.get("revoked_at")), str(data.get("state") or ""))


@dataclass(frozen=True, slots=True)
class NewApiKey(_Json):
    """A key just made. ``token`` is the bearer credential (``echofs login
    --api-key-stdin``), ``key_id`` + ``secret`` the S3 key pair; the server shows
    ``secret`` and ``token`` in this one answer only."""

    key: ApiKey
    secret: str
    token: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NewApiKey:
        return cls(ApiKey.from_json(data), str(data["secret"]), str(data["token"]))

    def __repr__(self) -> str:  # a traceback or a log line never shows the credentials
        return f"NewApiKey(key={self.key!r}, secret='***', token='***')"


@dataclass(frozen=True, slots=True)
class Link(_Json):
    """A download link as listings show it (never its token): the file version it
    serves, its limits and use. ``state``: active | used | expired | revoked | ..."""

    link_id: str
    path: str
    version_id: str
    created_by: str
    created_at: str | None
    expires_at: str | None
    max_uses: int | None
    uses: int
    last_used_at: str | None
    revoked_at: str | None
    state: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Link:
        return cls(str(data["link_id"]), str(data.get("path") or ""),
                   str(data.get("version_id") or ""), str(data.get("created_by") or ""),
                   _str_or_none(data.get("created_at")), _str_or_none(data.get("expires_at")),
                   _int_or_none(data.get("max_uses")), int(data.get("uses") or 0),
                   _str_or_none(data.get("last_used_at")), _str_or_none(data.get("revoked_at")),
                   str(data.get("state") or ""))


@dataclass(frozen=True, slots=True)
class NewLink(_Json):
    """A link just made. ``url`` is the server's ``/d/<token>``; ``download_url`` is it
    on the master that made it, ready to hand out (it needs no login)."""

    link_id: str
    path: str
    version_id: str
    url: str
    download_url: str
    expires_at: str | None
    max_uses: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any], master_url: str) -> NewLink:
        url = str(data["url"])
        return cls(str(data["link_id"]), str(data.get("path") or ""),
                   str(data.get("version_id") or ""), url, master_url.rstrip("/") + url,
                   _str_or_none(data.get("expires_at")), _int_or_none(data.get("max_uses")))

    def __repr__(self) -> str:  # the URL is the credential
        return f"NewLink(link_id={self.link_id!r}, path={self.path!r}, url='***')"


@dataclass(frozen=True, slots=True)
class QuotaUsage(_Json):
    """Usage against quotas of a user (over the buckets it owns), of a group (over the
    buckets charged to it) or of one bucket; a quota of None is no limit."""

    scope: str  # "user" | "bucket" | "group"
    name: str
    used_bytes: int
    files: int
    quota_bytes: int | None
    quota_files: int | None

    @classmethod
    def from_json(cls, scope: str, name: str, data: dict[str, Any]) -> QuotaUsage:
        return cls(scope, name, int(data.get("used_bytes") or 0), int(data.get("files") or 0),
                   _int_or_none(data.get("quota_bytes")), _int_or_none(data.get("quota_files")))


@dataclass(frozen=True, slots=True)
class Event(_Json):
    """One change of the namespace (DESIGN §13). Ids only grow: resume after the last
    id seen. ``from_bucket``/``from_path`` for moves and copies; ``version_id``,
    ``size``, ``etag`` for file events; None where the event has none."""

    id: int
    type: str
    bucket: str
    path: str
    actor: str
    at: str
    from_bucket: str | None = None
    from_path: str | None = None
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(int(data["id"]), str(data["type"]), str(data.get("bucket") or ""),
                   str(data.get("path") or ""), str(data.get("actor") or ""),
                   str(data.get("at") or ""), _str_or_none(data.get("from_bucket")),
                   _str_or_none(data.get("from_path")), _str_or_none(data.get("version_id")),
                   _int_or_none(data.get("size")), _str_or_none(data.get("etag")))


@dataclass(frozen=True, slots=True)
class EventPage(_Json):
    """Events after a cursor, and the id to resume after (``last_id``), which moves on
    even when nothing matched."""

    events: tuple[Event, ...]
    last_id: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventPage:
        return cls(tuple(Event.from_json(e) for e in data.get("events") or ()),
                   int(data.get("last_id") or 0))

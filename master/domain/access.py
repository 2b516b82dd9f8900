"""Typed records of access control (DESIGN §12): groups, shares and API keys.

Kept beside ``records.py`` rather than inside it so that the access work and the other
record families change apart; like ``records.py`` it sits below every master layer
(repositories build these, services decide on them, handlers render them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ApiKeyRecord", "GroupRecord", "KeyOwner", "ShareRecord"]


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    name: str
    created_by: int | None
    created_by_name: str  # '' once the creator's account is gone
    created_at: datetime
    members: tuple[str, ...] = ()  # usernames, sorted; filled by listings only
    # Usage of the buckets charged to the group, and its quotas (None: no limit).
    used_bytes: int = 0
    files: int = 0
    quota_bytes: int | None = None
    quota_files: int | None = None


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """A bucket shared with a user (``kind`` 'user') or a group ('group') named ``name``."""

    bucket_id: int
    kind: str
    name: str
    permission: str  # 'ro' | 'rw' | 'rwd'
    granted_by_name: str
    created_at: datetime
    updated_at: datetime

    @property
    def grantee(self) -> str:
        """The grantee as the share routes spell it: ``user:alice`` / ``group:devs``."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """An API key as stored: never its token or secret in clear."""

    key_id: str
    user_id: int
    name: str
    scope: str  # 'ro' | 'rw' | 'admin'
    bucket_ids: tuple[int, ...] | None  # None: every bucket its user can reach
    bucket_names: tuple[str, ...] | None  # the same buckets by name (deleted ones dropped)
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    secret_sealed: bytes = b""
    kek_id: str = ""

    def state(self, now: datetime) -> str:
        """'revoked', 'expired' or 'active' at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """The user an API key belongs to, as its lookup joins it (for the Principal)."""

    user_id: int
    username: str
    is_admin: bool
    home_bucket_id: int
    home_bucket: str

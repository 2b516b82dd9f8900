"""Download links as the master's layers hand them to each other (DESIGN §12).

Kept apart from ``records.py`` so that links add a module rather than lines to a file
every feature touches. A link never carries its token: only its hash is stored, and
the token exists once, in the answer to the request that made the link.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = ["LinkRecord", "LinkTarget", "NewLink"]


@dataclass(frozen=True, slots=True)
class NewLink:
    """What creating a link stores: the pinned version and where it was at the time."""

    token_hash: bytes
    created_by: int
    created_via: str
    bucket_id: int
    bucket: str
    path: str
    file_id: uuid.UUID
    version_id: uuid.UUID
    expires_in_s: int
    max_uses: int | None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """A stored link. ``expired`` and ``used_up`` are judged by PostgreSQL's clock when
    the row was read, so every master agrees on them."""

    id: uuid.UUID
    seq: int
    created_by: int
    creator: str  # the creator's username
    created_via: str  # 'key:<key_id>' when made with an API key, else ''
    bucket_id: int
    bucket: str
    path: str
    file_id: uuid.UUID
    version_id: uuid.UUID
    max_uses: int | None
    uses: int
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    expired: bool

    @property
    def used_up(self) -> bool:
        return self.max_uses is not None and self.uses >= self.max_uses

    @property
    def state(self) -> str:
        """revoked | expired | used | active (in that order of precedence)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expired:
            return "expired"
        if self.used_up:
            return "used"
        return "active"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """A link found by its token, with what serving it needs to decide: whether its
    creator is still who may read it, and whether its version still stands."""

    link: LinkRecord
    creator_is_admin: bool
    # The bucket the pinned file is in now (it may have moved since), None: file gone.
    current_bucket: str | None
    # The pinned version exists and the file does not read as deleted.
    version_live: bool

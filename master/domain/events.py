"""Change-feed records (DESIGN §13): events, the filter a reader applies, webhooks.

Repositories build these, services decide on them, handlers render them; like
``records.py`` they sit below every layer that names them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "DeliveryTarget",
    "Event",
    "EventFilter",
    "EventPage",
    "FeedBounds",
    "WebhookRecord",
]

# Every event type, in DESIGN §13's order; the public names a reader filters on.
EVENT_TYPES = (
    "file.created", "file.updated", "file.deleted", "file.moved", "file.copied",
    "file.restored", "dir.created", "dir.deleted", "bucket.created", "bucket.deleted",
)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    type: str
    bucket_id: int
    bucket: str
    owner_id: int
    path: str
    actor: str
    at: datetime
    from_bucket: str | None = None  # set only when a move or copy crossed buckets
    from_path: str | None = None
    version_id: uuid.UUID | None = None
    size: int | None = None
    etag: str | None = None

    def public(self) -> dict[str, Any]:
        """The event as readers and webhooks get it: optional fields only when set."""
        shown: dict[str, Any] = {"id": self.id, "type": self.type, "bucket": self.bucket,
                                 "path": self.path}
        if self.from_bucket is not None:
            shown["from_bucket"] = self.from_bucket
        if self.from_path is not None:
            shown["from_path"] = self.from_path
        if self.version_id is not None:
            shown["version_id"] = str(self.version_id)
        if self.size is not None:
            shown["size"] = self.size
        if self.etag is not None:
            shown["etag"] = self.etag
        shown["actor"] = self.actor
        shown["at"] = self.at.isoformat()
        return shown


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a reader gets.

    ``buckets``: the bucket ids it may see (None: every bucket, an admin's view);
    ``owned_by``: also events of buckets this user owned when they happened (a deleted
    bucket's last events stay visible to its owner); ``bucket_id``: only this bucket's
    events; ``prefix`` matches ``path``, or ``from_path`` of a move or copy inside one
    bucket; ``types`` None means all.
    """

    buckets: frozenset[int] | None
    owned_by: int | None = None
    bucket_id: int | None = None
    prefix: str = ""
    types: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class FeedBounds:
    """The newest id handed out, and the highest id retention pruned (0: none)."""

    last_id: int
    pruned_through: int


@dataclass(frozen=True, slots=True)
class EventPage:
    """Matching events after the reader's cursor, and where its next read starts:
    ``last_id`` covers the events examined, matching or not."""

    events: list[Event]
    last_id: int


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: uuid.UUID
    owner_id: int
    bucket_id: int
    bucket: str
    prefix: str
    types: frozenset[str] | None
    url: str
    sealed_secret: bytes
    cursor: int
    state: str  # 'active' | 'cursor_expired'
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryTarget:
    """What delivering one webhook needs, resolved by the service layer each pass: the
    owner's current view of the feed, and the secret in clear (never logged)."""

    url: str
    secret: bytes
    filter: EventFilter

"""Webhooks (DESIGN §13): register, show, list, delete; what delivering one needs.

A webhook follows one bucket (optionally a path prefix and some event types) for the
user who registered it, who must be able to read the bucket. Its URL must be http(s),
carry no credentials and name a host ``WEBHOOK_ALLOWED_HOSTS`` allows (400
``target_not_allowed`` otherwise). Its secret (16-256 characters) signs every delivery;
it is sealed at rest (``webhook_secrets``), never logged and never shown again.
Delivery itself is ``background/webhook_delivery.py``; it asks :meth:`delivery_target`
before each pass, so a user who can no longer read the bucket stops getting its events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from common.errors import Forbidden, InvalidInput, NotFound, TargetNotAllowed, TooManyRequests
from master.domain.events import DeliveryTarget, EventFilter, WebhookRecord
from master.domain.webhook_targets import AllowedHosts, target_host
from master.metadata.buckets import BucketsRepository
from master.metadata.event_feed import EventFeedRepository
from master.metadata.users import UsersRepository
from master.metadata.webhooks import WebhooksRepository
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.webhook_secrets import WebhookSecrets

__all__ = ["NewWebhook", "WebhookService", "WebhookView"]

MAX_WEBHOOKS_PER_USER = 100
MAX_URL_CHARS = 2048
PENDING_COUNT_CAP = 10_000


@dataclass(frozen=True, slots=True)
class NewWebhook:
    url: str
    bucket: str
    secret: str
    prefix: str = ""
    types: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class WebhookView:
    """A webhook and how many matching events wait for it (counted up to a cap)."""

    record: WebhookRecord
    pending: int


class WebhookService:
    def __init__(
        self, webhooks: WebhooksRepository, feed: EventFeedRepository, access: BucketAccess,
        buckets: BucketsRepository, users: UsersRepository, box: WebhookSecrets,
        allowed: AllowedHosts, audit: AuditService,
    ) -> None:
        self._audit = audit
        self._webhooks = webhooks
        self._feed = feed
        self._access = access
        self._buckets = buckets
        self._users = users
        self._box = box
        self._allowed = allowed

    async def register(self, caller: Principal, new: NewWebhook) -> WebhookRecord:
        target = target_host(new.url) if len(new.url) <= MAX_URL_CHARS else None
        if target is None:
            raise InvalidInput("url must be an http or https URL with a host and no"
                               f" credentials, at most {MAX_URL_CHARS} characters")
        if not self._allowed.allows(new.url):
            raise TargetNotAllowed(
                f"webhook target host {target[0]!r} (port {target[1]}) is not in"
                " WEBHOOK_ALLOWED_HOSTS")
        if not 16 <= len(new.secret) <= 256:
            raise InvalidInput("secret must be 16-256 characters")
        bucket = await self._access.require(caller, new.bucket, Permission.READ)
        if await self._webhooks.count_owned(caller.user_id) >= MAX_WEBHOOKS_PER_USER:
            raise TooManyRequests(f"at most {MAX_WEBHOOKS_PER_USER} webhooks per user;"
                                  " delete one first")
        webhook_id = uuid.uuid4()
        await self._feed.number_pending()  # what committed before this call is not sent
        created = await self._webhooks.create(
            webhook_id, caller.user_id, (bucket.id, bucket.name), new.prefix, new.types,
            new.url, self._box.seal(webhook_id, new.secret))
        await self._audit.record(caller, "webhook.create", str(webhook_id), bucket=bucket.name,
                                 prefix=new.prefix, target_host=target[0])
        return created

    async def get(self, caller: Principal, webhook_id: uuid.UUID) -> WebhookView:
        record = await self._mine(caller, webhook_id)
        return WebhookView(record, await self._pending(record))

    async def list(self, caller: Principal) -> list[WebhookView]:
        """The caller's webhooks (an admin's: everyone's)."""
        found = await self._webhooks.listed(None if caller.is_admin else caller.user_id)
        return [WebhookView(r, await self._pending(r)) for r in found]

    async def delete(self, caller: Principal, webhook_id: uuid.UUID) -> None:
        record = await self._mine(caller, webhook_id)
        if not await self._webhooks.delete(webhook_id):
            raise NotFound(f"no webhook {webhook_id}")
        await self._audit.record(caller, "webhook.delete", str(webhook_id),
                                 bucket=record.bucket)

    async def delivery_target(self, record: WebhookRecord) -> DeliveryTarget:
        """The owner's current view of the webhook's events and the secret in clear.
        Forbidden while the owner cannot read the (still existing) bucket; Unavailable
        when the secret does not unseal."""
        owner = await self._users.by_id(record.owner_id)
        if owner is None:
            raise NotFound("the webhook's owner is gone")
        principal = Principal(owner.id, owner.username, owner.is_admin)
        readable = await self._access.readable_bucket_ids(principal)
        if readable is not None and record.bucket_id not in readable and (
            await self._buckets.by_id(record.bucket_id) is not None
        ):
            raise Forbidden(f"the webhook's owner can no longer read bucket {record.bucket!r}")
        return DeliveryTarget(record.url, self._box.open(record.id, record.sealed_secret),
                              self._filter(record, readable))

    async def _mine(self, caller: Principal, webhook_id: uuid.UUID) -> WebhookRecord:
        record = await self._webhooks.get(webhook_id)
        if record is None or not (caller.is_admin or record.owner_id == caller.user_id):
            raise NotFound(f"no webhook {webhook_id}")
        return record

    async def _pending(self, record: WebhookRecord) -> int:
        return await self._feed.count_matching(
            record.cursor, self._filter(record, None), PENDING_COUNT_CAP)

    @staticmethod
    def _filter(record: WebhookRecord, readable: frozenset[int] | None) -> EventFilter:
        return EventFilter(buckets=readable, owned_by=record.owner_id,
                           bucket_id=record.bucket_id, prefix=record.prefix,
                           types=record.types)

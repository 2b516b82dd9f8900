"""Webhook secrets: sealed at rest (the signature they make: domain/webhook_signing.py).

A webhook's secret must be readable in clear to sign each delivery
(HMAC-SHA256 of the body), so it cannot be stored hashed like a password. It is sealed
by ``SecretBox`` (AES-256-GCM, the same sealing as API key secrets) under a key derived
from ``CLUSTER_SECRET``, which every master holds and PostgreSQL does not: a database
dump alone does not reveal it. The webhook's id is the associated data, so a sealed
secret copied to another row does not open. Changing ``CLUSTER_SECRET`` makes existing
secrets unreadable: their deliveries fail with a clear error until the webhooks are
registered again. A secret is never logged and never returned after registration.
"""

from __future__ import annotations

import uuid

from common.errors import Unavailable
from master.services.secret_box import SecretBox

__all__ = ["WebhookSecrets"]

_INFO = b"echofs webhook secrets v1"


class WebhookSecrets:
    def __init__(self, key_material: str) -> None:
        self._box = SecretBox(key_material, info=_INFO)

    def seal(self, webhook_id: uuid.UUID, secret: str) -> bytes:
        return self._box.seal(secret, str(webhook_id))

    def open(self, webhook_id: uuid.UUID, sealed: bytes) -> bytes:
        """The secret in clear; Unavailable if it does not open (another key)."""
        try:
            return self._box.open(sealed, str(webhook_id), self._box.kek_id).encode()
        except Unavailable:
            raise Unavailable(
                "the webhook's secret cannot be unsealed (was CLUSTER_SECRET changed?);"
                " register the webhook again") from None

"""Webhook secrets: sealed at rest (the signature they make: domain/webhook_signing.py).

A webhook's secret must be readable in clear to sign each delivery
(HMAC-SHA256 of the body), so it cannot be stored hashed like a password. It is sealed
with AES-256-GCM under a key derived (HKDF-SHA256) from ``CLUSTER_SECRET``, which every
master holds and PostgreSQL does not: a database dump alone does not reveal it. The
webhook's id is the associated data, so a sealed secret copied to another row does not
open. Changing ``CLUSTER_SECRET`` makes existing secrets unreadable: their deliveries
fail with a clear error until the webhooks are registered again. A secret is never
logged and never returned after registration.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common.errors import Unavailable

__all__ = ["SecretBox"]

_NONCE_BYTES = 12
_INFO = b"echofs webhook secrets v1"


class SecretBox:
    def __init__(self, key_material: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            key_material.encode())
        self._aead = AESGCM(key)

    def seal(self, webhook_id: uuid.UUID, secret: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), webhook_id.bytes)

    def open(self, webhook_id: uuid.UUID, sealed: bytes) -> bytes:
        """The secret in clear; Unavailable if it does not open (another key)."""
        try:
            return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:],
                                      webhook_id.bytes)
        except (InvalidTag, ValueError):
            raise Unavailable(
                "the webhook's secret cannot be unsealed (was CLUSTER_SECRET changed?);"
                " register the webhook again") from None

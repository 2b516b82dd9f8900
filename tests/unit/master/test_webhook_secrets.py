"""Webhook secrets are sealed at rest and open only with the same key and webhook id."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import pytest

from common.errors import Unavailable
from master.domain.webhook_signing import signature
from master.services.webhook_secrets import WebhookSecrets


def test_a_sealed_secret_opens_with_its_key_and_webhook_id_only() -> None:
    box = WebhookSecrets("cluster secret one")
    webhook_id = uuid.uuid4()
    sealed = box.seal(webhook_id, "s3cret-value-0123456789")
    assert b"s3cret" not in sealed
    assert box.open(webhook_id, sealed) == b"s3cret-value-0123456789"
    assert box.seal(webhook_id, "s3cret-value-0123456789") != sealed  # a fresh nonce
    with pytest.raises(Unavailable):
        box.open(uuid.uuid4(), sealed)  # copied to another row
    with pytest.raises(Unavailable):
        WebhookSecrets("another cluster secret").open(webhook_id, sealed)
    with pytest.raises(Unavailable):
        box.open(webhook_id, sealed[:5])


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"id":1,"type":"file.created"}'
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature(b"key", body) == f"sha256={expected}"
    assert signature(b"key", body + b" ") != signature(b"key", body)

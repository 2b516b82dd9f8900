"""API keys on in-memory repositories: the token is stored hashed and the secret sealed;
a key never has more rights than its user; revoked and expired keys authenticate
nothing; and the sealed secret opens only under its server key and its own row."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from common.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, Unavailable
from master.domain.access import KeyOwner
from master.services.access import BucketAccess
from master.services.api_keys import ApiKeyService
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.secret_box import SecretBox
from tests.unit.master.access_fakes import FakeApiKeys, FakeBuckets, FakeShares, bucket_record
from tests.unit.master.fakes import FakeAudit

KEK = "k" * 8 + "a-server-key-of-at-least-32-characters"
ALICE = Principal(1, "alice", False, 10, "alice")
ROOT = Principal(3, "root", True, 30, "root")
OWNERS = {1: KeyOwner(1, "alice", False, 10, "alice"), 3: KeyOwner(3, "root", True, 30, "root")}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys() -> FakeApiKeys:
    return FakeApiKeys(OWNERS)


@pytest.fixture
def audit_rows() -> FakeAudit:
    return FakeAudit()


@pytest.fixture
def service(keys: FakeApiKeys, clock: Clock, audit_rows: FakeAudit) -> ApiKeyService:
    buckets = FakeBuckets(bucket_record(10, "alice", 1), bucket_record(11, "alice-data", 1),
                          bucket_record(30, "root", 3))
    access = BucketAccess(buckets, FakeShares(buckets))  # type: ignore[arg-type]
    return ApiKeyService(keys, access, SecretBox(KEK), AuditService(audit_rows), clock)  # type: ignore[arg-type]


async def test_the_token_is_stored_hashed_and_the_secret_only_sealed(
    service: ApiKeyService, keys: FakeApiKeys, audit_rows: FakeAudit
) -> None:
    made = await service.create(ALICE, "ci", "rw")
    [entry] = audit_rows.rows
    assert (entry.action, entry.target, entry.actor) == ("key.create", made.record.key_id,
                                                         "alice")
    assert made.secret not in str(entry.details) and made.token not in str(entry.details)
    assert made.token.startswith("efk_") and len(made.secret) == 40
    row = keys.rows[made.record.key_id]
    assert row.token_sha256 == hashlib.sha256(made.token.encode()).digest()
    assert made.secret.encode() not in row.secret_sealed
    assert made.token.encode() not in row.secret_sealed
    found = await service.secret_for(made.record.key_id)
    assert found.secret == made.secret and found.principal.user_id == ALICE.user_id


async def test_a_key_principal_carries_its_scope_and_never_more_than_its_user(
    service: ApiKeyService,
) -> None:
    limited = await service.create(ALICE, "one bucket", "ro", buckets=["alice-data"])
    principal = await service.authenticate(limited.token)
    assert (principal.user_id, principal.key_id, principal.key_scope) == (
        1, limited.record.key_id, "ro")
    assert principal.key_buckets == frozenset({11}) and not principal.is_admin
    with pytest.raises(Forbidden):
        await service.create(ALICE, "escalate", "admin")
    admin_key = await service.create(ROOT, "ops", "admin")
    assert (await service.authenticate(admin_key.token)).is_admin
    rw_of_admin = await service.create(ROOT, "not admin", "rw")
    assert not (await service.authenticate(rw_of_admin.token)).is_admin
    with pytest.raises(NotFound):
        await service.create(ALICE, "not hers", "ro", buckets=["root"])


async def test_keys_are_made_and_revoked_with_a_login_token_only(
    service: ApiKeyService,
) -> None:
    made = await service.create(ALICE, "ci", "rw")
    as_key = await service.authenticate(made.token)
    with pytest.raises(Forbidden):
        await service.create(as_key, "child", "rw", expires_in_s=10**8)
    with pytest.raises(Forbidden):
        await service.revoke(as_key, made.record.key_id)


async def test_revoked_and_expired_keys_authenticate_nothing(
    service: ApiKeyService, clock: Clock
) -> None:
    revoked = await service.create(ALICE, "old", "rw")
    await service.revoke(ALICE, revoked.record.key_id)
    short = await service.create(ALICE, "short", "ro", expires_in_s=60)
    assert (await service.authenticate(short.token)).key_scope == "ro"
    clock.now += timedelta(seconds=61)
    for token in (revoked.token, short.token, "efk_" + "x" * 43, "efk_short"):
        with pytest.raises(Unauthenticated):
            await service.authenticate(token)
    for key_id in (revoked.record.key_id, short.record.key_id):
        with pytest.raises(Unauthenticated):
            await service.secret_for(key_id)


async def test_someone_elses_key_cannot_be_revoked_but_an_admin_may(
    service: ApiKeyService,
) -> None:
    made = await service.create(ALICE, "ci", "rw")
    bob = Principal(2, "bob", False, 20, "bob")
    with pytest.raises(NotFound):
        await service.revoke(bob, made.record.key_id)
    assert (await service.revoke(ROOT, made.record.key_id)).revoked_at is not None


@pytest.mark.parametrize("body", [
    {"name": "", "scope": "rw"}, {"name": "x", "scope": "rwd"},
    {"name": "x", "scope": "ro", "expires_in_s": 0}, {"name": "x", "scope": "ro",
                                                      "expires_in_s": True},
    {"name": "x", "scope": "ro", "buckets": []}, {"name": "x\n", "scope": "ro"},
])
async def test_bad_key_requests_are_invalid_input(service: ApiKeyService,
                                                  body: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        await service.create(ALICE, body["name"], body["scope"], body.get("buckets"),
                             body.get("expires_in_s"))


async def test_without_a_server_key_no_key_can_be_made(keys: FakeApiKeys) -> None:
    access = BucketAccess(FakeBuckets(), FakeShares())  # type: ignore[arg-type]
    service = ApiKeyService(keys, access, None, AuditService(FakeAudit()))  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        await service.create(ALICE, "ci", "rw")


def test_a_sealed_secret_opens_only_under_its_server_key_and_row() -> None:
    box = SecretBox(KEK)
    sealed = box.seal("s3-secret-value", "EKAAAAAAAAAAAAAAAAAA")
    assert box.open(sealed, "EKAAAAAAAAAAAAAAAAAA", box.kek_id) == "s3-secret-value"
    with pytest.raises(Unavailable):
        box.open(sealed, "EKBBBBBBBBBBBBBBBBBB", box.kek_id)
    other = SecretBox(KEK + "-rotated")
    assert other.kek_id != box.kek_id
    with pytest.raises(Unavailable):
        other.open(sealed, "EKAAAAAAAAAAAAAAAAAA", box.kek_id)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(Unavailable):
        box.open(tampered, "EKAAAAAAAAAAAAAAAAAA", box.kek_id)
    assert box.seal("same", "row") != box.seal("same", "row")  # fresh nonce each time

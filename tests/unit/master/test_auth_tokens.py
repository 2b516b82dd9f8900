"""AuthService remembers tokens that verified (so a client's every request does not pay
for HMAC and JSON again), and still refuses a remembered token once it expires, and any
token that differs from it, however slightly.
"""

from __future__ import annotations

import time

import pytest

from common.errors import Unauthenticated
from master.metadata.users import UserRecord
from master.services import auth as auth_module
from master.services.auth import AuthService, Principal

USER = UserRecord(7, "alice", "unused", False, 70, "alice")


class FakeUsers:
    def __init__(self) -> None:
        self.lookups = 0

    async def by_id(self, user_id: int) -> UserRecord | None:
        self.lookups += 1
        return USER if user_id == USER.id else None


def _service(ttl_s: int = 60) -> AuthService:
    # Login (limiter) and the audit log are not used by authenticate.
    return AuthService(FakeUsers(), "unit-test-secret-" + "x" * 32, ttl_s, set(),
                       limiter=None, audit=None)  # type: ignore[arg-type]


async def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch):
    service = _service(ttl_s=60)
    token = service.issue_token(USER)
    assert (await service.authenticate(f"Bearer {token}")).user_id == USER.id
    assert (await service.authenticate(f"Bearer {token}")).user_id == USER.id
    later = time.time() + 61
    monkeypatch.setattr(auth_module.time, "time", lambda: later)
    with pytest.raises(Unauthenticated, match="expired"):
        await service.authenticate(f"Bearer {token}")


async def test_a_token_differing_from_a_remembered_one_is_verified_and_refused():
    service = _service()
    token = service.issue_token(USER)
    await service.authenticate(f"Bearer {token}")
    header, payload, signature = token.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (f"{header}.{payload}.{forged_signature}", f"{header}.{payload}.",
                   token[:-1]):
        with pytest.raises(Unauthenticated, match="invalid token"):
            await service.authenticate(f"Bearer {forged}")
    assert (await service.authenticate(f"Bearer {token}")).username == "alice"


async def test_a_token_of_another_secret_is_refused():
    token = _service().issue_token(USER)
    other = AuthService(FakeUsers(), "another-secret-" + "y" * 32, 60, set(),
                        limiter=None, audit=None)  # type: ignore[arg-type]
    with pytest.raises(Unauthenticated, match="invalid token"):
        await other.authenticate(f"Bearer {token}")


class RevocableKeys:
    """Stands in for ApiKeyService: one key, which can be revoked."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.revoked = False
        self.checks = 0

    async def authenticate(self, token: str) -> Principal:
        self.checks += 1
        if token != self.token or self.revoked:
            raise Unauthenticated("unknown API key")
        return Principal(USER.id, USER.username, False, USER.home_bucket_id, USER.home_bucket,
                         key_id="k1", key_scope="rw")


async def test_an_api_key_is_checked_on_every_request_and_refused_once_revoked():
    """Keys never enter the verified-token memo: a revocation (a row in PostgreSQL,
    on any master) is in force at the next request, however warm the memo is."""
    token = "efk_" + "a" * 40
    keys = RevocableKeys(token)
    service = AuthService(FakeUsers(), "unit-test-secret-" + "x" * 32, 60, set(),
                          limiter=None, audit=None, api_keys=keys)  # type: ignore[arg-type]
    jwt_token = service.issue_token(USER)
    for _ in range(3):
        assert (await service.authenticate(f"Bearer {token}")).key_id == "k1"
        assert (await service.authenticate(f"Bearer {jwt_token}")).user_id == USER.id
    assert keys.checks == 3
    keys.revoked = True
    with pytest.raises(Unauthenticated, match="unknown API key"):
        await service.authenticate(f"Bearer {token}")
    assert keys.checks == 4

"""API keys (DESIGN §12): scoped, expiring, revocable credentials for machines.

A key is three things, shown together once, at creation:

- ``key_id`` (``EK`` + 18 base32 characters): public; names the key in listings, the
  audit log and revocation, and is the S3 access key id;
- ``secret`` (40 characters): the S3 secret key. SigV4 needs it in clear, so it is
  stored sealed under the server's KEY_ENCRYPTION_KEY (``SecretBox``) and opened only
  by ``secret_for`` (the S3 gateway's lookup);
- ``token`` (``efk_`` + 43 characters, 256 random bits): the bearer credential of the
  REST API (``Authorization: Bearer efk_...``; a JWT never starts with ``efk_``).
  Stored only as its SHA-256: verifying it needs no decryption.

A key never has more rights than its user, decided per request from what PostgreSQL
holds then (nothing is cached, so a revocation is in force at once on every master):
``admin`` scope is the admin role only while the user is an admin (and only an admin may
create one); ``rw`` acts with the user's rights, admin role excepted; ``ro`` may read and
list and change nothing (``BucketAccess`` caps its bucket permissions at ``ro``); a
bucket list limits the key further to those buckets. Keys are created and revoked with
a login token only: a leaked key cannot mint itself a longer-lived successor, nor
revoke its owner's other keys.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, Unavailable
from master.domain.access import ApiKeyRecord, KeyOwner
from master.metadata.api_keys import ApiKeysRepository, NewKeyRow
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import API_KEY_PREFIX, Principal
from master.services.secret_box import SecretBox

__all__ = [
    "KEY_SCOPES",
    "MAX_EXPIRES_IN_S",
    "TOKEN_PREFIX",
    "ApiKeyService",
    "KeySecret",
    "NewApiKey",
]

log = logging.getLogger(__name__)

TOKEN_PREFIX = API_KEY_PREFIX
KEY_SCOPES = ("ro", "rw", "admin")
MAX_EXPIRES_IN_S = 10 * 365 * 86400
MAX_KEY_BUCKETS = 100
_KEY_ID_RE = re.compile(r"^EK[A-Z2-7]{18}$")
_TOKEN_RE = re.compile(r"^efk_[A-Za-z0-9_-]{43}$")
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just made: the only time its secret and token exist outside the caller."""

    record: ApiKeyRecord
    secret: str
    token: str


@dataclass(frozen=True, slots=True)
class KeySecret:
    """What the S3 gateway needs to verify a SigV4 signature made with ``key_id``."""

    principal: Principal
    secret: str


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _new_key_id() -> str:
    return "EK" + base64.b32encode(secrets.token_bytes(15)).decode()[:18]


def _principal(key: ApiKeyRecord, owner: KeyOwner) -> Principal:
    return Principal(
        owner.user_id, owner.username, owner.is_admin and key.scope == "admin",
        owner.home_bucket_id, owner.home_bucket, key_id=key.key_id, key_scope=key.scope,
        key_buckets=frozenset(key.bucket_ids) if key.bucket_ids is not None else None,
    )


class ApiKeyService:
    def __init__(
        self, keys: ApiKeysRepository, access: BucketAccess, box: SecretBox | None,
        audit: AuditService, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._keys = keys
        self._access = access
        self._box = box
        self._audit = audit
        self._clock = clock

    async def create(
        self, caller: Principal, name: Any, scope: Any, buckets: Any = None,
        expires_in_s: Any = None,
    ) -> NewApiKey:
        """Make a key for the caller. Forbidden with an API key, for ``admin`` scope
        without the admin role; NotFound for a bucket the caller cannot read;
        Unavailable when the master has no KEY_ENCRYPTION_KEY."""
        _require_login(caller)
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise InvalidInput("name must be 1-64 characters, no control characters")
        if scope not in KEY_SCOPES:
            raise InvalidInput("permission must be one of ro, rw, admin")
        expires_at = self._expiry(expires_in_s)
        bucket_ids = await self._bucket_ids(caller, buckets)
        if scope == "admin" and not caller.is_admin:
            await self._audit.record(caller, "key.create", name, outcome="denied",
                                     scope=scope)
            raise Forbidden("only an admin may create an admin key")
        if self._box is None:
            raise Unavailable("API keys need KEY_ENCRYPTION_KEY to be set on the master")
        key_id, secret = _new_key_id(), secrets.token_urlsafe(30)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = await self._keys.create(NewKeyRow(
            key_id=key_id, user_id=caller.user_id, name=name, scope=scope,
            bucket_ids=bucket_ids, token_sha256=_token_hash(token),
            secret_sealed=self._box.seal(secret, key_id), kek_id=self._box.kek_id,
            expires_at=expires_at,
        ))
        await self._audit.record(
            caller, "key.create", key_id, name=name, scope=scope,
            buckets=list(record.bucket_names) if record.bucket_names is not None else None,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        return NewApiKey(record, secret, token)

    async def of_caller(self, caller: Principal) -> list[ApiKeyRecord]:
        """The caller's keys, newest first, revoked and expired ones included."""
        return await self._keys.of_user(caller.user_id)

    async def revoke(self, caller: Principal, key_id: str) -> ApiKeyRecord:
        """Revoke one of the caller's keys (an admin: anybody's). NotFound for a key
        that is not the caller's; Forbidden with an API key."""
        _require_login(caller)
        found = await self._keys.by_key_id(key_id) if _KEY_ID_RE.fullmatch(key_id) else None
        if found is None or (found[0].user_id != caller.user_id and not caller.is_admin):
            raise NotFound(f"no API key {key_id[:64]!r}")
        key, owner = found
        revoked = await self._keys.revoke(key.key_id)
        if revoked is None:
            raise NotFound(f"no API key {key_id[:64]!r}")
        details = {"owner": owner.username} if owner.user_id != caller.user_id else {}
        await self._audit.record(caller, "key.revoke", key.key_id, name=key.name, **details)
        return revoked

    async def authenticate(self, token: str) -> Principal:
        """The Principal a bearer API key token stands for, or Unauthenticated (unknown,
        revoked or expired). Read from PostgreSQL on every call."""
        if not _TOKEN_RE.fullmatch(token):
            raise Unauthenticated("malformed API key token")
        found = await self._keys.by_token_hash(_token_hash(token))
        if found is None:
            raise Unauthenticated("unknown API key")
        return self._usable(*found)

    async def secret_for(self, key_id: str) -> KeySecret:
        """The S3 gateway's lookup: the key's Principal and its secret in clear, or
        Unauthenticated (unknown, revoked or expired) / Unavailable (no server key)."""
        found = await self._keys.by_key_id(key_id) if _KEY_ID_RE.fullmatch(key_id) else None
        if found is None:
            raise Unauthenticated("unknown access key")
        principal = self._usable(*found)
        if self._box is None:
            raise Unavailable("API key secrets need KEY_ENCRYPTION_KEY to be set")
        key = found[0]
        return KeySecret(principal, self._box.open(key.secret_sealed, key.key_id, key.kek_id))

    def _usable(self, key: ApiKeyRecord, owner: KeyOwner) -> Principal:
        state = key.state(self._clock())
        if state != "active":
            raise Unauthenticated(f"API key {key.key_id} is {state}")
        return _principal(key, owner)

    def _expiry(self, expires_in_s: Any) -> datetime | None:
        if expires_in_s is None:
            return None
        if (isinstance(expires_in_s, bool) or not isinstance(expires_in_s, int)
                or not 1 <= expires_in_s <= MAX_EXPIRES_IN_S):
            raise InvalidInput(
                f"expires_in_s must be null or an integer from 1 to {MAX_EXPIRES_IN_S}")
        return self._clock() + timedelta(seconds=expires_in_s)

    async def _bucket_ids(self, caller: Principal, buckets: Any) -> list[int] | None:
        """The ids of the named buckets (each one the caller can read), or None."""
        if buckets is None:
            return None
        if (not isinstance(buckets, list) or not 1 <= len(buckets) <= MAX_KEY_BUCKETS
                or not all(isinstance(b, str) and b for b in buckets)):
            raise InvalidInput(
                f"buckets must be null or a list of 1 to {MAX_KEY_BUCKETS} bucket names")
        ids = [(await self._access.require(caller, name, Permission.READ)).id
               for name in sorted(set(buckets))]
        return sorted(ids)


def _require_login(caller: Principal) -> None:
    if caller.key_id:
        raise Forbidden("API keys are created and revoked with a login token, not a key")

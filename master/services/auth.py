"""Users and tokens: salted scrypt password hashes, HS256 JWTs with expiry.

Roles come from PostgreSQL (cached per user for a few seconds), never from the token
alone, so revoking admin takes effect within PRINCIPAL_CACHE_S. API key tokens
(``efk_...``) are not JWTs: ``ApiKeyService`` checks them against PostgreSQL on every
request, uncached, so a revoked key is refused at once on every master; they never reach
the verified-token memo (``_user_id_of``), which holds only what a JWT's signature proves
and cannot change before its ``exp`` (the user id). Every failure is a 401
with one vague message: we do not tell an attacker whether a username exists. Failed
logins are throttled per username and per client address (``login_limiter``): over the
limit, login is refused with RateLimited before the password is even checked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jwt

from common.errors import BadCredentials, InvalidInput, Unauthenticated
from master.metadata.users import UserRecord, UsersRepository
from master.services.login_limiter import LoginLimiter

if TYPE_CHECKING:  # audit.py and api_keys.py name Principal, defined here
    from master.services.api_keys import ApiKeyService
    from master.services.audit import AuditService

__all__ = ["API_KEY_PREFIX", "USERNAME_RE", "AuthService", "Principal"]

# Usernames (and group names, which follow the same rule): 3-64 of letters, digits, _ . -
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
_USERNAME_RE = USERNAME_RE
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
PRINCIPAL_CACHE_S = 5.0
VERIFIED_TOKENS_MAX = 10_000
# Every API key token starts with this; no JWT can (a JWT starts with its base64url
# header, "eyJ").
API_KEY_PREFIX = "efk_"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    is_admin: bool
    # The user's personal bucket (DESIGN §11): where wave-1 routes put and find paths.
    home_bucket_id: int = 0
    home_bucket: str = ""
    # Set when the request authenticated with an API key (DESIGN §12): its public id,
    # its scope ('ro' | 'rw' | 'admin') and the buckets it is limited to (None: every
    # bucket the user can reach). ``is_admin`` is already "the user is an admin and the
    # key's scope is admin" (services/api_keys.py); BucketAccess applies the rest.
    key_id: str = ""
    key_scope: str = ""
    key_buckets: frozenset[int] | None = None

    @property
    def read_only(self) -> bool:
        """An ``ro`` API key: it may read and list, and change nothing anywhere."""
        return self.key_scope == "ro"


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, **_SCRYPT)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _hash_password(password, salt)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(_hash_password(password, salt), digest)


class AuthService:
    def __init__(
        self, users: UsersRepository, jwt_secret: str, ttl_s: int, admin_usernames: set[str],
        limiter: LoginLimiter, audit: AuditService, api_keys: ApiKeyService | None = None,
    ) -> None:
        self._users = users
        self._api_keys = api_keys
        self._audit = audit
        self._limiter = limiter
        self._secret = jwt_secret
        self._ttl_s = ttl_s
        self._admins = admin_usernames
        self._dummy_hash = hash_password(secrets.token_hex(8))
        # user id -> (principal, expiry): one PostgreSQL lookup per user per few seconds
        # instead of one per request. A role change or deletion takes effect within
        # PRINCIPAL_CACHE_S.
        self._principals: dict[int, tuple[Principal, float]] = {}
        # token -> (user id, expiry as a Unix time): tokens that verified (_user_id_of).
        self._verified_tokens: dict[str, tuple[int, float]] = {}

    async def register(self, username: str, password: str) -> UserRecord:
        if not _USERNAME_RE.fullmatch(username):
            raise InvalidInput("username must be 3-64 characters of letters, digits, _ . -")
        if not 8 <= len(password) <= 1024:
            raise InvalidInput("password must be 8-1024 characters")
        password_hash = await asyncio.to_thread(hash_password, password)
        user = await self._users.create(username, password_hash, username in self._admins)
        await self._audit.record(_principal(user), "auth.register", user.username,
                                 is_admin=user.is_admin)
        return user

    async def login(
        self, username: str, password: str, client_address: str
    ) -> tuple[str, int, UserRecord]:
        """(token, ttl, user), or BadCredentials, or RateLimited while this name or this
        address has failed too often (checked before the password)."""
        await self._limiter.check(username, client_address)
        valid_name = bool(_USERNAME_RE.fullmatch(username)) and len(password) <= 1024
        user = await self._users.by_username(username) if valid_name else None
        # Hash even for unknown users so timing does not reveal which names exist.
        stored = user.password_hash if user else self._dummy_hash
        ok = await asyncio.to_thread(verify_password, password, stored)
        if user is None or not ok:
            await self._limiter.failed(username, client_address)
            await self._audit.record(None, "auth.login", username[:64], outcome="failed",
                                     client=client_address, actor_name=username[:64])
            raise BadCredentials("wrong username or password")
        await self._limiter.succeeded(username)
        await self._audit.record(_principal(user), "auth.login", user.username,
                                 client=client_address)
        return self.issue_token(user), self._ttl_s, user

    def issue_token(self, user: UserRecord) -> str:
        now = int(time.time())
        claims = {"sub": str(user.id), "name": user.username, "iat": now, "exp": now + self._ttl_s}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _user_id_of(self, token: str) -> int:
        """The user a valid token names, or Unauthenticated.

        A token that verified once is not verified again until it expires: the client
        sends the same token with every request, and checking its HMAC and decoding
        its JSON each time was ~4 % of the master's CPU per small request. Only the
        exact token string that passed is remembered, with its own expiry; a token
        carries nothing else that could change (roles and the user's existence come
        from PostgreSQL, through ``_principals``).
        """
        verified = self._verified_tokens.get(token)
        if verified is not None:
            if verified[1] > time.time():
                return verified[0]
            del self._verified_tokens[token]
            raise Unauthenticated("invalid token: Signature has expired")  # PyJWT's words
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"],
                options={"require": ["exp", "sub", "iat"]},
            )
            user_id = int(claims["sub"])
            expires_at = float(claims["exp"])
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            self._verified_tokens.pop(token, None)
            raise Unauthenticated(f"invalid token: {exc}") from exc
        if len(self._verified_tokens) >= VERIFIED_TOKENS_MAX:
            self._verified_tokens.clear()
        self._verified_tokens[token] = (user_id, expires_at)
        return user_id

    async def authenticate(self, authorization: str | None) -> Principal:
        """Bearer token -> Principal, or Unauthenticated. Fails closed on anything odd.

        A token starting ``efk_`` is an API key (``ApiKeyService``, checked against
        PostgreSQL on every request); anything else must be one of our JWTs.
        """
        if not authorization:
            raise Unauthenticated("missing Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization must be 'Bearer <token>'")
        if token.strip().startswith(API_KEY_PREFIX):
            if self._api_keys is None:
                raise Unauthenticated("API keys are not accepted here")
            return await self._api_keys.authenticate(token.strip())
        user_id = self._user_id_of(token.strip())
        now = time.monotonic()
        cached = self._principals.get(user_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        user = await self._users.by_id(user_id)
        if user is None:
            self._principals.pop(user_id, None)
            raise Unauthenticated("token names an unknown user")
        principal = _principal(user)
        if len(self._principals) > 100_000:
            self._principals.clear()
        self._principals[user_id] = (principal, now + PRINCIPAL_CACHE_S)
        return principal


def _principal(user: UserRecord) -> Principal:
    return Principal(user.id, user.username, user.is_admin, user.home_bucket_id,
                     user.home_bucket)

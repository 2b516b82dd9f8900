"""In-memory stand-ins for the access repositories (shares, buckets, API keys), with
the same method names and answers as the PostgreSQL-backed ones, for unit tests of
``BucketAccess``, ``ApiKeyService`` and what uses them."""

from __future__ import annotations

from datetime import UTC, datetime

from master.domain.access import ApiKeyRecord, KeyOwner
from master.domain.records import BucketRecord
from master.metadata.api_keys import NewKeyRow
from master.metadata.shares import OWNER_RANK

__all__ = ["FakeApiKeys", "FakeBuckets", "FakeShares", "bucket_record"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_RANKS = {"ro": 1, "rw": 2, "rwd": 3}


def bucket_record(bucket_id: int, name: str, owner_id: int) -> BucketRecord:
    return BucketRecord(
        id=bucket_id, name=name, owner_id=owner_id, home_of=None, versioning=False,
        keep_versions=None, keep_days=None, quota_bytes=None, quota_files=None,
        state="active", created_at=_EPOCH,
    )


class FakeBuckets:
    """BucketsRepository: lookups by name and id."""

    def __init__(self, *buckets: BucketRecord) -> None:
        self.buckets = {b.id: b for b in buckets}

    async def by_name(self, name: str, *, usage: bool = False) -> BucketRecord | None:
        return next((b for b in self.buckets.values() if b.name == name), None)

    async def by_id(self, bucket_id: int) -> BucketRecord | None:
        return self.buckets.get(bucket_id)


class FakeShares:
    """SharesRepository's read side: user and group shares, group members; counts the
    lookups it answers (the owner's fast path must make none)."""

    def __init__(self, buckets: FakeBuckets | None = None) -> None:
        self.buckets = buckets or FakeBuckets()
        self.user_shares: dict[tuple[int, int], str] = {}  # (bucket, user) -> permission
        self.group_shares: dict[tuple[int, str], str] = {}  # (bucket, group) -> permission
        self.members: dict[str, set[int]] = {}  # group -> user ids
        self.lookups = 0

    def share(self, bucket_id: int, permission: str, *, user: int | None = None,
              group: str | None = None) -> None:
        if user is not None:
            self.user_shares[(bucket_id, user)] = permission
        if group is not None:
            self.group_shares[(bucket_id, group)] = permission

    def _ranks(self, user_id: int) -> dict[int, int]:
        ranks: dict[int, int] = {}
        for (bucket_id, user), permission in self.user_shares.items():
            if user == user_id:
                ranks[bucket_id] = max(ranks.get(bucket_id, 0), _RANKS[permission])
        for (bucket_id, group), permission in self.group_shares.items():
            if user_id in self.members.get(group, set()):
                ranks[bucket_id] = max(ranks.get(bucket_id, 0), _RANKS[permission])
        return ranks

    async def grant(self, bucket_id: int, user_id: int) -> int | None:
        self.lookups += 1
        return self._ranks(user_id).get(bucket_id)

    async def reachable(self, user_id: int) -> dict[int, int]:
        self.lookups += 1
        found = self._ranks(user_id)
        for bucket in self.buckets.buckets.values():
            if bucket.owner_id == user_id:
                found[bucket.id] = OWNER_RANK
        return found


class FakeApiKeys:
    """ApiKeysRepository: keys by id and by token hash."""

    def __init__(self, owners: dict[int, KeyOwner]) -> None:
        self.owners = owners
        self.rows: dict[str, NewKeyRow] = {}
        self.revoked: dict[str, datetime] = {}

    def _record(self, row: NewKeyRow) -> ApiKeyRecord:
        return ApiKeyRecord(
            key_id=row.key_id, user_id=row.user_id, name=row.name, scope=row.scope,
            bucket_ids=tuple(row.bucket_ids) if row.bucket_ids is not None else None,
            bucket_names=None, created_at=_EPOCH, expires_at=row.expires_at,
            revoked_at=self.revoked.get(row.key_id), secret_sealed=row.secret_sealed,
            kek_id=row.kek_id,
        )

    async def create(self, new: NewKeyRow) -> ApiKeyRecord:
        self.rows[new.key_id] = new
        return self._record(new)

    async def by_token_hash(self, token_sha256: bytes) -> tuple[ApiKeyRecord, KeyOwner] | None:
        row = next((r for r in self.rows.values() if r.token_sha256 == token_sha256), None)
        return (self._record(row), self.owners[row.user_id]) if row else None

    async def by_key_id(self, key_id: str) -> tuple[ApiKeyRecord, KeyOwner] | None:
        row = self.rows.get(key_id)
        return (self._record(row), self.owners[row.user_id]) if row else None

    async def of_user(self, user_id: int) -> list[ApiKeyRecord]:
        return [self._record(r) for r in self.rows.values() if r.user_id == user_id]

    async def revoke(self, key_id: str) -> ApiKeyRecord | None:
        row = self.rows.get(key_id)
        if row is None:
            return None
        self.revoked.setdefault(key_id, datetime.now(UTC))
        return self._record(row)

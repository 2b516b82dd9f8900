"""BucketAccess: owner > rwd > rw > ro, admins, shares through groups, and API keys that
never hold more than their user (DESIGN §12), on in-memory repositories."""

from __future__ import annotations

import pytest

from common.errors import Forbidden, NotFound
from master.services.access import BucketAccess, Permission, decide
from master.services.auth import Principal
from tests.unit.master.access_fakes import FakeBuckets, FakeShares, bucket_record

ALICE = Principal(1, "alice", False, 10, "alice")
BOB = Principal(2, "bob", False, 20, "bob")
ROOT = Principal(3, "root", True, 30, "root")
SHARED = bucket_record(100, "team", owner_id=ALICE.user_id)
OTHER = bucket_record(101, "alices-other", owner_id=ALICE.user_id)
HOMES = [bucket_record(p.home_bucket_id, p.home_bucket, p.user_id) for p in (ALICE, BOB, ROOT)]


def key(of: Principal, scope: str, buckets: set[int] | None = None,
        admin: bool | None = None) -> Principal:
    """``of``'s API key as ApiKeyService makes its Principal (admin only if both are)."""
    return Principal(of.user_id, of.username, of.is_admin if admin is None else admin,
                     of.home_bucket_id, of.home_bucket, key_id="EK" + "A" * 18,
                     key_scope=scope,
                     key_buckets=frozenset(buckets) if buckets is not None else None)


@pytest.fixture
def shares() -> FakeShares:
    return FakeShares(FakeBuckets(SHARED, OTHER, *HOMES))


@pytest.fixture
def access(shares: FakeShares) -> BucketAccess:
    return BucketAccess(shares.buckets, shares)  # type: ignore[arg-type]


@pytest.mark.parametrize(("caller", "shared", "expected"), [
    (ALICE, None, Permission.OWNER),
    (ROOT, None, Permission.OWNER),
    (BOB, None, None),
    (BOB, Permission.READ, Permission.READ),
    (BOB, Permission.DELETE, Permission.DELETE),
    (key(ALICE, "rw"), None, Permission.OWNER),
    (key(ALICE, "ro"), None, Permission.READ),
    (key(BOB, "ro"), Permission.DELETE, Permission.READ),
    (key(BOB, "ro"), None, None),
    (key(ALICE, "rw", {OTHER.id}), None, None),
    (key(ALICE, "rw", {SHARED.id}), None, Permission.OWNER),
    (key(ROOT, "admin", {OTHER.id}), None, None),
    (key(ROOT, "rw", admin=False), None, None),
])
def test_decide_is_the_pure_rule(
    caller: Principal, shared: Permission | None, expected: Permission | None
) -> None:
    assert decide(caller, SHARED.id, SHARED.owner_id, shared) == expected


async def test_the_strongest_of_a_users_own_and_its_groups_shares_counts(
    access: BucketAccess, shares: FakeShares
) -> None:
    shares.share(SHARED.id, "ro", user=BOB.user_id)
    assert await access.permission(BOB, SHARED.id, SHARED.owner_id) == Permission.READ
    shares.share(SHARED.id, "rwd", group="devs")
    assert await access.permission(BOB, SHARED.id, SHARED.owner_id) == Permission.READ
    shares.members["devs"] = {BOB.user_id}
    assert await access.permission(BOB, SHARED.id, SHARED.owner_id) == Permission.DELETE
    shares.members["devs"] = set()  # removed from the group: at once, nothing cached
    assert await access.permission(BOB, SHARED.id, SHARED.owner_id) == Permission.READ


async def test_owners_and_admins_are_decided_without_reading_shares(
    access: BucketAccess, shares: FakeShares
) -> None:
    assert await access.permission(ALICE, SHARED.id, SHARED.owner_id) == Permission.OWNER
    assert await access.permission(ROOT, SHARED.id, SHARED.owner_id) == Permission.OWNER
    assert await access.permission(key(ALICE, "rw", {OTHER.id}), SHARED.id,
                                   SHARED.owner_id) is None
    assert shares.lookups == 0


async def test_unreadable_is_not_found_and_too_weak_is_forbidden(
    access: BucketAccess, shares: FakeShares
) -> None:
    with pytest.raises(NotFound):
        await access.require(BOB, "team", Permission.READ)
    with pytest.raises(NotFound):
        await access.require(BOB, "no-such-bucket", Permission.READ)
    shares.share(SHARED.id, "rw", user=BOB.user_id)
    assert (await access.require(BOB, "team", Permission.WRITE)).id == SHARED.id
    with pytest.raises(Forbidden):
        await access.require(BOB, "team", Permission.DELETE)
    with pytest.raises(Forbidden):
        await access.require(key(ALICE, "ro"), "team", Permission.WRITE)
    with pytest.raises(NotFound):
        await access.require_id(key(ALICE, "rw", {SHARED.id}), ALICE.home_bucket_id,
                                Permission.READ)


async def test_readable_bucket_ids_follow_ownership_shares_and_key_limits(
    access: BucketAccess, shares: FakeShares
) -> None:
    shares.share(SHARED.id, "ro", group="devs")
    shares.members["devs"] = {BOB.user_id}
    assert await access.readable_bucket_ids(BOB) == {BOB.home_bucket_id, SHARED.id}
    assert await access.readable_bucket_ids(ALICE) == {
        ALICE.home_bucket_id, SHARED.id, OTHER.id}
    assert await access.readable_bucket_ids(key(ALICE, "ro", {OTHER.id})) == {OTHER.id}
    assert await access.readable_bucket_ids(ROOT) is None
    assert await access.readable_bucket_ids(key(ROOT, "admin", {SHARED.id})) == {SHARED.id}
    reach = await access.reachable(key(ALICE, "ro"))
    assert reach is not None and set(reach.values()) == {Permission.READ}

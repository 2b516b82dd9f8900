"""Quotas without PostgreSQL: the early refusal rule, request parsing, the admin rule."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from common.errors import Forbidden, InvalidInput, QuotaExceeded
from master.domain.usage import Headroom, Usage
from master.services.access import BucketAccess
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.quotas import QuotaService, parse_quotas
from tests.unit.master.fakes import FakeAudit

ADMIN = Principal(1, "root", True, 1, "root")
ALICE = Principal(2, "alice", False, 2, "alice")


def _room(used: int, files: int, quota_bytes: int | None, quota_files: int | None = None,
          free_bytes: int = 0, free_files: int = 0) -> Headroom:
    return Headroom(Usage("bucket", 7, used, files, quota_bytes, quota_files, "b"),
                    free_bytes, free_files)


@pytest.mark.parametrize(("room", "declared", "refused"), [
    (_room(900, 1, 1000), 100, False),            # exactly to the quota
    (_room(900, 1, 1000), 101, True),
    (_room(900, 1, None, 10), 10**12, False),     # no byte quota
    (_room(900, 2, 1000, free_bytes=600, free_files=1), 700, False),  # overwrite may fit
    (_room(900, 2, 1000, free_bytes=600, free_files=1), 701, True),
    (_room(5000, 1, 100, free_bytes=4000, free_files=1), 3000, False),  # shrinks: allowed
    (_room(10, 3, None, 3), 0, True),             # a fourth file
    (_room(10, 3, None, 3, free_files=1), 0, False),  # ... unless it replaces one
])
def test_a_declared_size_is_refused_only_when_the_commit_surely_would(
    room: Headroom, declared: int, refused: bool
) -> None:
    assert room.refuses(declared) is refused


def test_quota_bodies_take_null_or_a_bounded_integer_and_nothing_else() -> None:
    assert parse_quotas({"quota_bytes": 5, "quota_files": None}) == {
        "quota_bytes": 5, "quota_files": None}
    for bad in ({}, {"quota_bytes": -1}, {"quota_bytes": True}, {"quota_bytes": "5"},
                {"quota_bytes": 2**62 + 1}, {"quota": 5}):
        with pytest.raises(InvalidInput):
            parse_quotas(bad)


@dataclass
class _FakeUsage:
    rooms: list[Headroom] = field(default_factory=list)
    quotas: dict[str, dict[str, int | None]] = field(default_factory=dict)

    async def headroom(self, bucket_id: int, path: str) -> list[Headroom]:
        return self.rooms

    async def set_user_quota(self, username: str, quotas: dict[str, int | None]) -> Usage:
        self.quotas[username] = quotas
        return Usage("user", 2, 0, 0, quotas.get("quota_bytes"), quotas.get("quota_files"),
                     username)


def _service(usage: _FakeUsage, audit: FakeAudit) -> QuotaService:
    return QuotaService(usage, BucketAccess(None, None), AuditService(audit),  # type: ignore[arg-type]
                        early_check_min_bytes=1000)


async def test_only_admins_set_user_quotas_and_each_attempt_is_audited() -> None:
    usage, audit = _FakeUsage(), FakeAudit()
    service = _service(usage, audit)
    with pytest.raises(Forbidden):
        await service.set_user_quota(ALICE, "alice", {"quota_bytes": 10**12})
    assert usage.quotas == {}
    result = await service.set_user_quota(ADMIN, "alice", {"quota_bytes": 10})
    assert (result.quota_bytes, usage.quotas) == (10, {"alice": {"quota_bytes": 10}})
    assert [(r.actor, r.action, r.target, r.outcome, r.details) for r in audit.rows] == [
        ("alice", "quota.set", "user:alice", "denied", {"quota_bytes": 10**12}),
        ("root", "quota.set", "user:alice", "ok", {"quota_bytes": 10}),
    ]


async def test_a_doomed_declared_size_is_refused_with_the_scope_named() -> None:
    service = _service(_FakeUsage([_room(900, 1, 1000)]), FakeAudit())
    await service.refuse_declared(7, "p", 100)
    with pytest.raises(QuotaExceeded) as caught:
        await service.refuse_declared(7, "p", 101)
    assert caught.value.code == "quota_exceeded"
    assert caught.value.details["scope"] == "bucket" and caught.value.details["name"] == "b"
    # Below one chunk a PUT is not checked early (no query): the commit decides.
    await service.refuse_doomed_upload(ALICE, "b", "p", 999)
    await service.refuse_doomed_upload(ALICE, "b", "p", None)

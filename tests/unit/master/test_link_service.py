"""Download links' rules (LinkService) on in-memory repositories: input checks, tokens,
refusals, use counting, who may revoke and list. The PostgreSQL claim under
concurrency is tested against a real cluster (tests/integration/test_links.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.errors import (
    BadPath,
    Forbidden,
    InvalidInput,
    LinkExpired,
    LinkTargetGone,
    LinkUsed,
    NotFound,
)
from master.domain.links import LinkRecord, LinkTarget, NewLink
from master.domain.records import BucketRecord, ChunkRef, FileRecord
from master.services.access import Permission
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.links import (
    LinkService,
    hash_token,
    new_token,
    parse_link_request,
)
from tests.unit.master.fakes import FakeAudit, chunk, file_record

ALICE = Principal(1, "alice", False, 1, "alice")
BOB = Principal(2, "bob", False, 2, "bob")
CAROL = Principal(3, "carol", False, 3, "carol")
ROOT = Principal(9, "root", True, 9, "root")
MAX_EXPIRY_S = 3600
_NOW = datetime(2026, 12, 6, tzinfo=UTC)


def _bucket(bucket_id: int, name: str, owner_id: int) -> BucketRecord:
    return BucketRecord(id=bucket_id, name=name, owner_id=owner_id, home_of=None,
                        versioning=False, keep_versions=None, keep_days=None,
                        quota_bytes=None, quota_files=None, state="active", created_at=_NOW)


class FakeAccess:
    """BucketAccess.require: owners and admins hold everything; ``readers`` hold READ."""

    def __init__(self) -> None:
        self.buckets: dict[str, BucketRecord] = {}
        self.readers: dict[str, set[int]] = {}

    async def require(self, caller: Principal, name: str, need: Permission) -> BucketRecord:
        bucket = self.buckets.get(name)
        if bucket is None:
            raise NotFound(f"no bucket {name!r}")
        if caller.is_admin or caller.user_id == bucket.owner_id:
            return bucket
        if caller.user_id not in self.readers.get(name, set()):
            raise NotFound(f"no bucket {name!r}")
        if need > Permission.READ:
            raise Forbidden(f"ro on bucket {name!r} does not allow this")
        return bucket


class FakeFiles:
    """FilesRepository.by_path and snapshot_of_version over files by (bucket, path)."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], FileRecord] = {}
        self.chunks: dict[uuid.UUID, list[ChunkRef]] = {}

    def add(self, bucket: BucketRecord, path: str) -> FileRecord:
        record = replace(file_record(bucket.owner_id, path), bucket=bucket.name,
                         bucket_id=bucket.id)
        self.files[(bucket.name, path)] = record
        self.chunks[record.version_id] = [chunk(0, "aa" * 32)]
        return record

    async def by_path(self, bucket: str, path: str) -> FileRecord | None:
        return self.files.get((bucket, path))

    async def snapshot_of_version(
        self, file_id: uuid.UUID, version_id: uuid.UUID
    ) -> tuple[FileRecord, list[ChunkRef]] | None:
        for record in self.files.values():
            if record.id == file_id and record.version_id == version_id:
                return record, list(self.chunks[version_id])
        return None


@dataclass
class _Row:
    record: LinkRecord
    token_hash: bytes
    creator_is_admin: bool


class FakeLinks:
    """LinksRepository in memory; ``files`` decides whether a pinned version stands."""

    def __init__(self, files: FakeFiles, users: dict[int, Principal]) -> None:
        self.rows: dict[uuid.UUID, _Row] = {}
        self._files = files
        self._users = users

    async def create(self, new: NewLink) -> LinkRecord:
        creator = self._users[new.created_by]
        record = LinkRecord(
            id=uuid.uuid4(), seq=len(self.rows) + 1, created_by=new.created_by,
            creator=creator.username, created_via=new.created_via, bucket_id=new.bucket_id,
            bucket=new.bucket, path=new.path, file_id=new.file_id, version_id=new.version_id,
            max_uses=new.max_uses, uses=0, expires_at=_NOW + timedelta(seconds=new.expires_in_s),
            revoked_at=None, last_used_at=None, created_at=_NOW, expired=False)
        self.rows[record.id] = _Row(record, new.token_hash, creator.is_admin)
        return record

    def update(self, link_id: uuid.UUID, **changes: Any) -> None:
        row = self.rows[link_id]
        row.record = replace(row.record, **changes)

    async def by_id(self, link_id: uuid.UUID) -> LinkRecord | None:
        row = self.rows.get(link_id)
        return row.record if row else None

    async def target(self, token_hash: bytes) -> LinkTarget | None:
        for row in self.rows.values():
            if row.token_hash == token_hash:
                link = row.record
                current = next((f for f in self._files.files.values() if f.id == link.file_id),
                               None)
                return LinkTarget(link, row.creator_is_admin,
                                  current.bucket if current else None,
                                  current is not None and current.version_id == link.version_id)
        return None

    async def claim_use(self, link_id: uuid.UUID) -> bool:
        link = self.rows[link_id].record
        if link.state != "active":
            return False
        self.update(link_id, uses=link.uses + 1)
        return True

    async def release_use(self, link_id: uuid.UUID) -> None:
        link = self.rows[link_id].record
        self.update(link_id, uses=max(0, link.uses - 1))

    async def page(self, *, created_by: int | None, bucket_id: int | None,
                   before_seq: int | None, limit: int) -> list[LinkRecord]:
        found = [r.record for r in self.rows.values()
                 if (created_by is None or r.record.created_by == created_by)
                 and (bucket_id is None or r.record.bucket_id == bucket_id)
                 and (before_seq is None or r.record.seq < before_seq)]
        return sorted(found, key=lambda link: -link.seq)[:limit]

    async def revoke(self, link_id: uuid.UUID, revoked_by: int) -> bool:
        if self.rows[link_id].record.revoked_at is not None:
            return False
        self.update(link_id, revoked_at=_NOW)
        return True


@dataclass
class World:
    service: LinkService
    links: FakeLinks
    files: FakeFiles
    access: FakeAccess
    audit: FakeAudit
    shared: BucketRecord  # alice's bucket; bob may read it


@pytest.fixture
def world() -> World:
    access, files, audit = FakeAccess(), FakeFiles(), FakeAudit()
    shared = _bucket(11, "shared", ALICE.user_id)
    access.buckets["shared"] = shared
    access.readers["shared"] = {BOB.user_id}
    access.buckets["bobs"] = _bucket(12, "bobs", BOB.user_id)
    files.add(shared, "docs/report.pdf")
    links = FakeLinks(files, {p.user_id: p for p in (ALICE, BOB, CAROL, ROOT)})
    service = LinkService(links, files, access, AuditService(audit),  # type: ignore[arg-type]
                          MAX_EXPIRY_S)
    return World(service, links, files, access, audit, shared)


def _body(**fields: Any) -> dict[str, Any]:
    return {"path": "shared/docs/report.pdf", "expires_in_s": 60, **fields}


# --- input -------------------------------------------------------------------------

def test_a_link_request_names_a_file_an_expiry_and_optionally_uses() -> None:
    wanted = parse_link_request(_body(max_uses=3), MAX_EXPIRY_S)
    assert (wanted.bucket, wanted.path, wanted.expires_in_s, wanted.max_uses) == (
        "shared", "docs/report.pdf", 60, 3)
    assert parse_link_request(_body(), MAX_EXPIRY_S).max_uses is None
    assert parse_link_request(_body(max_uses=None), MAX_EXPIRY_S).max_uses is None
    assert parse_link_request(_body(expires_in_s=MAX_EXPIRY_S), MAX_EXPIRY_S).expires_in_s \
        == MAX_EXPIRY_S


@pytest.mark.parametrize("body", [
    {"expires_in_s": 60},
    _body(path=""), _body(path=7), _body(path=None),
    _body(expires_in_s=0), _body(expires_in_s=-5), _body(expires_in_s=MAX_EXPIRY_S + 1),
    _body(expires_in_s=True), _body(expires_in_s=1.5), _body(expires_in_s="60"),
    {"path": "shared/docs/report.pdf"},
    _body(max_uses=0), _body(max_uses=-1), _body(max_uses=True), _body(max_uses=2**31),
    _body(max_uses="1"),
])
def test_bad_link_requests_are_invalid_input(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse_link_request(body, MAX_EXPIRY_S)


@pytest.mark.parametrize("path", ["NOT_A_BUCKET/x", "shared", "shared/", "shared/a/../b",
                                  "shared/a//b"])
def test_a_link_path_must_name_a_file_in_a_bucket(path: str) -> None:
    with pytest.raises(BadPath):
        parse_link_request(_body(path=path), MAX_EXPIRY_S)


def test_tokens_carry_256_random_bits_and_are_stored_as_their_sha256() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) == 43 for t in tokens)  # 32 bytes, URL-safe base64, no padding
    token = tokens.pop()
    assert len(hash_token(token)) == 32 and hash_token(token) == hash_token(token)
    assert hash_token(token) != hash_token(tokens.pop())


# --- create --------------------------------------------------------------------------

async def test_creating_a_link_pins_the_current_version_and_audits_without_the_token(
    world: World,
) -> None:
    created = await world.service.create(BOB, _body(max_uses=1), client="10.0.0.7")
    pinned = world.files.files[("shared", "docs/report.pdf")]
    assert (created.link.file_id, created.link.version_id) == (pinned.id, pinned.version_id)
    assert created.url == f"/d/{created.token}"
    assert world.links.rows[created.link.id].token_hash == hash_token(created.token)
    [row] = world.audit.rows
    assert (row.action, row.actor, row.target, row.client) == (
        "link.create", "bob", str(created.link.id), "10.0.0.7")
    assert row.details["path"] == "shared/docs/report.pdf" and row.details["max_uses"] == 1
    assert created.token not in repr(row)


async def test_a_link_to_what_the_caller_cannot_read_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        await world.service.create(CAROL, _body())  # no access to "shared"
    with pytest.raises(NotFound):
        await world.service.create(ALICE, _body(path="shared/missing.txt"))
    with pytest.raises(NotFound):
        await world.service.create(ALICE, _body(path="nobucket/x"))
    assert world.audit.rows == []


# --- open and use --------------------------------------------------------------------

async def test_an_open_link_serves_the_pinned_version(world: World) -> None:
    created = await world.service.create(ALICE, _body())
    opened = await world.service.open(created.token)
    assert opened.snapshot.record.version_id == created.link.version_id
    assert opened.link.uses == 0  # opening takes no use; the download does


@pytest.mark.parametrize("token", ["", "short", "x" * 42, "x" * 44, "a/b" + "x" * 40,
                                   "%" * 43])
async def test_malformed_and_unknown_tokens_are_not_found(world: World, token: str) -> None:
    with pytest.raises(NotFound) as caught:
        await world.service.open(token)
    assert caught.value.message == "no such link"
    with pytest.raises(NotFound):
        await world.service.open(new_token())


async def test_refusals_say_why_without_naming_the_token(world: World) -> None:
    revoked, expired, used = [await world.service.create(ALICE, _body(max_uses=1))
                              for _ in range(3)]
    world.links.update(revoked.link.id, revoked_at=_NOW)
    world.links.update(expired.link.id, expired=True)
    world.links.update(used.link.id, uses=1)
    for created, error in ((revoked, NotFound), (expired, LinkExpired), (used, LinkUsed)):
        with pytest.raises(error) as caught:
            await world.service.open(created.token)
        assert created.token not in caught.value.message


async def test_a_single_use_link_is_claimed_once_and_a_failed_start_gives_it_back(
    world: World,
) -> None:
    created = await world.service.create(ALICE, _body(max_uses=1))
    first = await world.service.open(created.token)
    second = await world.service.open(created.token)  # opened before the first download
    await first.use.claim()
    with pytest.raises(LinkUsed):
        await second.use.claim()
    await first.use.release()  # e.g. no replica could serve the first chunk
    await second.use.claim()
    with pytest.raises(LinkUsed):
        await world.service.open(created.token)


async def test_a_replaced_version_ends_the_link(world: World) -> None:
    created = await world.service.create(ALICE, _body())
    world.files.add(world.shared, "docs/report.pdf")  # an overwrite: a new version
    with pytest.raises(LinkTargetGone):
        await world.service.open(created.token)
    del world.files.files[("shared", "docs/report.pdf")]
    with pytest.raises(LinkTargetGone):
        await world.service.open(created.token)


async def test_a_creator_who_lost_read_access_makes_the_link_answer_not_found(
    world: World,
) -> None:
    created = await world.service.create(BOB, _body())
    world.access.readers["shared"].discard(BOB.user_id)
    with pytest.raises(NotFound) as caught:
        await world.service.open(created.token)
    assert caught.value.message == "no such link"  # not "no bucket 'shared'"


# --- manage --------------------------------------------------------------------------

async def test_creator_bucket_owner_and_admins_revoke_anyone_else_gets_not_found(
    world: World,
) -> None:
    made = [await world.service.create(BOB, _body()) for _ in range(3)]
    with pytest.raises(NotFound):
        await world.service.revoke(CAROL, str(made[0].link.id))
    with pytest.raises(NotFound):
        await world.service.revoke(BOB, "not-a-uuid")
    for caller, created in zip((BOB, ALICE, ROOT), made, strict=True):
        revoked = await world.service.revoke(caller, str(created.link.id))
        assert revoked.state == "revoked"
        with pytest.raises(NotFound):
            await world.service.open(created.token)
    again = await world.service.revoke(BOB, str(made[0].link.id))  # idempotent
    assert again.state == "revoked"
    revokes = [(r.actor, r.target) for r in world.audit.rows if r.action == "link.revoke"]
    assert revokes == [("bob", str(made[0].link.id)), ("alice", str(made[1].link.id)),
                       ("root", str(made[2].link.id))]


async def test_listing_shows_own_links_bucket_links_to_owners_and_all_to_admins(
    world: World,
) -> None:
    bobs = await world.service.create(BOB, _body())
    alices = await world.service.create(ALICE, _body())
    assert [x.id for x in (await world.service.list_links(BOB)).links] == [bobs.link.id]
    owner_view = await world.service.list_links(ALICE, bucket="shared")
    assert [x.id for x in owner_view.links] == [alices.link.id, bobs.link.id]
    with pytest.raises(Forbidden):
        await world.service.list_links(BOB, bucket="shared")  # reads it, does not own it
    with pytest.raises(NotFound):
        await world.service.list_links(CAROL, bucket="shared")
    with pytest.raises(Forbidden):
        await world.service.list_links(BOB, everyone=True)
    assert len((await world.service.list_links(ROOT, everyone=True)).links) == 2
    page = await world.service.list_links(ROOT, everyone=True, limit=1)
    assert page.next_cursor is not None
    rest = await world.service.list_links(ROOT, everyone=True, cursor=page.next_cursor)
    assert [x.id for x in rest.links] == [bobs.link.id]
    for bad in ({"limit": 0}, {"limit": 1001}, {"cursor": "abc"}):
        with pytest.raises(InvalidInput):
            await world.service.list_links(BOB, **bad)

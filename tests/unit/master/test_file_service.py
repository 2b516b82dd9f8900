"""FileService's ownership rule and deletes, on in-memory repositories."""

from __future__ import annotations

import uuid

import pytest

from common.errors import NotFound
from master.metrics import MasterMetrics
from master.services.access import BucketAccess
from master.services.auth import Principal
from master.services.files import FileService
from tests.unit.master.access_fakes import FakeShares
from tests.unit.master.fakes import FakeFiles, FakeReplicas, chunk, file_record

ALICE = Principal(1, "alice", False, 1, "home-1")
BOB = Principal(2, "bob", False, 2, "home-2")
ROOT = Principal(3, "root", True, 3, "home-3")


@pytest.fixture
def files() -> FakeFiles:
    return FakeFiles()


@pytest.fixture
def replicas() -> FakeReplicas:
    return FakeReplicas()


@pytest.fixture
def metrics() -> MasterMetrics:
    return MasterMetrics.create()


@pytest.fixture
def service(files: FakeFiles, replicas: FakeReplicas, metrics: MasterMetrics) -> FileService:
    # FakeFiles doubles as the namespace repository (delete_file); access is the real rule.
    access = BucketAccess(None, FakeShares())  # type: ignore[arg-type]
    return FileService(files, replicas, metrics, access, files)  # type: ignore[arg-type]


def _deletes(metrics: MasterMetrics) -> float:
    return metrics.registry.get_sample_value("echofs_file_deletes_total") or 0.0


async def _not_found_message(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound) as caught:
        await call
    return caught.value.message


async def test_someone_elses_file_id_is_answered_exactly_like_a_missing_one(
    service: FileService, files: FakeFiles
) -> None:
    alices = files.add(file_record(ALICE.user_id, "a/secret.txt"))
    unknown = uuid.uuid4()
    for lookup in (service.by_id, service.details, service.snapshot, service.delete):
        theirs = await _not_found_message(lookup(BOB, alices.id))
        missing = await _not_found_message(lookup(BOB, unknown))
        assert theirs == missing.replace(str(unknown), str(alices.id))
    assert alices.id in files.files, "bob's delete removed alice's file"


async def test_the_owner_and_an_admin_may_use_a_file_by_id(
    service: FileService, files: FakeFiles
) -> None:
    alices = files.add(file_record(ALICE.user_id, "a/b.txt"), [chunk(0, "c0"), chunk(1, "c1")])
    for caller in (ALICE, ROOT):
        assert await service.by_id(caller, alices.id) == alices
        snapshot = await service.snapshot(caller, alices.id)
        assert (snapshot.record, [c.chunk_id for c in snapshot.chunks]) == (alices, ["c0", "c1"])


async def test_paths_name_a_file_in_a_bucket_only_its_owner_and_admins_may_read(
    service: FileService, files: FakeFiles
) -> None:
    # Paths are (bucket, path) since issue 16; admins act on every bucket (DESIGN §12).
    alices = files.add(file_record(ALICE.user_id, "shared/name.txt"))
    for caller in (ALICE, ROOT):
        assert await service.by_path(caller, "home-1", "shared/name.txt") == alices
        snapshot = await service.snapshot_by_path(caller, "home-1", "shared/name.txt")
        assert snapshot.record == alices
    for lookup in (service.by_path, service.snapshot_by_path, service.delete_by_path):
        theirs = await _not_found_message(lookup(BOB, "home-1", "shared/name.txt"))
        missing = await _not_found_message(lookup(BOB, "home-1", "shared/none.txt"))
        assert theirs == missing.replace("none", "name") == "no file at home-1/shared/name.txt"
    assert alices.id in files.files


async def test_details_list_every_chunk_with_its_replica_states(
    service: FileService, files: FakeFiles, replicas: FakeReplicas
) -> None:
    record = files.add(file_record(ALICE.user_id, "d.bin"), [chunk(0, "c0"), chunk(1, "c1")])
    replicas.states = {"c0": [("w1", "live"), ("w2", "corrupt")], "other": [("w3", "live")]}
    details = await service.details(ALICE, record.id)
    assert details.record == record
    assert [c.chunk_id for c in details.chunks] == ["c0", "c1"]
    assert details.replica_states == {"c0": [("w1", "live"), ("w2", "corrupt")]}


async def test_a_delete_removes_the_file_and_counts_it_once(
    service: FileService, files: FakeFiles, metrics: MasterMetrics
) -> None:
    by_id = files.add(file_record(ALICE.user_id, "x/1"))
    by_path = files.add(file_record(ALICE.user_id, "x/2"))
    assert await service.delete(ALICE, by_id.id) == by_id
    assert await service.delete_by_path(ALICE, "home-1", "x/2") == by_path
    assert files.files == {}
    assert _deletes(metrics) == 2
    with pytest.raises(NotFound):
        await service.delete(ALICE, by_id.id)
    assert _deletes(metrics) == 2


async def test_a_listing_holds_only_the_callers_files_in_path_order(
    service: FileService, files: FakeFiles
) -> None:
    for path in ("p/c", "p/a", "q/z", "p/b"):
        files.add(file_record(ALICE.user_id, path))
    files.add(file_record(BOB.user_id, "p/bob"))
    listed = await service.list_files(ALICE, "p/", "p/a", 10)
    assert [f.path for f in listed] == ["p/b", "p/c"]

"""DownloadService against in-memory workers: failover, bad replicas, ranges.

Every byte is still decoded and hashed by the service; the fakes only stand in for
the network (``tests.support.fake_workers``). tests/integration/test_data_path.py and
tests/fault/test_corruption_repair.py cover the same against real workers.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.chunks import Codec, EncodedChunk, encode_chunk
from common.errors import Unavailable
from master.domain.records import ChunkRef, FileRecord
from master.metrics import MasterMetrics
from master.replication.chunk_cache import ChunkCache
from master.services.downloads import ByteRange, DownloadService
from tests.support.fake_replicas import FakeReplicas
from tests.support.fake_workers import FakeWorkers

CHUNK_SIZE = 1000
FRAME_BYTES = 300


@dataclass
class Rig:
    cluster: FakeWorkers
    replicas: FakeReplicas
    metrics: MasterMetrics
    service: DownloadService


async def _rig(workers: tuple[str, ...] = ("w1", "w2", "w3")) -> Rig:
    cluster = FakeWorkers()
    for worker_id in workers:
        cluster.add(worker_id).frame_bytes = FRAME_BYTES
    registry = await cluster.registry()
    # Fastest first: w1, then w2, then w3.
    for rank, worker_id in enumerate(workers):
        view = registry.view(worker_id)
        assert view is not None
        view.rtt_ewma_s = 0.001 * (rank + 1)
    replicas = FakeReplicas()
    metrics = MasterMetrics.create()
    service = DownloadService(None, replicas, registry, metrics, readahead=2)  # type: ignore[arg-type]
    return Rig(cluster, replicas, metrics, service)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    yield await _rig()


def _ref(chunk: EncodedChunk, idx: int = 0) -> ChunkRef:
    return ChunkRef(idx, chunk.chunk_id, chunk.raw_size, chunk.stored_size, chunk.codec,
                    chunk.blob_sha256)


def _stored(rig: Rig, data: bytes, *on: str) -> ChunkRef:
    chunk = encode_chunk(data)
    for worker_id in on:
        rig.cluster[worker_id].store(chunk)
    rig.replicas.seed(chunk.chunk_id, *on)
    return _ref(chunk)


async def test_a_failed_replica_is_skipped_and_the_next_one_serves(rig: Rig) -> None:
    data = os.urandom(CHUNK_SIZE)
    ref = _stored(rig, data, "w1", "w2", "w3")
    rig.cluster["w1"].fail("get_chunk", Unavailable("w1: DEADLINE_EXCEEDED"))
    assert await rig.service.fetch_chunk(ref, ["w3", "w2", "w1"]) == data
    assert rig.cluster["w1"].called("get_chunk") == [ref.chunk_id]  # tried first: fastest
    assert rig.cluster["w2"].called("get_chunk") == [ref.chunk_id]
    assert rig.cluster["w3"].calls == []
    assert rig.replicas.bad == []  # unreachable is not bad: the copy may be fine


async def test_a_corrupt_replica_is_skipped_and_reported(rig: Rig) -> None:
    data = b"compressible " * 200
    ref = _stored(rig, data, "w1", "w2")
    assert ref.codec is Codec.ZSTD
    rig.cluster["w1"].corrupt(ref.chunk_id)
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert rig.replicas.bad == [(ref.chunk_id, "w1", "corrupt")]
    assert rig.metrics.registry.get_sample_value("echofs_corrupt_replicas_total") == 1


async def test_a_corrupt_raw_replica_is_caught_by_the_masters_hash(rig: Rig) -> None:
    data = os.urandom(CHUNK_SIZE)
    ref = _stored(rig, data, "w1", "w2")
    assert ref.codec is Codec.RAW
    rig.cluster["w1"].corrupt(ref.chunk_id)
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert rig.replicas.bad == [(ref.chunk_id, "w1", "corrupt")]


async def test_a_missing_replica_is_skipped_and_reported(rig: Rig) -> None:
    data = os.urandom(CHUNK_SIZE)
    ref = _stored(rig, data, "w1", "w2")
    rig.cluster["w1"].drop(ref.chunk_id)
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert rig.replicas.bad == [(ref.chunk_id, "w1", "missing")]


async def test_when_every_replica_fails_the_read_is_unavailable_with_each_reason(
    rig: Rig,
) -> None:
    ref = _stored(rig, os.urandom(CHUNK_SIZE), "w1", "w2", "w3")
    rig.cluster["w1"].fail("get_chunk", Unavailable("w1: UNAVAILABLE"))
    rig.cluster["w2"].corrupt(ref.chunk_id)
    rig.cluster["w3"].drop(ref.chunk_id)
    with pytest.raises(Unavailable) as caught:
        await rig.service.fetch_chunk(ref, ["w1", "w2", "w3"])
    assert caught.value.details["chunk_id"] == ref.chunk_id
    failures = caught.value.details["failures"]
    assert list(failures) == ["w1", "w2", "w3"]
    assert failures["w1"] == "w1: UNAVAILABLE"
    assert "hashes to" in failures["w2"] and "not on w3" in failures["w3"]
    assert rig.replicas.bad == [(ref.chunk_id, "w2", "corrupt"), (ref.chunk_id, "w3", "missing")]


async def _file(rig: Rig, size: int) -> tuple[bytes, FileRecord, list[ChunkRef]]:
    """A file of ``size`` random bytes in CHUNK_SIZE chunks, each on two workers."""
    data = os.urandom(size)
    refs = []
    for idx, start in enumerate(range(0, size, CHUNK_SIZE)):
        chunk = encode_chunk(data[start : start + CHUNK_SIZE])
        holders = ("w1", "w2") if idx % 2 else ("w2", "w3")
        for worker_id in holders:
            rig.cluster[worker_id].store(chunk)
        rig.replicas.seed(chunk.chunk_id, *holders)
        refs.append(_ref(chunk, idx))
    now = datetime.now(tz=UTC)
    record = FileRecord(
        id=uuid.uuid4(), owner_id=1, path="f", consistency_hint="Auto",
        version_id=uuid.uuid4(), size=size, sha256="", chunk_size=CHUNK_SIZE,
        chunk_count=len(refs), mode="C", created_at=now, updated_at=now,
    )
    return data, record, refs


async def _read(rig: Rig, record: FileRecord, refs: list[ChunkRef],
                byte_range: ByteRange | None) -> bytes:
    return b"".join([bytes(p) async for p in rig.service.stream(record, refs, byte_range)])


@pytest.mark.parametrize(("start", "end"), [
    (0, 5499),      # the whole file
    (0, 0),         # its first byte
    (5499, 5499),   # its last byte, in the short last chunk
    (250, 350),     # inside one chunk, across a frame boundary
    (999, 1000),    # across a chunk boundary
    (1300, 4200),   # middle chunks whole, ends partial
    (3000, 3999),   # exactly one chunk
])
async def test_a_range_read_returns_exactly_those_bytes(start: int, end: int) -> None:
    rig = await _rig()
    data, record, refs = await _file(rig, 5500)
    assert await _read(rig, record, refs, ByteRange(start, end)) == data[start : end + 1]
    first, last = start // CHUNK_SIZE, end // CHUNK_SIZE
    fetched = [c for fake in rig.cluster.workers.values() for c in fake.called("get_chunk")]
    assert sorted(fetched) == sorted(r.chunk_id for r in refs[first : last + 1])


@settings(max_examples=20, deadline=None)
@given(st.data())
async def test_any_range_read_equals_slicing_even_with_a_replica_down(
    data: st.DataObject,
) -> None:
    rig = await _rig()
    size = data.draw(st.integers(1, 4 * CHUNK_SIZE + 10))
    content, record, refs = await _file(rig, size)
    rig.cluster[data.draw(st.sampled_from(["w1", "w2", "w3"]))].fail("get_chunk")
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    assert await _read(rig, record, refs, ByteRange(start, end)) == content[start : end + 1]


def _cached_rig(rig: Rig, max_chunk_bytes: int = CHUNK_SIZE) -> ChunkCache:
    cache = ChunkCache(capacity_bytes=100_000, max_chunk_bytes=max_chunk_bytes)
    rig.service = DownloadService(
        None, rig.replicas, rig.service._registry, rig.metrics, readahead=2,  # type: ignore[arg-type]
        chunk_cache=cache,
    )
    return cache


async def test_a_small_chunk_read_once_is_then_served_from_the_cache(rig: Rig) -> None:
    cache = _cached_rig(rig)
    data = os.urandom(CHUNK_SIZE)
    ref = _stored(rig, data, "w1", "w2")
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert cache.get(ref.chunk_id) == data  # verified bytes, joined from the frames
    rig.cluster["w1"].corrupt(ref.chunk_id)
    rig.cluster["w2"].drop(ref.chunk_id)
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert rig.cluster["w1"].called("get_chunk") == [ref.chunk_id]  # once, before
    assert rig.replicas.bad == []  # the scrubber's to find, not this read's


async def test_a_corrupt_replica_never_reaches_the_cache(rig: Rig) -> None:
    cache = _cached_rig(rig)
    data = b"compressible " * 50
    ref = _stored(rig, data, "w1", "w2")
    rig.cluster["w1"].corrupt(ref.chunk_id)
    assert await rig.service.fetch_chunk(ref, ["w1", "w2"]) == data
    assert cache.get(ref.chunk_id) == data  # w2's verified bytes, not w1's
    assert rig.replicas.bad == [(ref.chunk_id, "w1", "corrupt")]


async def test_chunks_larger_than_the_cache_keeps_always_go_to_a_worker(rig: Rig) -> None:
    cache = _cached_rig(rig, max_chunk_bytes=CHUNK_SIZE - 1)
    ref = _stored(rig, os.urandom(CHUNK_SIZE), "w1")
    for _ in range(2):
        await rig.service.fetch_chunk(ref, ["w1"])
    assert rig.cluster["w1"].called("get_chunk") == [ref.chunk_id, ref.chunk_id]
    assert len(cache) == 0


@pytest.mark.parametrize("with_snapshot_holders", [True, False])
async def test_a_one_chunk_file_is_read_from_its_holders_with_failover(
    rig: Rig, with_snapshot_holders: bool
) -> None:
    """One-chunk files take a path of their own (no read-ahead window): it must still
    use the holders the snapshot read, or look them up, and fail over like the rest."""
    data, record, refs = await _file(rig, CHUNK_SIZE - 7)
    (ref,) = refs  # on w2 and w3
    if with_snapshot_holders:
        refs = [dataclasses.replace(ref, holders=("w3",))]
    rig.cluster["w2"].fail("get_chunk", Unavailable("w2: UNAVAILABLE"))
    assert await _read(rig, record, refs, None) == data
    assert await _read(rig, record, refs, ByteRange(5, 9)) == data[5:10]
    assert rig.cluster["w1"].calls == []
    assert rig.cluster["w3"].called("get_chunk") == [ref.chunk_id] * 2
    assert rig.cluster["w2"].called("get_chunk") == ([] if with_snapshot_holders
                                                     else [ref.chunk_id] * 2)

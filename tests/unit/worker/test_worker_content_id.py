"""A worker keeps a blob only under the id its decoded content hashes to.

The blob checksum is the writer's word; these tests send honest bytes with a matching
checksum under someone else's chunk id (or plant them on disk) and expect the store to
refuse them on write and the scrubber to quarantine them at rest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from common.chunks import Codec, encode_chunk
from common.errors import ChunkIdMismatch, ChunkNotFound, InvalidInput
from tests.unit.worker.backend_contract import blob
from worker.backends.base import BlobMeta
from worker.backends.local import LocalBackend
from worker.backends.memory import MemoryBackend
from worker.scrubber import Scrubber
from worker.store import MAX_RAW_SIZE, ChunkStore, PutResult

MiB = 1024 * 1024


@pytest.fixture
async def store() -> ChunkStore:
    store = ChunkStore(MemoryBackend(), max_concurrency=2)
    await store.open()
    return store


def _victim(codec: Codec) -> tuple[BlobMeta, bytes]:
    """Content someone will upload: the id an attacker wants to squat."""
    content = b"the victim's quarterly report, page after page " * 2_000
    noise = hashlib.shake_256(content).digest(100_000)
    encoded = encode_chunk(content if codec is Codec.ZSTD else noise)
    assert encoded.codec is codec
    meta = BlobMeta(encoded.chunk_id, encoded.codec, encoded.raw_size, encoded.stored_size,
                    encoded.blob_sha256)
    return meta, encoded.payload


def _planted(chunk_id: str, codec: Codec) -> tuple[BlobMeta, bytes]:
    """Other content, honestly encoded and checksummed, sent under ``chunk_id``."""
    meta, payload = blob(60_000, compressible=codec is Codec.ZSTD)
    assert meta.codec is codec and meta.chunk_id != chunk_id
    return dataclasses.replace(meta, chunk_id=chunk_id), payload


@pytest.mark.parametrize("codec", [Codec.RAW, Codec.ZSTD])
async def test_put_refuses_honest_bytes_under_another_contents_id_and_stores_nothing(
    store: ChunkStore, codec: Codec
):
    victim_meta, victim_payload = _victim(codec)
    with pytest.raises(ChunkIdMismatch) as refused:
        await store.put(*_planted(victim_meta.chunk_id, codec))
    assert refused.value.code == "chunk_id_mismatch"
    assert await store.has([victim_meta.chunk_id]) == [False]
    assert store.status().chunk_count == 0
    result = await store.put(victim_meta, victim_payload)  # the real upload is not blocked
    assert result.already_present is False
    assert (await store.get(victim_meta.chunk_id))[1] == victim_payload


async def test_put_refuses_a_zstd_blob_that_decodes_to_another_size(store: ChunkStore):
    meta, payload = _victim(Codec.ZSTD)
    for raw_size in (meta.raw_size - 1, meta.raw_size + 1, 0):
        with pytest.raises(ChunkIdMismatch):
            await store.put(dataclasses.replace(meta, raw_size=raw_size), payload)
    assert store.status().chunk_count == 0


async def test_put_refuses_a_raw_blob_whose_raw_size_is_not_its_length(store: ChunkStore):
    meta, payload = _victim(Codec.RAW)
    with pytest.raises(ChunkIdMismatch):
        await store.put(dataclasses.replace(meta, raw_size=meta.raw_size + 1), payload)
    assert store.status().chunk_count == 0


async def test_put_many_refuses_only_the_blob_under_a_wrong_id(store: ChunkStore):
    good_raw, good_zstd = blob(3000), blob(5000, compressible=True)
    victim_meta, _ = _victim(Codec.ZSTD)
    planted = _planted(victim_meta.chunk_id, Codec.ZSTD)
    results = await store.put_many([good_raw, planted, good_zstd])
    assert isinstance(results[0], PutResult) and isinstance(results[2], PutResult)
    assert isinstance(results[1], ChunkIdMismatch)
    assert await store.has([good_raw[0].chunk_id, victim_meta.chunk_id, good_zstd[0].chunk_id]
                           ) == [True, False, True]
    assert (await store.get(good_zstd[0].chunk_id))[1] == good_zstd[1]


def _zeros_bomb(decoded_size: int, declared_size: int) -> bytes:
    """A few KiB of zstd that decode to ``decoded_size`` zeros; the header says otherwise."""
    compressor = zstandard.ZstdCompressor(level=1).compressobj(size=decoded_size)
    zeros = bytes(MiB)
    frame = b"".join(compressor.compress(zeros) for _ in range(decoded_size // MiB))
    frame += compressor.flush()
    assert frame[4] >> 6 == 2 and not frame[4] & 0x23  # a 4-byte content size at offset 6
    return frame[:6] + declared_size.to_bytes(4, "little") + frame[10:]


async def test_a_zstd_bomb_larger_than_its_raw_size_is_refused_in_bounded_memory(
    store: ChunkStore,
):
    victim_meta, _ = _victim(Codec.ZSTD)
    bomb = _zeros_bomb(1024 * MiB, declared_size=victim_meta.raw_size)
    meta = BlobMeta(victim_meta.chunk_id, Codec.ZSTD, victim_meta.raw_size, len(bomb),
                    hashlib.sha256(bomb).hexdigest())
    tracemalloc.start()
    try:
        with pytest.raises(ChunkIdMismatch):
            await store.put(meta, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # decoding it whole would take 1 GiB
    assert await store.has([meta.chunk_id]) == [False]


async def test_a_header_claiming_a_chunk_larger_than_any_chunk_is_refused(store: ChunkStore):
    meta, payload = _victim(Codec.ZSTD)
    with pytest.raises(InvalidInput):
        await store.put(dataclasses.replace(meta, raw_size=MAX_RAW_SIZE + 1), payload)


@pytest.mark.parametrize("codec", [Codec.RAW, Codec.ZSTD])
async def test_a_planted_copy_at_rest_is_quarantined_and_replaced_by_the_honest_put(
    store: ChunkStore, codec: Codec
):
    victim_meta, victim_payload = _victim(codec)
    await store.backend.put(*_planted(victim_meta.chunk_id, codec))  # around the store
    result = await store.put(victim_meta, victim_payload)
    assert result.already_present is False
    assert (await store.get(victim_meta.chunk_id))[1] == victim_payload
    assert store.take_corrupt_reports() == [victim_meta.chunk_id]


async def test_the_scrubber_quarantines_a_blob_whose_content_is_not_its_id(store: ChunkStore):
    good = blob(4000, compressible=True)
    await store.put(*good)
    victim_meta, _ = _victim(Codec.ZSTD)
    await store.backend.put(*_planted(victim_meta.chunk_id, Codec.ZSTD))
    report = await Scrubber(store, bytes_per_second=0).run_once()
    assert report.corrupt_chunk_ids == [victim_meta.chunk_id]
    assert await store.backend.list_quarantined() == [victim_meta.chunk_id]
    assert (await store.get(good[0].chunk_id))[1] == good[1]


@pytest.mark.parametrize("codec", [Codec.RAW, Codec.ZSTD])
async def test_the_scrubber_finds_a_local_blob_rewritten_with_a_matching_checksum(
    tmp_path: Path, codec: Codec
):
    backend = LocalBackend(tmp_path / "data")
    store = ChunkStore(backend)
    await store.open()
    victim_meta, victim_payload = _victim(codec)
    neighbour = blob(7000, compressible=True)
    await store.put(victim_meta, victim_payload)
    await store.put(*neighbour)

    # Rewrite the victim's file: other content, with its header's checksum and sizes
    # updated to match (written in the backend's own format, then copied over).
    forged_meta, forged_payload = _planted(victim_meta.chunk_id, codec)
    scratch = LocalBackend(tmp_path / "scratch")
    await scratch.open()
    await scratch.put(forged_meta, forged_payload)
    backend.blob_path(victim_meta.chunk_id).write_bytes(
        scratch.blob_path(victim_meta.chunk_id).read_bytes())
    on_disk = await backend.get(victim_meta.chunk_id)
    assert on_disk.data == forged_payload != victim_payload
    assert on_disk.meta.blob_sha256 == hashlib.sha256(forged_payload).hexdigest()

    report = await Scrubber(store, bytes_per_second=0).run_once()

    assert report.corrupt_chunk_ids == [victim_meta.chunk_id]
    assert report.chunks_checked == 2
    assert await backend.list_quarantined() == [victim_meta.chunk_id]
    assert store.take_corrupt_reports() == [victim_meta.chunk_id]
    assert store.metrics.corrupt_blobs._value.get() == 1
    for verify in (True, False):
        with pytest.raises(ChunkNotFound):
            await store.get(victim_meta.chunk_id, verify=verify)
    assert (await store.get(neighbour[0].chunk_id))[1] == neighbour[1]
    await scratch.close()
    await store.close()

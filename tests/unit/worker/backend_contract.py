"""The one contract every ``ChunkBackend`` keeps, written once.

Test classes bind it to an implementation by subclassing :class:`BackendContract`
and providing three fixtures: ``backend`` (an opened, empty backend), ``corrupt``
(a function flipping one stored byte of a blob the way bit rot would, going around
the backend) and ``reopen`` (a function returning a fresh backend over the same
medium, or None when nothing persists). Memory and local bind it in
``test_worker_backend_contract.py``; S3 (against a real moto server) in
``tests/integration/test_worker_s3_contract.py``.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from common.chunks import Codec, encode_chunk
from common.errors import (
    ChecksumMismatch,
    ChunkCorrupt,
    ChunkNotFound,
    InvalidInput,
    PayloadTooLarge,
    RangeNotSatisfiable,
)
from worker.backends.base import BlobMeta, ChunkBackend, StoredBlob
from worker.scrubber import Scrubber
from worker.store import ChunkStore

__all__ = ["BackendContract", "blob"]


def blob(size: int = 1000, *, compressible: bool = False) -> tuple[BlobMeta, bytes]:
    """A realistic stored blob (encoded like the master does) and its header."""
    raw = (b"echofs " * (size // 7 + 1))[:size] if compressible else os.urandom(size)
    encoded = encode_chunk(raw)
    meta = BlobMeta(
        encoded.chunk_id, encoded.codec, encoded.raw_size, encoded.stored_size,
        encoded.blob_sha256,
    )
    return meta, encoded.payload


class BackendContract:
    async def test_put_then_get_returns_the_blob_and_its_header(self, backend: ChunkBackend):
        meta, payload = blob(300_000, compressible=True)
        assert meta.codec is Codec.ZSTD
        assert await backend.put(meta, payload) is True
        stored = await backend.get(meta.chunk_id)
        assert stored.data == payload
        assert (stored.meta.chunk_id, stored.meta.codec, stored.meta.raw_size) == (
            meta.chunk_id, Codec.ZSTD, 300_000,
        )
        assert stored.meta.stored_size == len(payload)
        assert stored.meta.blob_sha256 == hashlib.sha256(payload).hexdigest()
        head = await backend.head(meta.chunk_id)
        assert head.stored_size == len(payload) and head.blob_sha256 == meta.blob_sha256

    async def test_put_of_an_existing_id_replaces_and_reports_not_new(self, backend):
        meta, payload = blob(10)
        assert await backend.put(meta, payload) is True
        assert await backend.put(meta, payload) is False
        assert backend.usage().chunk_count == 1
        assert backend.usage().used_bytes == 10

    async def test_put_many_stores_a_batch_and_says_which_ids_were_new(self, backend):
        known = blob(50)
        assert await backend.put(*known) is True
        batch = [blob(4096), known, blob(0), blob(200_000, compressible=True)]
        outcomes = await backend.put_many(batch)
        assert outcomes == [True, False, True, True]
        for meta, payload in batch:
            assert (await backend.get(meta.chunk_id)).data == payload
        assert backend.usage().chunk_count == 4
        assert backend.usage().used_bytes == sum(len(p) for _, p in batch)

    async def test_put_absent_writes_new_ids_and_leaves_stored_ones_alone(self, backend):
        known = blob(50)
        assert await backend.put(*known) is True
        other_bytes = (known[0], b"x" * known[0].stored_size)  # must not replace the copy
        batch = [blob(4096), other_bytes, blob(200_000, compressible=True)]
        assert await backend.put_absent(batch) == [True, None, True]
        assert (await backend.get(known[0].chunk_id)).data == known[1]
        for meta, payload in (batch[0], batch[2]):
            assert (await backend.get(meta.chunk_id)).data == payload
        assert backend.usage().chunk_count == 3

    async def test_empty_blob_round_trips(self, backend):
        meta, payload = blob(0)
        await backend.put(meta, payload)
        stored = await backend.get(meta.chunk_id)
        assert stored.data == b"" and stored.meta.stored_size == 0

    async def test_unknown_chunk_is_not_found(self, backend):
        with pytest.raises(ChunkNotFound):
            await backend.get("a" * 64)
        with pytest.raises(ChunkNotFound):
            await backend.head("a" * 64)
        assert await backend.delete("a" * 64) is False

    async def test_byte_ranges_are_clamped_at_the_end_and_reject_offsets_past_it(self, backend):
        meta, payload = blob(5000)
        await backend.put(meta, payload)
        assert (await backend.get(meta.chunk_id, 100, 50)).data == payload[100:150]
        assert (await backend.get(meta.chunk_id, 4990, 0)).data == payload[4990:]
        assert (await backend.get(meta.chunk_id, 4990, 100)).data == payload[4990:]
        assert (await backend.get(meta.chunk_id, 5000, 0)).data == b""
        with pytest.raises(RangeNotSatisfiable):
            await backend.get(meta.chunk_id, 5001, 0)

    async def test_delete_removes_the_blob(self, backend):
        meta, payload = blob(64)
        await backend.put(meta, payload)
        assert await backend.delete(meta.chunk_id) is True
        assert await backend.exists([meta.chunk_id]) == [False]
        with pytest.raises(ChunkNotFound):
            await backend.get(meta.chunk_id)
        assert backend.usage().chunk_count == 0 and backend.usage().used_bytes == 0

    async def test_exists_answers_in_request_order(self, backend):
        first, second = blob(10), blob(20)
        await backend.put(*first)
        await backend.put(*second)
        ids = [second[0].chunk_id, "f" * 64, first[0].chunk_id]
        assert await backend.exists(ids) == [True, False, True]

    async def test_list_is_ordered_by_id_and_resumes_after_a_cursor(self, backend):
        pairs = [blob(100 + i) for i in range(7)]
        for meta, payload in pairs:
            await backend.put(meta, payload)
        metas = [meta for meta, _ in pairs]
        ids = sorted(m.chunk_id for m in metas)
        first = await backend.list("", 3)
        assert [e.chunk_id for e in first] == ids[:3]
        rest = await backend.list(first[-1].chunk_id, 100)
        assert [e.chunk_id for e in rest] == ids[3:]
        assert {e.chunk_id: e.stored_size for e in first + rest} == {
            m.chunk_id: m.stored_size for m in metas
        }
        assert all(e.mtime > 0 for e in first + rest)

    async def test_usage_counts_bytes_and_blobs(self, backend):
        sizes = [10, 2000, 33]
        pairs = [blob(size) for size in sizes]
        for meta, payload in pairs:
            await backend.put(meta, payload)
        assert backend.usage().used_bytes == sum(sizes)
        assert backend.usage().chunk_count == 3
        await backend.delete(pairs[1][0].chunk_id)
        assert backend.usage().used_bytes == 43

    async def test_quarantine_moves_a_blob_out_of_sight_but_keeps_it(self, backend):
        meta, payload = blob(100)
        await backend.put(meta, payload)
        assert await backend.quarantine(meta.chunk_id) is True
        assert await backend.exists([meta.chunk_id]) == [False]
        assert await backend.list() == []
        assert meta.chunk_id in await backend.list_quarantined()
        assert await backend.quarantine(meta.chunk_id) is False
        assert backend.usage().chunk_count == 0

    async def test_blobs_and_usage_survive_reopening(self, backend, reopen):
        meta, payload = blob(4321)
        await backend.put(meta, payload)
        fresh = await reopen()
        if fresh is None:
            pytest.skip("this backend keeps nothing across instances")
        try:
            assert (await fresh.get(meta.chunk_id)).data == payload
            assert fresh.usage().used_bytes == 4321 and fresh.usage().chunk_count == 1
        finally:
            await fresh.close()

    # -- the store over this backend -------------------------------------------------

    async def test_store_rejects_a_checksum_mismatch_and_stores_nothing(self, backend):
        store = ChunkStore(backend)
        await store.open()
        meta, payload = blob(1000)
        with pytest.raises(ChecksumMismatch):
            await store.put(meta, payload[:-1] + bytes([payload[-1] ^ 1]))
        assert await backend.exists([meta.chunk_id]) == [False]

    async def test_store_put_many_gives_each_blob_its_own_outcome(self, backend, corrupt):
        store = ChunkStore(backend)
        await store.open()
        good, present, rotten = blob(4096), blob(100), blob(300)
        await store.put(*present)
        await store.put(*rotten)
        await corrupt(rotten[0].chunk_id, 5)  # a bad copy at rest is replaced, not kept
        bad_meta, bad_payload = blob(64)
        mismatch = (bad_meta, bad_payload[:-1] + bytes([bad_payload[-1] ^ 1]))
        results = await store.put_many([good, mismatch, present, good, rotten])
        assert [type(r).__name__ for r in results] == [
            "PutResult", "ChecksumMismatch", "PutResult", "PutResult", "PutResult",
        ]
        assert [r.already_present for r in results if not isinstance(r, Exception)] == [
            False, True, True, False,
        ]
        with pytest.raises(ChunkNotFound):
            await backend.get(bad_meta.chunk_id)
        for meta, payload in (good, present, rotten):
            assert (await store.get(meta.chunk_id))[1] == payload
        assert store.corrupt_blobs_found == 1

    async def test_store_detects_a_flipped_byte_on_read_and_quarantines_it(
        self, backend, corrupt
    ):
        store = ChunkStore(backend)
        await store.open()
        meta, payload = blob(70_000)
        await store.put(meta, payload)
        await corrupt(meta.chunk_id, 12_345)
        with pytest.raises(ChunkCorrupt):
            await store.get(meta.chunk_id, 0, 10)  # even a small range verifies the whole blob
        assert meta.chunk_id in await backend.list_quarantined()
        assert store.corrupt_blobs_found == 1
        assert store.take_corrupt_reports() == [meta.chunk_id]
        with pytest.raises(ChunkNotFound):
            await store.get(meta.chunk_id)
        result = await store.put(meta, payload)  # repair: a good copy can be written again
        assert result.already_present is False
        assert (await store.get(meta.chunk_id))[1] == payload

    async def test_get_many_answers_each_id_in_order_and_skips_blobs_over_the_bound(
        self, backend
    ):
        small, mid, large = blob(100), blob(70_000), blob(300_000)
        for meta, payload in (small, mid, large):
            await backend.put(meta, payload)
        missing = blob(10)[0].chunk_id
        ids = [small[0].chunk_id, missing, mid[0].chunk_id, large[0].chunk_id]
        got = await backend.get_many(ids, 100_000)
        assert [type(g) for g in got] == [StoredBlob, ChunkNotFound, StoredBlob, PayloadTooLarge]
        assert isinstance(got[0], StoredBlob) and isinstance(got[2], StoredBlob)
        assert (got[0].data, got[2].data) == (small[1], mid[1])
        assert got[2].meta.stored_size == len(mid[1]) and got[2].meta.codec is mid[0].codec
        assert await backend.get_many([], 0) == []

    async def test_store_get_many_keeps_the_rules_of_get(self, backend, corrupt):
        store = ChunkStore(backend)
        await store.open()
        good, rotten, twin_a, twin_b = blob(4096), blob(5000), blob(6000), blob(6000)
        for meta, payload in (good, rotten, twin_a, twin_b):
            await store.put(meta, payload)
        for meta, _ in (rotten, twin_a, twin_b):
            await corrupt(meta.chunk_id, 7)
        missing = blob(10)[0].chunk_id
        results = await store.get_many([
            (good[0].chunk_id, 4096), (rotten[0].chunk_id, 5000), (missing, 100),
            (good[0].chunk_id, 4095),
        ])
        assert [type(r).__name__ for r in results] == [
            "tuple", "ChunkCorrupt", "ChunkNotFound", "PayloadTooLarge",
        ]
        assert results[0] == (await store.get(good[0].chunk_id))
        assert store.take_corrupt_reports() == [rotten[0].chunk_id]  # quarantined, reported
        assert await backend.list_quarantined() == [rotten[0].chunk_id]
        # Unverified, a corrupt blob fares exactly as with get(verify=False): served as
        # stored where the backend cannot tell, refused and quarantined where it can.
        [batched] = await store.get_many([(twin_a[0].chunk_id, 6000)], verify=False)
        try:
            single: object = await store.get(twin_b[0].chunk_id, verify=False)
        except ChunkCorrupt as exc:
            single = exc
        assert type(batched) is type(single)
        if isinstance(batched, tuple):
            assert batched[1] != twin_a[1] and len(batched[1]) == 6000
        assert store.corrupt_blobs_found == (1 if isinstance(single, tuple) else 3)
        with pytest.raises(InvalidInput):
            await store.get_many([("not-an-id", 10)])

    async def test_scrubber_finds_a_flipped_byte(self, backend, corrupt):
        store = ChunkStore(backend)
        await store.open()
        good, bad = blob(5000), blob(6000)
        await store.put(*good)
        await store.put(*bad)
        await corrupt(bad[0].chunk_id, 0)
        report = await Scrubber(store, bytes_per_second=0, batch_size=1).run_once()
        assert report.corrupt_chunk_ids == [bad[0].chunk_id]
        assert report.chunks_checked == 2
        assert await backend.list_quarantined() == [bad[0].chunk_id]
        assert (await store.get(good[0].chunk_id))[1] == good[1]

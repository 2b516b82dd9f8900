"""Volumes on a real disk folder: recovery after a crash, tombstones, compaction.

The crash cases are made the way a crash leaves the files (a needle cut short at the
end, index-log lines never written, a byte flipped by bit rot), then the volumes are
opened again as a restarted worker would.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from common.errors import ChunkCorrupt, ChunkNotFound
from tests.unit.worker.backend_contract import blob
from worker.backends.local_volumes import LocalVolumesBackend
from worker.backends.volumes.compaction import compact_volume
from worker.backends.volumes.needle import (
    IDX_ENTRY_SIZE,
    KIND_PUT,
    NEEDLE_HEADER_SIZE,
    SUPERBLOCK_SIZE,
    encode_needle,
)
from worker.scrubber import Scrubber
from worker.store import ChunkStore


async def opened(root: Path, **options: object) -> LocalVolumesBackend:
    backend = LocalVolumesBackend(root, **options)  # type: ignore[arg-type]
    await backend.open()
    return backend


def active_files(backend: LocalVolumesBackend) -> tuple[Path, Path]:
    active = backend.volumes.active
    assert active is not None
    return active.path, active.idx_path


async def test_a_torn_tail_is_cut_at_restart_and_never_served(tmp_path: Path):
    backend = await opened(tmp_path)
    acknowledged = [blob(3000) for _ in range(5)]
    assert await backend.put_many(acknowledged) == [True] * 5
    vol_path, _ = active_files(backend)
    durable_size = vol_path.stat().st_size
    await backend.close()
    # A crash in the middle of the next append: half a needle at the end of the file.
    torn_meta, torn_payload = blob(5000)
    needle = encode_needle(KIND_PUT, torn_meta.chunk_id, codec=torn_meta.codec,
                           raw_size=torn_meta.raw_size, blob_sha256=torn_meta.blob_sha256,
                           mtime_ns=1, payload=torn_payload)
    with vol_path.open("ab") as volume_file:
        volume_file.write(needle[: len(needle) // 2])

    restarted = await opened(tmp_path)
    try:
        assert vol_path.stat().st_size == durable_size  # the torn tail is gone from disk
        assert await restarted.exists([torn_meta.chunk_id]) == [False]
        with pytest.raises(ChunkNotFound):
            await restarted.get(torn_meta.chunk_id)
        for meta, payload in acknowledged:
            assert (await restarted.get(meta.chunk_id)).data == payload
        assert restarted.usage().chunk_count == 5
        assert await restarted.put(torn_meta, torn_payload) is True  # appends after the cut
    finally:
        await restarted.close()
    again = await opened(tmp_path)
    try:
        assert (await again.get(torn_meta.chunk_id)).data == torn_payload
        assert again.usage().chunk_count == 6
    finally:
        await again.close()


async def test_needles_whose_index_lines_were_never_written_are_found_by_scanning(tmp_path):
    backend = await opened(tmp_path)
    first = [blob(1000) for _ in range(3)]
    second = [blob(2000) for _ in range(4)]
    await backend.put_many(first)
    await backend.put_many(second)
    _, idx_path = active_files(backend)
    await backend.close()
    # Killed after the fdatasync of the second batch, before its index lines.
    with idx_path.open("r+b") as idx_file:
        idx_file.truncate(SUPERBLOCK_SIZE + 3 * IDX_ENTRY_SIZE + 17)  # and one line torn

    restarted = await opened(tmp_path)
    try:
        for meta, payload in first + second:
            assert (await restarted.get(meta.chunk_id)).data == payload
        assert idx_path.stat().st_size == SUPERBLOCK_SIZE + 7 * IDX_ENTRY_SIZE  # repaired
    finally:
        await restarted.close()


async def test_a_lost_index_log_is_rebuilt_from_the_volume(tmp_path: Path):
    backend = await opened(tmp_path)
    pairs = [blob(700 + i) for i in range(20)]
    await backend.put_many(pairs)
    await backend.delete(pairs[0][0].chunk_id)
    _, idx_path = active_files(backend)
    await backend.close()
    idx_path.unlink()

    restarted = await opened(tmp_path)
    try:
        assert restarted.usage().chunk_count == 19
        assert await restarted.exists([pairs[0][0].chunk_id]) == [False]
        for meta, payload in pairs[1:]:
            assert (await restarted.get(meta.chunk_id)).data == payload
        assert idx_path.exists()
    finally:
        await restarted.close()


async def test_bit_rot_inside_a_volume_is_kept_for_the_scrubber_not_cut(tmp_path: Path):
    backend = await opened(tmp_path)
    pairs = [blob(4000) for _ in range(6)]
    await backend.put_many(pairs)
    victim = pairs[2][0].chunk_id
    backend.corrupt_for_test(victim, 100)
    vol_path, idx_path = active_files(backend)
    size = vol_path.stat().st_size
    await backend.close()
    idx_path.unlink()  # the whole file is read and checked at the next start

    store = ChunkStore(await opened(tmp_path))
    await store.open()
    try:
        assert vol_path.stat().st_size == size  # damage in the middle is not a torn tail
        for meta, payload in pairs:
            if meta.chunk_id != victim:
                assert (await store.get(meta.chunk_id))[1] == payload
        report = await Scrubber(store, bytes_per_second=0).run_once()
        assert report.corrupt_chunk_ids == [victim]
        assert store.take_corrupt_reports() == [victim]
        assert victim in await store.backend.list_quarantined()
        with pytest.raises(ChunkNotFound):
            await store.get(victim, verify=False)  # no longer served, even unverified
    finally:
        await store.close()


async def test_a_caller_verified_read_of_a_damaged_needle_fails_its_crc(tmp_path: Path):
    backend = await opened(tmp_path)
    store = ChunkStore(backend)
    await store.open()
    try:
        meta, payload = blob(2500)
        await store.put(meta, payload)
        backend.corrupt_for_test(meta.chunk_id, 7)
        with pytest.raises(ChunkCorrupt):
            await store.get(meta.chunk_id, verify=False)
        assert store.take_corrupt_reports() == [meta.chunk_id]
    finally:
        await store.close()


async def test_a_delete_stays_deleted_through_compaction_and_restart(tmp_path: Path):
    """The tombstone outlives compaction of its own volume while an older volume still
    holds the blob's needle; compacting that volume then drops the needle."""
    backend = await opened(tmp_path, compact_garbage_ratio=0.1)
    gone, kept = blob(3000), blob(3000)
    await backend.put_many([gone, kept])
    first_volume = backend.volumes.active
    assert first_volume is not None
    backend.volumes.rotate()
    assert await backend.delete(gone[0].chunk_id) is True  # tombstone in the second volume
    await backend.put(*blob(100))
    second_id = backend.volumes.active.volume_id  # type: ignore[union-attr]
    await asyncio.to_thread(compact_volume, backend.volumes, second_id)
    await backend.close()

    restarted = await opened(tmp_path)
    try:
        assert await restarted.exists([gone[0].chunk_id, kept[0].chunk_id]) == [False, True]
        await asyncio.to_thread(compact_volume, restarted.volumes, first_volume.volume_id)
        await asyncio.to_thread(compact_volume, restarted.volumes, second_id)
    finally:
        await restarted.close()
    again = await opened(tmp_path)
    try:
        assert await again.exists([gone[0].chunk_id, kept[0].chunk_id]) == [False, True]
        assert (await again.get(kept[0].chunk_id)).data == kept[1]
    finally:
        await again.close()


async def test_a_volume_is_compacted_again_when_more_of_it_becomes_garbage(tmp_path):
    backend = await opened(tmp_path, compact_garbage_ratio=0.2)
    pairs = [blob(3000) for _ in range(40)]
    await backend.put_many(pairs)
    for meta, _ in pairs[:10]:
        await backend.delete(meta.chunk_id)
    first = await asyncio.wait_for(backend.compactor.run_once(), timeout=30)
    for meta, _ in pairs[10:30]:
        await backend.delete(meta.chunk_id)
    second = await asyncio.wait_for(backend.compactor.run_once(), timeout=30)
    assert [r.volume_id for r in first] == [r.volume_id for r in second][:1]
    assert second[0].bytes_after < first[0].bytes_after
    for meta, payload in pairs[30:]:
        assert (await backend.get(meta.chunk_id)).data == payload
    await backend.close()


async def test_a_read_that_began_on_the_old_file_completes_after_compaction(tmp_path):
    backend = await opened(tmp_path)
    pairs = [blob(2000) for _ in range(10)]
    await backend.put_many(pairs)
    for meta, _ in pairs[:8]:
        await backend.delete(meta.chunk_id)
    survivor, payload = pairs[9]
    volume, location = backend.volumes._locate(survivor.chunk_id)  # a read in flight
    try:
        result = await asyncio.to_thread(compact_volume, backend.volumes, location.volume_id)
        assert result.bytes_after < result.bytes_before
        raw = volume.read(location.offset, NEEDLE_HEADER_SIZE + location.stored_size)
        assert raw[NEEDLE_HEADER_SIZE:] == payload  # the old inode is still readable
    finally:
        volume.release()
    assert volume.fd == -1  # closed once its last reader left
    assert (await backend.get(survivor.chunk_id)).data == payload
    await backend.close()


async def test_compaction_under_load_loses_nothing_and_reclaims_space(tmp_path: Path):
    """Writers, readers and deleters keep going while volumes are compacted."""
    backend = await opened(tmp_path, volume_size_bytes=2 << 20, compact_garbage_ratio=0.3)
    rng = random.Random(19)
    live: dict[str, bytes] = {}
    deleted: set[str] = set()
    for _ in range(20):
        batch = [blob(rng.randrange(500, 9000)) for _ in range(32)]
        await backend.put_many(batch)
        live.update((meta.chunk_id, payload) for meta, payload in batch)
    for chunk_id in rng.sample(sorted(live), len(live) * 2 // 3):
        assert await backend.delete(chunk_id)
        deleted.add(chunk_id)
        del live[chunk_id]
    before = backend.volumes.disk_bytes()
    stop = asyncio.Event()
    reads = writes = 0

    async def writer() -> None:
        nonlocal writes
        while not stop.is_set():
            batch = [blob(rng.randrange(500, 9000)) for _ in range(8)]
            await backend.put_many(batch)
            live.update((meta.chunk_id, payload) for meta, payload in batch)
            writes += len(batch)

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            chunk_id = rng.choice(sorted(live))
            payload = live[chunk_id]
            try:
                assert (await backend.get(chunk_id)).data == payload
            except ChunkNotFound:
                assert chunk_id in deleted  # the deleter took it meanwhile
            reads += 1

    async def deleter() -> None:
        while not stop.is_set():
            chunk_id = rng.choice(sorted(live))
            del live[chunk_id]
            deleted.add(chunk_id)
            assert await backend.delete(chunk_id) is True
            await asyncio.sleep(0)

    load = [asyncio.create_task(job()) for job in (writer, reader, reader, deleter)]
    try:
        results = await backend.compactor.run_once()
    finally:
        stop.set()
        await asyncio.gather(*load)
    assert results, "no volume was over the garbage ratio"
    assert reads > 0 and writes > 0  # neither was blocked for the whole compaction
    compacted = backend.volumes.disk_bytes()
    print(f"\ncompaction under load: volumes {before} -> {compacted} bytes on disk "
          f"({len(results)} volumes compacted; {reads} reads, {writes} writes during it)")
    assert sum(r.bytes_before - r.bytes_after for r in results) > before // 3
    for chunk_id, payload in live.items():
        assert (await backend.get(chunk_id)).data == payload
    assert await backend.exists(sorted(deleted)) == [False] * len(deleted)
    assert backend.usage().chunk_count == len(live)
    await backend.close()

    restarted = await opened(tmp_path)
    try:
        assert restarted.usage().chunk_count == len(live)
        assert await restarted.exists(sorted(deleted)) == [False] * len(deleted)
        for chunk_id, payload in live.items():
            assert (await restarted.get(chunk_id)).data == payload
    finally:
        await restarted.close()


async def test_volumes_rotate_at_their_size_and_blobs_over_the_threshold_get_files(tmp_path):
    backend = await opened(tmp_path, volume_size_bytes=64 * 1024, max_blob_bytes=16 * 1024)
    try:
        small = [blob(10_000) for _ in range(12)]
        large = blob(20_000)
        for pair in small:
            await backend.put(*pair)
        await backend.put(*large)
        assert len(backend.volumes.volumes) >= 2
        assert backend.files.blob_path(large[0].chunk_id).is_file()
        assert not any(backend.files.blob_path(m.chunk_id).exists() for m, _ in small)
        listed = [entry.chunk_id for entry in await backend.list("", 100)]
        assert listed == sorted([m.chunk_id for m, _ in small] + [large[0].chunk_id])
    finally:
        await backend.close()


def test_a_volume_file_created_but_never_started_is_dropped(tmp_path: Path):
    folder = tmp_path / "data" / "volumes"
    folder.mkdir(parents=True)
    (folder / "00000001.vol").write_bytes(b"")  # the crash came before the superblock

    async def check() -> None:
        backend = await opened(tmp_path / "data")
        try:
            meta, payload = blob(100)
            await backend.put(meta, payload)
            assert (await backend.get(meta.chunk_id)).data == payload
        finally:
            await backend.close()

    asyncio.run(check())
    assert os.path.getsize(folder / "00000001.vol") > SUPERBLOCK_SIZE

"""The volumes backend skips the file layout's paths only while it provably holds nothing.

A worker that stores only small blobs must not stat two missing blob files per put,
but a blob in the one-file-per-blob layout (a large one, one written before volumes
were turned on, one a put is writing right now) must always be found: by ``exists``,
by ``put_absent`` (dedup answers already present) and when a small put of its id
replaces it. Each test walks one way the file layout gains or loses a blob: puts,
deletes, quarantine, a restart over an existing folder, a large put in flight.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.unit.worker.backend_contract import blob
from worker.backends.base import BlobMeta
from worker.backends.local import LocalBackend
from worker.backends.local_volumes import LocalVolumesBackend
from worker.store import ChunkStore

SMALL_MAX = 16 * 1024


async def opened(root: Path) -> LocalVolumesBackend:
    backend = LocalVolumesBackend(root, max_blob_bytes=SMALL_MAX)
    await backend.open()
    return backend


def as_small(meta: BlobMeta) -> tuple[BlobMeta, bytes]:
    """The same id with a small stored form (as a different codec would give)."""
    payload = b"s" * 100
    return BlobMeta(meta.chunk_id, meta.codec, meta.raw_size, len(payload),
                    meta.blob_sha256), payload


async def test_a_worker_that_only_stores_small_blobs_never_touches_file_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    backend = await opened(tmp_path)
    store = ChunkStore(backend)
    await store.open()
    looked: list[str] = []
    real_blob_path = backend.files.blob_path
    monkeypatch.setattr(backend.files, "blob_path",
                        lambda chunk_id: looked.append(chunk_id) or real_blob_path(chunk_id))
    try:
        batch = [blob(4096) for _ in range(5)]
        first = await store.put_many(batch)
        again = await store.put_many(batch)
        assert [r.already_present for r in first] == [False] * 5  # type: ignore[union-attr]
        assert [r.already_present for r in again] == [True] * 5  # type: ignore[union-attr]
        assert await backend.exists([m.chunk_id for m, _ in batch]) == [True] * 5
        await store.delete(batch[0][0].chunk_id)
        assert await backend.exists([batch[0][0].chunk_id]) == [False]
        assert looked == []
    finally:
        await store.close()


async def test_a_large_blob_is_found_until_it_leaves_the_file_layout(tmp_path: Path):
    backend = await opened(tmp_path)
    try:
        large = blob(SMALL_MAX + 1000)
        other = blob(100)
        assert await backend.put(*large)
        assert await backend.exists([large[0].chunk_id, other[0].chunk_id]) == [True, False]
        # A small put of its id sees it (dedup) and, when made, replaces the file.
        assert await backend.put_absent([as_small(large[0]), other]) == [None, True]
        assert await backend.put_many([as_small(large[0])]) == [False]
        assert not backend.files.blob_path(large[0].chunk_id).exists()
        assert await backend.exists([large[0].chunk_id]) == [True]

        for remove in (backend.delete, backend.quarantine):
            again = blob(SMALL_MAX + 1000)
            assert await backend.put(*again)
            assert await backend.put_absent([as_small(again[0])]) == [None]
            assert await remove(again[0].chunk_id)
            assert await backend.exists([again[0].chunk_id]) == [False]
            assert await backend.put_absent([as_small(again[0])]) == [True]
    finally:
        await backend.close()


async def test_blobs_left_in_the_file_layout_by_an_earlier_run_are_found(tmp_path: Path):
    old = LocalBackend(tmp_path)  # a worker that ran before volumes were turned on
    await old.open()
    earlier = blob(4096)
    await old.put(*earlier)
    await old.close()

    backend = await opened(tmp_path)
    store = ChunkStore(backend)
    await store.open()
    try:
        assert await backend.exists([earlier[0].chunk_id]) == [True]
        (result,) = await store.put_many([earlier])
        assert result.already_present  # type: ignore[union-attr]
        assert backend.files.blob_path(earlier[0].chunk_id).is_file()  # proven, kept
    finally:
        await store.close()


async def test_the_file_layout_counts_as_holding_blobs_while_a_large_put_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The rename into place and the count after it are not one step: a put still
    running keeps the file paths looked at, whatever the count says meanwhile."""
    backend = await opened(tmp_path)
    started = threading.Event()
    release = threading.Event()
    real_put_many_sync = backend.files._put_many_sync

    def held_put_many_sync(items):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(10)
        return real_put_many_sync(items)

    monkeypatch.setattr(backend.files, "_put_many_sync", held_put_many_sync)
    large = blob(SMALL_MAX + 1000)
    try:
        assert not backend._files_may_hold()
        writing = asyncio.create_task(backend.put(*large))
        assert await asyncio.to_thread(started.wait, 10)
        assert backend._files_may_hold()  # nothing renamed or counted yet
        release.set()
        assert await writing
        assert backend._files_may_hold()
        assert await backend.put_absent([as_small(large[0])]) == [None]
        assert await backend.delete(large[0].chunk_id)
        assert not backend._files_may_hold()
    finally:
        release.set()
        await backend.close()


async def test_a_cancelled_large_put_still_counts_until_its_thread_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Cancelling the caller does not stop the thread, which may still rename the file
    into place: until that thread is done the file paths are still looked at."""
    backend = await opened(tmp_path)
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()
    real_put_many_sync = backend.files._put_many_sync

    def held_put_many_sync(items):  # type: ignore[no-untyped-def]
        started.set()
        release.wait(10)
        try:
            return real_put_many_sync(items)
        finally:
            finished.set()

    monkeypatch.setattr(backend.files, "_put_many_sync", held_put_many_sync)
    large = blob(SMALL_MAX + 1000)
    try:
        writing = asyncio.create_task(backend.put(*large))
        assert await asyncio.to_thread(started.wait, 10)
        writing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writing
        assert backend._files_may_hold()  # the thread may still rename the file
        release.set()
        assert await asyncio.to_thread(finished.wait, 10)
        assert await backend.put_absent([as_small(large[0])]) == [None]  # it did
    finally:
        release.set()
        await backend.close()

"""Replacing a file is atomic: a reader gets the old or the new version, never a mix."""

from __future__ import annotations

import asyncio
import os
import time

from tests.support.api import ApiClient

MiB = 1024 * 1024


async def test_a_download_in_progress_keeps_streaming_the_version_it_started(
    api: ApiClient,
) -> None:
    old, new = os.urandom(6 * MiB), os.urandom(6 * MiB)
    status, _ = await api.upload_raw(old, "atomic/doc.bin")
    assert status == 201
    url = api.fs_url("atomic/doc.bin")
    async with api.session.get(url, headers=api.auth) as response:
        first = await response.content.readexactly(MiB)
        status, _ = await api.upload_raw(new, "atomic/doc.bin")
        assert status == 201
        rest = await response.read()
    assert first + rest == old
    async with api.session.get(url, headers=api.auth) as response:
        assert await response.read() == new


async def test_readers_racing_overwrites_see_whole_versions_only(api: ApiClient) -> None:
    versions = [os.urandom(2 * MiB + 11) for _ in range(4)]
    status, _ = await api.upload_raw(versions[0], "atomic/race.bin")
    assert status == 201
    url = api.fs_url("atomic/race.bin")
    seen: list[bytes] = []
    reads: list[tuple[float, float]] = []  # (started, ended) of each read
    writes: list[tuple[float, float]] = []  # (started, ended) of each overwrite
    writer_done = asyncio.Event()

    async def reader() -> None:
        # At least 12 reads each, and keep reading until the last overwrite is in, so the
        # reads cover the whole time the writer runs.
        count = 0
        while count < 12 or not writer_done.is_set():
            started = time.monotonic()
            async with api.session.get(url, headers=api.auth) as response:
                assert response.status == 200
                seen.append(await response.read())
            reads.append((started, time.monotonic()))
            count += 1

    async def writer() -> None:
        try:
            for version in versions[1:]:
                started = time.monotonic()
                status, _ = await api.upload_raw(version, "atomic/race.bin")
                assert status == 201
                writes.append((started, time.monotonic()))
        finally:
            writer_done.set()

    await asyncio.gather(reader(), reader(), writer())
    assert seen
    assert all(body in versions for body in seen)
    # The race really happened: reads ran while overwrites were in flight. A read overlaps
    # a write when it started before the write ended and ended after the write started.
    overlaps = [(r, w) for r in reads for w in writes if r[0] < w[1] and r[1] > w[0]]
    overlapped_writes = {w for _, w in overlaps}
    assert len(writes) == len(versions) - 1
    assert len(overlaps) >= len(writes), (len(overlaps), reads, writes)
    assert overlapped_writes == set(writes), "an overwrite ran with no read in flight"

"""Replacing a file is atomic: a reader gets the old or the new version, never a mix."""

from __future__ import annotations

import asyncio
import os

from tests.support.api import ApiClient

MiB = 1024 * 1024


async def test_a_download_in_progress_keeps_streaming_the_version_it_started(api: ApiClient) -> None:
    old, new = os.urandom(6 * MiB), os.urandom(6 * MiB)
    status, _ = await api.upload_raw(old, "atomic/doc.bin")
    assert status == 201
    url = f"{api.base_url}/api/v1/fs/atomic/doc.bin"
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
    await api.upload_raw(versions[0], "atomic/race.bin")
    url = f"{api.base_url}/api/v1/fs/atomic/race.bin"
    seen: list[bytes] = []

    async def reader() -> None:
        for _ in range(12):
            async with api.session.get(url, headers=api.auth) as response:
                assert response.status == 200
                seen.append(await response.read())

    async def writer() -> None:
        for version in versions[1:]:
            status, _ = await api.upload_raw(version, "atomic/race.bin")
            assert status == 201

    await asyncio.gather(reader(), reader(), writer())
    assert seen
    assert all(body in versions for body in seen)

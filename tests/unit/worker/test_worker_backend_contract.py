"""The backend contract bound to the memory, local and local-with-volumes backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.unit.worker.backend_contract import BackendContract
from worker.backends.base import ChunkBackend
from worker.backends.local import HEADER_SIZE, LocalBackend
from worker.backends.local_volumes import LocalVolumesBackend
from worker.backends.memory import MemoryBackend


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[MemoryBackend]:
        backend = MemoryBackend()
        await backend.open()
        yield backend
        await backend.close()

    @pytest.fixture
    def corrupt(self, backend: MemoryBackend) -> Callable[[str, int], Awaitable[None]]:
        async def flip(chunk_id: str, position: int) -> None:
            backend.corrupt_for_test(chunk_id, position)

        return flip

    @pytest.fixture
    def reopen(self) -> Callable[[], Awaitable[ChunkBackend | None]]:
        async def nothing() -> None:
            return None

        return nothing


class TestLocalBackend(BackendContract):
    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[LocalBackend]:
        backend = LocalBackend(tmp_path / "data")
        await backend.open()
        yield backend
        await backend.close()

    @pytest.fixture
    def corrupt(self, backend: LocalBackend) -> Callable[[str, int], Awaitable[None]]:
        async def flip(chunk_id: str, position: int) -> None:
            path = backend.blob_path(chunk_id)
            with path.open("r+b") as blob_file:
                blob_file.seek(HEADER_SIZE + position)
                byte = blob_file.read(1)
                blob_file.seek(HEADER_SIZE + position)
                blob_file.write(bytes([byte[0] ^ 0x01]))

        return flip

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], Awaitable[ChunkBackend | None]]:
        async def fresh() -> ChunkBackend:
            backend = LocalBackend(tmp_path / "data")
            await backend.open()
            return backend

        return fresh


class TestLocalVolumesBackend(BackendContract):
    """Small blobs in volume files, large ones (> 64 KiB here) as files: both layouts
    are exercised by the contract's mix of sizes."""

    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[LocalVolumesBackend]:
        backend = LocalVolumesBackend(tmp_path / "data", max_blob_bytes=64 * 1024)
        await backend.open()
        yield backend
        await backend.close()

    @pytest.fixture
    def corrupt(self, backend: LocalVolumesBackend) -> Callable[[str, int], Awaitable[None]]:
        async def flip(chunk_id: str, position: int) -> None:
            backend.corrupt_for_test(chunk_id, position)

        return flip

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Callable[[], Awaitable[ChunkBackend | None]]:
        async def fresh() -> ChunkBackend:
            backend = LocalVolumesBackend(tmp_path / "data", max_blob_bytes=64 * 1024)
            await backend.open()
            return backend

        return fresh

"""The backend contract bound to the memory and local backends (no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.unit.worker.backend_contract import BackendContract
from worker.backends.base import ChunkBackend
from worker.backends.local import HEADER_SIZE, LocalBackend
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

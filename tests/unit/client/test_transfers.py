"""The transfer engines over an in-memory stand-in for the master (this layer only: what
put and get decide to send and fetch, and how they resume)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from client.config import ClientConfig
from client.downloads import download, part_paths
from client.errors import ConnectionFailed
from client.models import Presence, Receipt, SessionInfo, SessionStatus
from client.protocol import RemoteStat
from client.retry import RetryPolicy
from client.state import (
    DownloadState,
    UploadStateStore,
    load_download_state,
    save_download_state,
)
from client.uploads import hash_file, upload
from common.errors import ChecksumMismatch, InvalidInput, NotFound

PIECE = 1000


@dataclass
class FakeMaster:
    """Sessions, held chunks and one stored file, in memory, answering like the SDK."""

    config: ClientConfig
    stored: bytes = b""
    held: set[str] = field(default_factory=set)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: list[int] = field(default_factory=list)
    referenced: list[int] = field(default_factory=list)
    ranges: list[int] = field(default_factory=list)
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(base_delay_s=0.0))
    breaks: list[int] = field(default_factory=list)  # cut a stream after this many bytes

    async def init_session(self, path: str, file_name: str, file_size: int, sha256: str,
                           chunk_size: int, consistency: str) -> SessionInfo:
        sid = f"s{len(self.sessions)}"
        total = -(-file_size // chunk_size)
        self.sessions[sid] = {"path": path, "size": file_size, "chunk": chunk_size,
                              "sha": sha256, "parts": {}, "state": "open", "total": total}
        return SessionInfo(sid, path, chunk_size, total)

    async def session_status(self, sid: str) -> SessionStatus:
        if sid not in self.sessions:
            raise NotFound(f"no upload session {sid}")
        s = self.sessions[sid]
        return SessionStatus(sid, s["state"], s["path"], s["size"], s["chunk"], s["total"],
                             tuple(sorted(s["parts"])), 0)

    async def chunks_has(self, chunk_ids: list[str]) -> Presence:
        return Presence(frozenset(c for c in chunk_ids if c in self.held))

    async def put_part(self, sid: str, index: int, data: bytes) -> dict[str, Any]:
        self.sent.append(index)
        self.sessions[sid]["parts"][index] = data
        return {}

    async def reference_part(self, sid: str, index: int, chunk_id: str) -> dict[str, Any]:
        self.referenced.append(index)
        self.sessions[sid]["parts"][index] = chunk_id
        return {}

    async def complete_session(self, sid: str) -> Receipt:
        s = self.sessions[sid]
        s["state"] = "completed"
        return Receipt("f", s["path"], s["size"], s["sha"], s["total"], 0, "C", 3, 3)

    async def abort_session(self, sid: str) -> dict[str, Any]:
        self.sessions[sid]["state"] = "aborted"
        return {}

    async def stat(self, path: str, version_id: str | None = None) -> RemoteStat:
        return RemoteStat(path, len(self.stored), hashlib.sha256(self.stored).hexdigest(), "")

    @asynccontextmanager
    async def stream_range(self, path: str, start: int, end: int, etag: str,
                           version_id: str | None = None,
                           ) -> AsyncIterator[AsyncIterator[bytes]]:
        """The range in blocks of one piece; ``ranges`` records each piece served."""
        cut = self.breaks.pop(0) if self.breaks else None

        async def blocks() -> AsyncIterator[bytes]:
            sent = 0
            for offset in range(start, end + 1, PIECE):
                self.ranges.append(offset // PIECE)
                block = self.stored[offset:min(end + 1, offset + PIECE)]
                if cut is not None and sent + len(block) > cut:
                    yield block[:cut - sent]
                    raise httpx.ReadError("connection reset")
                sent += len(block)
                yield block
        yield blocks()

    @asynccontextmanager
    async def stream_range_into(self, path: str, start: int, end: int, etag: str, fd: int,
                                version_id: str | None = None,
                                ) -> AsyncIterator[AsyncIterator[int]]:
        """``stream_range``'s bytes written into ``fd`` at their offsets, as the SDK's
        reading thread does."""
        async with self.stream_range(path, start, end, etag, version_id) as blocks:
            async def landed() -> AsyncIterator[int]:
                offset = start
                async for block in blocks:
                    os.pwrite(fd, block, offset)
                    offset += len(block)
                    yield len(block)
            yield landed()


class Stop(Exception):
    pass


class StopAfter:
    def __init__(self, parts: int) -> None:
        self.left = parts

    def start(self, description: str, total_bytes: int, done_bytes: int) -> None:
        return None

    def advance(self, nbytes: int) -> None:
        self.left -= 1
        if self.left == 0:
            raise Stop

    def finish(self) -> None:
        return None


@pytest.fixture
def master(tmp_path: Path) -> FakeMaster:
    return FakeMaster(ClientConfig(("http://m:1",), "t", None, tmp_path / "cfg"))


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "local.bin"
    path.write_bytes(os.urandom(size))
    return path


async def test_put_stopped_then_rerun_sends_only_what_the_session_lacks(
    master: FakeMaster, tmp_path: Path
) -> None:
    local = _file(tmp_path, 10 * PIECE + 1)
    with pytest.raises(Stop):
        await upload(master, local, "r/x", parallel=1, chunk_size=PIECE,  # type: ignore[arg-type]
                     progress=StopAfter(4))
    assert master.sent == [0, 1, 2, 3]
    result = await upload(master, local, "r/x", parallel=3, chunk_size=PIECE)  # type: ignore[arg-type]
    assert result.resumed and result.chunks_already_received == 4
    assert sorted(master.sent[4:]) == list(range(4, 11)) and result.chunks_sent == 7
    assert len(master.sessions) == 1  # the same session, completed
    assert UploadStateStore(master.config.directory).find(
        UploadStateStore.key(local, "r/x", master.config.urls)) is None


async def test_put_references_chunks_the_cluster_holds_instead_of_sending_them(
    master: FakeMaster, tmp_path: Path
) -> None:
    local = _file(tmp_path, 3 * PIECE)
    data = local.read_bytes()
    master.held = {hashlib.sha256(data[PIECE:2 * PIECE]).hexdigest()}
    result = await upload(master, local, "r/x", chunk_size=PIECE)  # type: ignore[arg-type]
    assert master.referenced == [1] and sorted(master.sent) == [0, 2]
    assert result.chunks_referenced == 1 and result.bytes_sent == 2 * PIECE


async def test_a_file_changed_since_its_session_began_gets_a_new_session(
    master: FakeMaster, tmp_path: Path
) -> None:
    local = _file(tmp_path, 5 * PIECE)
    with pytest.raises(Stop):
        await upload(master, local, "r/x", parallel=1, chunk_size=PIECE,  # type: ignore[arg-type]
                     progress=StopAfter(2))
    local.write_bytes(os.urandom(5 * PIECE))
    result = await upload(master, local, "r/x", chunk_size=PIECE)  # type: ignore[arg-type]
    assert not result.resumed and result.chunks_sent == 5
    assert master.sessions["s0"]["state"] == "aborted"  # the old one is released


async def test_get_resumes_from_the_part_file_and_fetches_only_the_rest(
    master: FakeMaster, tmp_path: Path
) -> None:
    master.stored = os.urandom(7 * PIECE + 3)
    dest = tmp_path / "out.bin"
    with pytest.raises(Stop):
        await download(master, "r/x", dest, parallel=1, range_size=PIECE,  # type: ignore[arg-type]
                       progress=StopAfter(3))
    assert master.ranges == [0, 1, 2] and part_paths(dest)[0].exists()
    result = await download(master, "r/x", dest, parallel=2, range_size=PIECE)  # type: ignore[arg-type]
    assert result.resumed and sorted(master.ranges[3:]) == [3, 4, 5, 6, 7]
    assert dest.read_bytes() == master.stored
    assert not part_paths(dest)[0].exists() and not part_paths(dest)[1].exists()


async def test_a_part_file_that_lies_is_caught_by_the_hash_and_fetched_again(
    master: FakeMaster, tmp_path: Path
) -> None:
    master.stored = os.urandom(4 * PIECE)
    dest = tmp_path / "out.bin"
    part, record = part_paths(dest)
    part.write_bytes(b"\0" * (4 * PIECE))  # the record claims ranges 0 and 1; they are zeros
    save_download_state(record, DownloadState(
        "r/x", hashlib.sha256(master.stored).hexdigest(), 4 * PIECE, PIECE, (0, 1)))
    result = await download(master, "r/x", dest, range_size=PIECE)  # type: ignore[arg-type]
    assert dest.read_bytes() == master.stored and not result.resumed
    assert sorted(master.ranges) == [0, 1, 2, 2, 3, 3]


async def test_a_stream_that_breaks_off_is_asked_again_from_its_first_unfinished_piece(
    master: FakeMaster, tmp_path: Path
) -> None:
    master.stored = os.urandom(6 * PIECE + 11)
    master.breaks = [2 * PIECE + PIECE // 2]  # the first request dies inside piece 2
    dest = tmp_path / "out.bin"
    result = await download(master, "r/x", dest, parallel=1, range_size=PIECE)  # type: ignore[arg-type]
    assert dest.read_bytes() == master.stored and not result.resumed
    assert master.ranges == [0, 1, 2, 2, 3, 4, 5, 6]  # pieces 0 and 1 were not asked again
    assert result.bytes_fetched == len(master.stored)


async def test_a_stream_that_keeps_breaking_gives_up_and_keeps_its_part_file(
    master: FakeMaster, tmp_path: Path
) -> None:
    master.stored = os.urandom(3 * PIECE)
    master.breaks = [PIECE + 1] + [10] * 10
    dest = tmp_path / "out.bin"
    with pytest.raises(ConnectionFailed):
        await download(master, "r/x", dest, parallel=1, range_size=PIECE)  # type: ignore[arg-type]
    assert load_download_state(part_paths(dest)[1]).done == (0,)  # type: ignore[union-attr]


async def test_bytes_that_never_verify_are_an_integrity_error(
    master: FakeMaster, tmp_path: Path
) -> None:
    master.stored = os.urandom(2 * PIECE)

    async def wrong_stat(path: str, version_id: str | None = None) -> RemoteStat:
        return RemoteStat(path, 2 * PIECE, "0" * 64, "")
    master.stat = wrong_stat  # type: ignore[method-assign]
    with pytest.raises(ChecksumMismatch):
        await download(master, "r/x", tmp_path / "out.bin", range_size=PIECE)  # type: ignore[arg-type]
    assert not (tmp_path / "out.bin").exists()


@pytest.mark.parametrize("chunk_size", [64 * 1024, 3 * 1024 * 1024, 4 * 1024 * 1024])
def test_the_hash_pass_gives_the_files_and_each_chunks_sha256(tmp_path: Path,
                                                              chunk_size: int) -> None:
    data = os.urandom(9 * 1024 * 1024 + 123)  # several read blocks, a short last chunk
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    chunk_ids = [hashlib.sha256(data[i:i + chunk_size]).hexdigest()
                 for i in range(0, len(data), chunk_size)]
    assert hash_file(path, len(data), chunk_size) == (hashlib.sha256(data).hexdigest(),
                                                      chunk_ids)


def test_a_file_that_is_not_its_stated_size_fails_the_hash_pass(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(InvalidInput, match="grew"):
        hash_file(path, 4999, 1000)
    with pytest.raises(InvalidInput, match="shrank"):
        hash_file(path, 5001, 1000)

"""put -r / get -r over an in-memory stand-in for the master: what is scanned, what is
skipped because the other side has the same SHA-256, and which failures stop a run."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.config import ClientConfig
from client.models import DirEntry, Presence, Receipt, SessionInfo
from client.models_ops import MkdirResult
from client.protocol import RemoteStat
from client.trees import TreeOptions, download_tree, scan_local, upload_tree
from common.errors import Conflict, InvalidInput, NotFound, Unauthenticated

PIECE = 1000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FakeStore:
    """Files by ``bucket/path`` and directories, answering like the SDK's AsyncClient."""

    config: ClientConfig
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    puts: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    refuse: dict[str, Exception] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def walk(self, remote: str) -> list[DirEntry]:
        prefix = remote + "/"
        below = {p: d for p, d in self.files.items() if p.startswith(prefix)}
        dirs = {d for d in self.dirs if d.startswith(prefix)}
        if not below and not dirs and remote not in self.dirs:
            raise NotFound(f"no directory {remote}/")
        entries = [DirEntry(p[len(prefix):], "file", len(d), _sha(d), "t")
                   for p, d in below.items()]
        entries += [DirEntry(d[len(prefix):], "dir", 0, "", "t") for d in dirs]
        return sorted(entries, key=lambda e: e.name)

    async def stat(self, remote: str, version_id: str | None = None) -> RemoteStat:
        if remote not in self.files:
            raise NotFound(f"no file at {remote}")
        return RemoteStat(remote, len(self.files[remote]), _sha(self.files[remote]), "")

    async def put_file(self, remote: str, data: bytes, consistency: str = "auto") -> Receipt:
        if remote in self.refuse:
            raise self.refuse[remote]
        self.puts.append(remote)
        self.files[remote] = data
        return Receipt("f", remote, len(data), _sha(data), 1, 0, "C", 3, 3)

    async def init_session(self, path: str, file_name: str, file_size: int, sha256: str,
                           chunk_size: int, consistency: str) -> SessionInfo:
        sid = f"s{len(self.sessions)}"
        self.sessions[sid] = {"path": path, "parts": {}, "sha": sha256}
        return SessionInfo(sid, path, chunk_size, -(-file_size // chunk_size))

    async def chunks_has(self, chunk_ids: list[str]) -> Presence:
        return Presence(frozenset())

    async def put_part(self, sid: str, index: int, data: bytes) -> dict[str, Any]:
        self.sessions[sid]["parts"][index] = data
        return {}

    async def complete_session(self, sid: str) -> Receipt:
        session = self.sessions[sid]
        data = b"".join(session["parts"][i] for i in sorted(session["parts"]))
        self.puts.append(session["path"])
        self.files[session["path"]] = data
        return Receipt("f", session["path"], len(data), _sha(data), 1, 0, "C", 3, 3)

    async def mkdir(self, remote: str) -> MkdirResult:
        self.dirs.add(remote)
        return MkdirResult("b", remote, True)

    @asynccontextmanager
    async def stream_range(self, remote: str, start: int, end: int, etag: str,
                           version_id: str | None = None,
                           ) -> AsyncIterator[AsyncIterator[bytes]]:
        if remote in self.refuse:
            raise self.refuse[remote]
        self.reads.append(remote)

        async def blocks() -> AsyncIterator[bytes]:
            yield self.files[remote][start:end + 1]
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


@pytest.fixture
def store(tmp_path: Path) -> FakeStore:
    return FakeStore(ClientConfig(("http://m:1",), "t", None, tmp_path / "cfg"))


def _tree(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha", "sub/b.bin": os.urandom(2500), "sub/deep/c": b"",
             "z.txt": b"zed"}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty" / "leaf").mkdir(parents=True)
    return files


def test_scan_lists_regular_files_in_order_and_leaf_directories_and_skips_the_rest(
    tmp_path: Path
) -> None:
    root = tmp_path / "src"
    _tree(root)
    (root / "link-to-a").symlink_to(root / "a.txt")
    (root / "loop").symlink_to(root)
    (root / "broken").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")
    scanned = scan_local(root)
    assert [f.rel for f in scanned.files] == ["a.txt", "link-to-a", "sub/b.bin", "sub/deep/c",
                                              "z.txt"]
    assert scanned.empty_dirs == ["empty/leaf"]
    assert sorted(scanned.skipped) == ["broken", "fifo", "loop"]
    with pytest.raises(InvalidInput):
        scan_local(root / "a.txt")


async def test_put_r_sends_what_differs_and_skips_what_has_the_same_sha256(
    store: FakeStore, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    files = _tree(root)
    store.files["b/t/a.txt"] = b"alpha"           # the same: skipped
    store.files["b/t/z.txt"] = b"zzz"             # same size, other bytes: sent
    options = TreeOptions(transfers=2, parallel=2, chunk_size=PIECE)
    result = await upload_tree(store, root, "b/t", options)  # type: ignore[arg-type]
    assert sorted(store.puts) == ["b/t/sub/b.bin", "b/t/sub/deep/c", "b/t/z.txt"]
    assert {p: store.files[f"b/t/{p}"] for p in files} == files
    assert store.dirs == {"b/t/empty/leaf"}
    assert (result.files_total, result.files_transferred, result.files_skipped) == (4, 3, 1)
    assert result.bytes_moved == 2500 + 0 + 3 and result.dirs_created == 1

    store.puts.clear()
    again = await upload_tree(store, root, "b/t", options)  # type: ignore[arg-type]
    assert store.puts == [] and again.files_skipped == 4 and again.bytes_moved == 0


async def test_one_file_that_fails_is_listed_and_the_others_go_on(
    store: FakeStore, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    _tree(root)
    store.refuse["b/t/a.txt"] = Conflict("a directory is there")
    result = await upload_tree(store, root, "b/t", TreeOptions(transfers=1))  # type: ignore[arg-type]
    assert [(f.path, f.code) for f in result.failed] == [("a.txt", "conflict")]
    assert result.files_transferred == 3 and "b/t/z.txt" in store.files


async def test_a_failure_that_concerns_the_whole_run_stops_it(
    store: FakeStore, tmp_path: Path
) -> None:
    root = tmp_path / "src"
    _tree(root)
    store.refuse["b/t/a.txt"] = Unauthenticated("token expired")
    with pytest.raises(Unauthenticated):
        await upload_tree(store, root, "b/t", TreeOptions(transfers=1))  # type: ignore[arg-type]
    assert "b/t/z.txt" not in store.files


async def test_put_r_onto_a_remote_file_is_refused(store: FakeStore, tmp_path: Path) -> None:
    root = tmp_path / "src"
    _tree(root)
    store.files["b/t"] = b"a file"
    with pytest.raises(InvalidInput, match="is a file"):
        await upload_tree(store, root, "b/t", TreeOptions())  # type: ignore[arg-type]


async def test_get_r_fetches_what_differs_and_refuses_names_that_leave_the_folder(
    store: FakeStore, tmp_path: Path
) -> None:
    store.files.update({"b/t/a.txt": b"alpha", "b/t/sub/b.bin": os.urandom(2100),
                        "b/t/empty": b""})
    store.dirs.update({"b/t/sub", "b/t/d/e"})
    dest = tmp_path / "out"
    (dest / "sub").mkdir(parents=True)
    (dest / "a.txt").write_bytes(b"alpha")  # already here: skipped
    result = await download_tree(store, "b/t", dest, TreeOptions(parallel=2))  # type: ignore[arg-type]
    assert store.reads == ["b/t/sub/b.bin"]  # one range; the empty file needs none
    assert (dest / "sub/b.bin").read_bytes() == store.files["b/t/sub/b.bin"]
    assert (dest / "empty").read_bytes() == b"" and (dest / "d/e").is_dir()
    assert (result.files_skipped, result.files_transferred, result.dirs_created) == (1, 2, 1)

    store.files["b/t/../escape"] = b"x"
    store.files["b/t/sub"] = b"a file where a local directory is"
    again = await download_tree(store, "b/t", dest, TreeOptions())  # type: ignore[arg-type]
    assert sorted(f.path for f in again.failed) == ["../escape", "sub"]
    assert not (tmp_path / "escape").exists() and again.files_skipped == 3

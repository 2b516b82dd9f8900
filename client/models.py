"""Typed results of the SDK: what the master's JSON answers mean, as frozen dataclasses.

Each has ``from_json`` (the server's shape, DESIGN §8) and ``to_json`` (what the CLI's
``--json`` prints), so a script reading the CLI and one using the SDK see the same fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BucketEntry",
    "ChunkInfo",
    "ClusterHealth",
    "DeleteResult",
    "DirEntry",
    "DirPage",
    "DownloadResult",
    "FileInfo",
    "Login",
    "Presence",
    "Profile",
    "Receipt",
    "SessionInfo",
    "SessionStatus",
    "UploadResult",
    "WorkerHealth",
]


class _Json:
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass(frozen=True, slots=True)
class Login(_Json):
    token: str
    expires_in_s: int
    user_id: int
    username: str
    home_bucket: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Login:
        return cls(str(data["token"]), int(data.get("expires_in", 0)), int(data["user_id"]),
                   str(data["username"]), str(data.get("home_bucket", "")))

    def to_json(self) -> dict[str, Any]:  # never print the token
        return {"user_id": self.user_id, "username": self.username,
                "expires_in_s": self.expires_in_s, "home_bucket": self.home_bucket}


@dataclass(frozen=True, slots=True)
class DirEntry(_Json):
    """One entry of a directory listing: a file, or a directory (``type == "dir"``)."""

    name: str
    type: str
    size: int
    etag: str
    modified: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirEntry:
        return cls(str(data["name"]), str(data["type"]), int(data.get("size") or 0),
                   str(data.get("etag") or ""), str(data.get("modified") or ""))


@dataclass(frozen=True, slots=True)
class DirPage(_Json):
    """One page of ``GET /api/v1/fs/{bucket}/{dir}/``; ``next_cursor`` None at the end."""

    bucket: str
    path: str
    entries: tuple[DirEntry, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirPage:
        cursor = data.get("next_cursor")
        return cls(str(data.get("bucket", "")), str(data.get("path") or ""),
                   tuple(DirEntry.from_json(e) for e in data.get("entries", [])),
                   str(cursor) if cursor else None)


@dataclass(frozen=True, slots=True)
class BucketEntry(_Json):
    """A bucket the caller can reach: its permission, usage and settings (DESIGN §11).

    ``keep_versions``/``keep_days`` (retention) and the quotas are None when unset.
    """

    name: str
    permission: str
    used_bytes: int
    files: int
    home: bool
    versioning: bool = False
    keep_versions: int | None = None
    keep_days: int | None = None
    quota_bytes: int | None = None
    quota_files: int | None = None
    state: str = ""
    created_at: str = ""
    group: str | None = None  # the group the bucket is charged to (its quota counts it)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BucketEntry:
        return cls(str(data["name"]), str(data.get("permission", "")),
                   int(data.get("used_bytes") or 0), int(data.get("files") or 0),
                   bool(data.get("home", False)), bool(data.get("versioning", False)),
                   _int_or_none(data.get("keep_versions")), _int_or_none(data.get("keep_days")),
                   _int_or_none(data.get("quota_bytes")), _int_or_none(data.get("quota_files")),
                   str(data.get("state") or ""), str(data.get("created_at") or ""),
                   None if data.get("group") is None else str(data["group"]))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class Profile(_Json):
    """Who the token belongs to (``GET /api/v1/auth/profile``)."""

    user_id: int
    username: str
    is_admin: bool
    home_bucket: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        return cls(int(data["user_id"]), str(data["username"]), bool(data.get("is_admin")),
                   str(data.get("home_bucket") or ""))


@dataclass(frozen=True, slots=True)
class DeleteResult(_Json):
    """A deleted file (in a versioned bucket: a delete marker is now its current version)."""

    file_id: str
    bucket: str
    path: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeleteResult:
        return cls(str(data.get("file_id") or ""), str(data.get("bucket") or ""),
                   str(data.get("path") or ""))


@dataclass(frozen=True, slots=True)
class ChunkInfo(_Json):
    index: int
    chunk_id: str
    size: int
    replicas: tuple[tuple[str, str], ...]  # (worker_id, state)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkInfo:
        return cls(int(data["index"]), str(data["chunk_id"]), int(data["size"]),
                   tuple((str(r["worker_id"]), str(r["state"])) for r in data.get("replicas", [])))

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "chunk_id": self.chunk_id, "size": self.size,
                "replicas": [{"worker_id": w, "state": s} for w, s in self.replicas]}


@dataclass(frozen=True, slots=True)
class FileInfo(_Json):
    file_id: str
    path: str
    size: int
    sha256: str
    mode: str
    chunk_size: int
    version_id: str
    updated_at: str
    chunks: tuple[ChunkInfo, ...]
    bucket: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileInfo:
        return cls(str(data["file_id"]), str(data["path"]), int(data["size"]),
                   str(data["sha256"]), str(data.get("mode", "")), int(data.get("chunk_size", 0)),
                   str(data.get("version_id", "")), str(data.get("updated_at", "")),
                   tuple(ChunkInfo.from_json(c) for c in data.get("chunks", [])),
                   str(data.get("bucket", "")))

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["chunks"] = [c.to_json() for c in self.chunks]
        return out


@dataclass(frozen=True, slots=True)
class Receipt(_Json):
    """The upload receipt of DESIGN §4."""

    file_id: str
    path: str
    size: int
    sha256: str
    chunks: int
    dedup_chunks: int
    mode: str
    replicas_target: int
    replicas_acked: int
    bucket: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Receipt:
        replicas = data.get("replicas") or {}
        return cls(str(data["file_id"]), str(data["path"]), int(data["size"]),
                   str(data["sha256"]), int(data.get("chunks", 0)),
                   int(data.get("dedup_chunks", 0)), str(data.get("mode", "")),
                   int(replicas.get("target", 0)), int(replicas.get("acked", 0)),
                   str(data.get("bucket", "")))


@dataclass(frozen=True, slots=True)
class SessionInfo(_Json):
    session_id: str
    path: str
    chunk_size: int
    total_chunks: int
    bucket: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionInfo:
        return cls(str(data["session_id"]), str(data["path"]), int(data["chunk_size"]),
                   int(data["total_chunks"]), str(data.get("bucket", "")))


@dataclass(frozen=True, slots=True)
class SessionStatus(_Json):
    session_id: str
    state: str
    path: str
    file_size: int
    chunk_size: int
    total_chunks: int
    received: tuple[int, ...]
    bytes_received: int
    bucket: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionStatus:
        return cls(str(data["session_id"]), str(data["state"]), str(data["path"]),
                   int(data["file_size"]), int(data["chunk_size"]), int(data["total_chunks"]),
                   tuple(int(i) for i in data.get("received", [])),
                   int(data.get("bytes_received", 0)), str(data.get("bucket", "")))


@dataclass(frozen=True, slots=True)
class Presence(_Json):
    """``chunks/has``: the ids the caller may reference instead of sending bytes."""

    present: frozenset[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Presence:
        return cls(frozenset(c for c, yes in (data.get("present") or {}).items() if yes))

    def to_json(self) -> dict[str, Any]:
        return {"present": sorted(self.present)}


@dataclass(frozen=True, slots=True)
class WorkerHealth(_Json):
    worker_id: str
    address: str
    state: str
    rtt_ms: float | None
    last_heartbeat: str
    capacity_bytes: int
    used_bytes: int
    chunk_count: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerHealth:
        rtt = data.get("rtt_ms")
        return cls(str(data["worker_id"]), str(data.get("address", "")), str(data["state"]),
                   float(rtt) if rtt is not None else None, str(data.get("last_heartbeat", "")),
                   int(data.get("capacity_bytes", 0)), int(data.get("used_bytes", 0)),
                   int(data.get("chunk_count", 0)))


@dataclass(frozen=True, slots=True)
class ClusterHealth(_Json):
    status: str
    postgres: str
    redis: str
    workers_healthy: int
    workers_total: int
    master_url: str

    @classmethod
    def from_json(cls, data: dict[str, Any], master_url: str) -> ClusterHealth:
        checks = data.get("checks") or {}
        return cls(str(data.get("status", "")), str(checks.get("postgres", "")),
                   str(checks.get("redis", "")), int(checks.get("workers_healthy", 0)),
                   int(checks.get("workers_total", 0)), master_url)


@dataclass(frozen=True, slots=True)
class UploadResult(_Json):
    """What ``put`` did: the receipt, and how much it had to send (resume, dedup)."""

    receipt: Receipt
    session_id: str
    resumed: bool
    chunks_total: int
    chunks_sent: int
    chunks_referenced: int
    chunks_already_received: int
    bytes_sent: int

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["receipt"] = self.receipt.to_json()
        return out


@dataclass(frozen=True, slots=True)
class DownloadResult(_Json):
    path: str
    destination: str
    size: int
    sha256: str
    resumed: bool
    bytes_fetched: int

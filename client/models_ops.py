"""Typed results of namespace operations (DESIGN §11), server tasks and tree transfers.

Like ``client.models``: ``from_json`` reads the server's shape, ``to_json`` is what the
CLI's ``--json`` prints, so a script reading the CLI sees the SDK's fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BucketRemoval",
    "MkdirResult",
    "PathOpResult",
    "RestoreResult",
    "TaskStatus",
    "TreeFailure",
    "TreeRemoval",
    "TreeResult",
    "VersionEntry",
]


def _fields_json(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@dataclass(frozen=True, slots=True)
class MkdirResult:
    """``created`` is False when the directory was there already (not an error)."""

    bucket: str
    path: str
    created: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MkdirResult:
        return cls(str(data.get("bucket") or ""), str(data.get("path") or ""),
                   bool(data.get("created")))

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class PathOpResult:
    """A move or a copy: ``source`` and ``target`` as ``bucket/path``, and how many files
    it carried (a directory moves or copies with everything below it)."""

    op: str
    source: str
    target: str
    files: int

    @classmethod
    def from_json(cls, op: str, data: dict[str, Any]) -> PathOpResult:
        return cls(op, str(data.get("from") or ""), str(data.get("to") or ""),
                   int(data.get("files") or 0))

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One kept version of a file, newest first in a listing. ``deleted``: a delete
    marker (no content); ``etag`` is the content's SHA-256 ("" for a marker)."""

    version_id: str
    size: int
    etag: str
    modified: str
    current: bool
    deleted: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionEntry:
        return cls(str(data["version_id"]), int(data.get("size") or 0),
                   str(data.get("etag") or ""), str(data.get("modified") or ""),
                   bool(data.get("current")), bool(data.get("deleted")))

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """``version_id`` is the new version holding the restored content."""

    bucket: str
    path: str
    version_id: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RestoreResult:
        return cls(str(data.get("bucket") or ""), str(data.get("path") or ""),
                   str(data["version_id"]))

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A server task (a recursive delete): ``state`` is running, done or failed."""

    task_id: str
    kind: str
    state: str
    done: int
    total: int
    error: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskStatus:
        error = data.get("error")
        return cls(str(data["task_id"]), str(data.get("kind") or ""),
                   str(data.get("state") or "running"), int(data.get("done") or 0),
                   int(data.get("total") or 0), str(error) if error else None)

    @classmethod
    def started(cls, kind: str, data: dict[str, Any]) -> TaskStatus:
        """From a 202 answer (``{task_id, total}``): running, nothing done yet."""
        return cls(str(data["task_id"]), kind, "running", 0, int(data.get("total") or 0),
                   None)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class TreeRemoval:
    """A directory deleted with everything below it, by the task ``task``."""

    path: str
    task: TaskStatus

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "task": self.task.to_json()}


@dataclass(frozen=True, slots=True)
class BucketRemoval:
    """A deleted bucket: at once when it was empty (``task`` None), else by a task."""

    name: str
    task: TaskStatus | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.task.to_json() if self.task else None}


@dataclass(frozen=True, slots=True)
class TreeFailure:
    """One file of a tree transfer that failed; the others went on."""

    path: str
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass(frozen=True, slots=True)
class TreeResult:
    """What ``put -r`` / ``get -r`` did. ``files_skipped``: already there with the same
    SHA-256 (content-aware resume); ``bytes_moved``: bytes that crossed the network
    (resumed files count only their missing parts)."""

    direction: str  # "put" or "get"
    source: str
    destination: str
    files_total: int
    files_transferred: int
    files_skipped: int
    bytes_total: int
    bytes_moved: int
    dirs_created: int
    failed: tuple[TreeFailure, ...]

    def to_json(self) -> dict[str, Any]:
        out = _fields_json(self)
        out["failed"] = [f.to_json() for f in self.failed]
        return out

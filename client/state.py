"""Progress saved between runs, so an interrupted ``put`` or ``get`` resumes.

- Uploads: ``uploads.json`` next to ``config.toml``, one record per (local file, remote
  path, master set): the session id and the local file's identity when it began.
- Downloads: ``<destination>.part.json`` beside ``<destination>.part``: the version
  (sha256 = ETag) being fetched, the range size, and the ranges already written.

Both are written atomically (``client.config.atomic_write``). Nothing here is trusted
blindly: a session is re-checked with the server, and a download's bytes are verified
against the SHA-256 before the file is renamed into place.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from client.config import atomic_write
from client.plan import FileIdentity

__all__ = ["DownloadState", "SavedUpload", "UploadStateStore", "load_download_state",
           "save_download_state"]

log = logging.getLogger(__name__)

UPLOADS_FILE = "uploads.json"

# ``save``/``forget`` read, change and rewrite uploads.json; a tree transfer runs them
# from several threads at once (asyncio.to_thread), which must not lose a record.
_UPLOADS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class SavedUpload:
    session_id: str
    local: str
    remote: str
    size: int
    mtime_ns: int
    inode: int
    chunk_size: int
    sha256: str

    def matches(self, identity: FileIdentity) -> bool:
        return (self.size, self.mtime_ns, self.inode) == (
            identity.size, identity.mtime_ns, identity.inode)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None


class UploadStateStore:
    """The saved upload sessions of one configuration folder (None: nothing is saved)."""

    def __init__(self, directory: Path | None) -> None:
        self._path = directory / UPLOADS_FILE if directory is not None else None

    @staticmethod
    def key(local: Path, remote: str, urls: tuple[str, ...]) -> str:
        return json.dumps([str(local.resolve()), remote, list(urls)])

    def _all(self) -> dict[str, dict[str, Any]]:
        data = _read_json(self._path) if self._path is not None else None
        return data if isinstance(data, dict) else {}

    def find(self, key: str) -> SavedUpload | None:
        record = self._all().get(key)
        if not isinstance(record, dict):
            return None
        try:
            return SavedUpload(**record)
        except TypeError:
            return None

    def save(self, key: str, saved: SavedUpload) -> None:
        if self._path is None:
            return
        with _UPLOADS_LOCK:
            records = self._all()
            records[key] = asdict(saved)
            atomic_write(self._path, json.dumps(records, indent=1, sort_keys=True))

    def forget(self, key: str) -> None:
        if self._path is None:
            return
        with _UPLOADS_LOCK:
            records = self._all()
            if records.pop(key, None) is not None:
                atomic_write(self._path, json.dumps(records, indent=1, sort_keys=True))


@dataclass(frozen=True, slots=True)
class DownloadState:
    remote: str
    sha256: str
    size: int
    range_size: int
    done: tuple[int, ...]

    def usable_for(self, remote: str, sha256: str, size: int, range_size: int) -> bool:
        return (self.remote, self.sha256, self.size, self.range_size) == (
            remote, sha256, size, range_size)


def load_download_state(path: Path) -> DownloadState | None:
    data = _read_json(path)
    if not isinstance(data, dict):
        return None
    try:
        return DownloadState(str(data["remote"]), str(data["sha256"]), int(data["size"]),
                             int(data["range_size"]), tuple(int(i) for i in data["done"]))
    except (KeyError, TypeError, ValueError):
        return None


def save_download_state(path: Path, state: DownloadState) -> None:
    """Atomic but not fsynced: the record is a hint, checked by the download's hash."""
    atomic_write(path, json.dumps(asdict(state)), durable=False)

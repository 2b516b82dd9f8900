"""Where a remote path goes on the wire — the one module that knows.

DESIGN §14 addresses files as ``bucket/path``: the first segment of a remote path is
the bucket (DESIGN §11), the rest the path inside it. A file is read (GET/HEAD),
written and deleted at ``/api/v1/fs/{bucket}/{path}``; an upload session is told
``bucket`` and ``path``; a directory is listed at ``/api/v1/fs/{bucket}/{dir}/`` (a
bare ``bucket`` or ``bucket/`` is its root); the caller's buckets are listed at
``/api/v1/buckets``. The SDK and the CLI call only these functions for paths, and the
upload resume state is keyed by the normalized ``bucket/path``, so the same path in two
buckets never shares a session.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from common.errors import BadPath

__all__ = ["BUCKETS_ROUTE", "RemotePath", "dir_route", "file_route", "normalize", "parse",
           "quote", "session_fields"]

BUCKETS_ROUTE = "/api/v1/buckets"


@dataclass(frozen=True, slots=True)
class RemotePath:
    """``bucket`` and the ``path`` inside it ("" for the bucket's root)."""

    bucket: str
    path: str

    def __str__(self) -> str:
        return f"{self.bucket}/{self.path}" if self.path else self.bucket

    @property
    def name(self) -> str:
        """The last segment (the bucket's name for its root)."""
        return (self.path or self.bucket).rsplit("/", 1)[-1]


def normalize(remote: str) -> str:
    """A remote ``bucket/path`` without leading ``/`` or empty or dot segments, or BadPath.

    The master normalizes too; doing it here makes the client's messages, its resume
    state and the server's answers agree on one spelling of each path.
    """
    text = remote.strip()
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise BadPath(f"not a remote path (bucket/path): {remote!r}")
    if ".." in parts:
        raise BadPath(f"remote paths may not contain '..': {remote!r}")
    if any("\x00" in p for p in parts):
        raise BadPath("remote paths may not contain NUL")
    return "/".join(parts)


def parse(remote: str, *, file: bool = True) -> RemotePath:
    """Split ``bucket/path``; with ``file`` (the default) a path inside the bucket is
    required, otherwise a bare bucket (its root) is accepted too."""
    bucket, _, path = normalize(remote).partition("/")
    if file and not path:
        raise BadPath(f"not a remote file path: {remote!r} (write it as bucket/path)")
    return RemotePath(bucket, path)


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def file_route(remote: str) -> str:
    """The route that reads (GET/HEAD), writes (PUT) and deletes one file."""
    where = parse(remote)
    return f"/api/v1/fs/{quote(where.bucket)}/{urllib.parse.quote(where.path, safe='/')}"


def dir_route(remote: str) -> str:
    """The listing route of the directory ``bucket/dir`` (``bucket``: its root)."""
    where = parse(remote, file=False)
    inner = urllib.parse.quote(where.path, safe="/") + "/" if where.path else ""
    return f"/api/v1/fs/{quote(where.bucket)}/{inner}"


def session_fields(remote: str) -> dict[str, Any]:
    """The ``bucket`` and ``path`` fields of an upload session for ``remote``."""
    where = parse(remote)
    return {"bucket": where.bucket, "path": where.path}

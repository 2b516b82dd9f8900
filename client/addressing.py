"""Where a remote path goes on the wire — the one module that knows.

DESIGN §14 addresses files as ``bucket/path``. Until buckets reach the master (issue 16),
a remote path is a path in the caller's own namespace, sent as ``/api/v1/fs/{path}``
(downloads, HEAD, delete), as the ``path`` of an upload session, and as the ``prefix``
of a listing. When bucket routes land, this module alone changes: ``parse`` splits off
the bucket, ``file_route`` becomes ``/api/v1/fs/{bucket}/{path}`` and ``list_route`` the
directory route; the SDK and the CLI call only these functions for paths. (The
directory listing answers in a new shape, ``entries`` with ``type``; its parser is
``client.protocol``'s to add.)
"""

from __future__ import annotations

import urllib.parse

from common.errors import BadPath

__all__ = ["file_route", "list_params", "list_route", "normalize", "quote", "session_path"]


def normalize(remote: str) -> str:
    """A remote path without leading ``/`` or empty or dot segments, or BadPath.

    The master normalizes too; doing it here makes the client's messages, its resume
    state and the server's answers agree on one spelling of each path.
    """
    text = remote.strip()
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        raise BadPath(f"not a remote file path: {remote!r}")
    if ".." in parts:
        raise BadPath(f"remote paths may not contain '..': {remote!r}")
    if any("\x00" in p for p in parts):
        raise BadPath("remote paths may not contain NUL")
    return "/".join(parts)


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def file_route(remote: str) -> str:
    """The route that reads (GET/HEAD), writes (PUT) and deletes one file."""
    return "/api/v1/fs/" + urllib.parse.quote(normalize(remote), safe="/")


def session_path(remote: str) -> str:
    """The ``path`` field of an upload session for ``remote``."""
    return normalize(remote)


def list_params(prefix: str) -> dict[str, str]:
    """Query parameters listing the files under ``prefix`` (all files when empty)."""
    text = prefix.strip().lstrip("/")
    return {"prefix": text} if text else {}


def list_route(prefix: str) -> tuple[str, dict[str, str]]:
    """(route, query parameters) of a listing of the files under ``prefix``."""
    return "/api/v1/files", list_params(prefix)

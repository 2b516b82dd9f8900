"""User-visible file paths: one canonical form, no escapes.

Paths are keys, not filesystem paths, but clients map them to filesystems, so we
reject what would escape or confuse one: ``.`` and ``..`` segments (also when
percent-encoded, since aiohttp hands us decoded text), NUL and control characters,
backslashes, empty segments, and over-long names.
"""

from __future__ import annotations

import unicodedata

from common.errors import BadPath

__all__ = ["MAX_PATH_BYTES", "normalize_path"]

MAX_PATH_BYTES = 1024


def normalize_path(raw: str) -> str:
    if not raw or not raw.strip("/"):
        raise BadPath("path is empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise BadPath("path contains NUL or control characters")
    if "\\" in raw:
        raise BadPath("path contains a backslash")
    path = unicodedata.normalize("NFC", raw.strip("/"))
    segments = path.split("/")
    for segment in segments:
        if segment in {"", ".", ".."}:
            raise BadPath(f"path segment {segment!r} is not allowed")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise BadPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    return path

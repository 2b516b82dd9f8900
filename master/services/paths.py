"""Names: the one normalization of bucket names and paths, applied at every door.

A path is segments joined by ``/``. Paths are keys, not filesystem paths, but clients
map them to filesystems, so every door (URL routes, multipart and JSON fields, tus
metadata, move/copy/restore bodies) refuses what would escape or confuse one:

- empty segments (a doubled slash), ``.`` and ``..`` segments, also when
  percent-encoded (``%2e%2e``);
- NUL and control characters (C0, DEL, C1), backslashes;
- a segment over ``MAX_SEGMENT_BYTES`` or a path over ``MAX_PATH_BYTES`` (UTF-8);
- in a URL, a ``%2F`` inside a segment: a segment never contains ``/`` and the
  encoded form is not silently a separator (``bad_path``); invalid UTF-8 likewise.

Text is NFC-normalized, so ``café`` typed either way is one name.
In URL routes a trailing slash addresses a directory (listing, mkdir, recursive
delete); in body fields a leading or trailing slash is dropped (wave-1 behaviour),
because a field names a file or a directory by what is stored there.
Bucket names follow S3: 3-63 of ``a-z 0-9 . -``, starting and ending with a letter or
digit, no ``..``, not shaped like an IPv4 address.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

from common.errors import BadPath, InvalidInput

__all__ = [
    "MAX_PATH_BYTES",
    "MAX_SEGMENT_BYTES",
    "FsTarget",
    "check_bucket_name",
    "is_bucket_name",
    "normalize_dir",
    "normalize_key",
    "normalize_path",
    "parse_fs_url",
    "split_bucket_path",
]

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$")


def is_bucket_name(name: str) -> bool:
    return bool(_BUCKET_RE.fullmatch(name)) and ".." not in name and not _IPV4_RE.match(name)


def check_bucket_name(name: str) -> str:
    """``name`` if it is a valid bucket name, else InvalidInput saying the rule."""
    if not is_bucket_name(name):
        raise InvalidInput(
            "bucket names are 3-63 characters of a-z 0-9 . -, start and end with a letter"
            " or digit, have no '..' and are not shaped like an IP address"
        )
    return name


def _check_segments(segments: list[str]) -> str:
    for segment in segments:
        if segment in {"", ".", ".."}:
            raise BadPath(f"path segment {segment!r} is not allowed")
        if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in segment):
            raise BadPath("path contains NUL or control characters")
        if "\\" in segment:
            raise BadPath("path contains a backslash")
        try:
            size = len(segment.encode())
        except UnicodeEncodeError:
            raise BadPath("path is not valid Unicode (lone surrogate)") from None
        if size > MAX_SEGMENT_BYTES:
            raise BadPath(f"path segment is longer than {MAX_SEGMENT_BYTES} bytes")
    path = unicodedata.normalize("NFC", "/".join(segments))
    if len(path.encode()) > MAX_PATH_BYTES:
        raise BadPath(f"path is longer than {MAX_PATH_BYTES} bytes")
    for segment in path.split("/"):  # NFC may not create new dots, but check anyway
        if segment in {"", ".", ".."}:
            raise BadPath(f"path segment {segment!r} is not allowed")
    return path


def normalize_path(raw: str) -> str:
    """A file path from a body field: one leading/trailing slash run dropped."""
    if not raw or not raw.strip("/"):
        raise BadPath("path is empty")
    return _check_segments(raw.strip("/").split("/"))


def normalize_key(raw: str) -> str:
    """An S3 object key as a path: nothing stripped (a leading or doubled slash is an
    empty segment, refused), so two different keys never name one file."""
    if not raw:
        raise BadPath("path is empty")
    return _check_segments(raw.split("/"))


def normalize_dir(raw: str) -> str:
    """A directory path from a body field; '' (or '/') is the bucket's root."""
    stripped = raw.strip("/")
    return "" if not stripped else _check_segments(stripped.split("/"))


def split_bucket_path(raw: str) -> tuple[str, str]:
    """``"bucket/path"`` (move, copy, restore bodies) -> (bucket, normalized path or '')."""
    bucket, _, rest = raw.lstrip("/").partition("/")
    if not is_bucket_name(bucket):
        raise BadPath(f"{raw[:80]!r} does not start with a bucket name")
    return bucket, normalize_dir(rest)


@dataclass(frozen=True, slots=True)
class FsTarget:
    """What a ``/api/v1/fs/{bucket}/{path}`` URL addresses."""

    bucket: str
    path: str  # '' is the bucket's root
    is_dir: bool  # the URL ended in '/'


def parse_fs_url(raw_path: str, prefix: str = "/api/v1/fs/") -> FsTarget:
    """Parse the still percent-encoded URL path, decoding each segment once.

    Raises BadPath for what the module docstring refuses, NotFound-free: a bucket name
    that cannot exist is a BadPath too (it can never be found).
    """
    if not raw_path.startswith(prefix):
        raise BadPath("not a /api/v1/fs/ path")
    bucket_raw, slash, rest = raw_path[len(prefix):].partition("/")
    if not is_bucket_name(bucket_raw):
        raise BadPath("the first segment must be a bucket name")
    if not slash:
        raise BadPath("address a bucket's root as /api/v1/fs/{bucket}/ (trailing slash)")
    is_dir = rest == "" or rest.endswith("/")
    body = rest[:-1] if rest.endswith("/") else rest
    if body == "":
        return FsTarget(bucket_raw, "", True)
    segments = []
    for encoded in body.split("/"):
        try:
            segment = urllib.parse.unquote(encoded, errors="strict")
        except UnicodeDecodeError:
            raise BadPath("path is not valid percent-encoded UTF-8") from None
        if "/" in segment:
            raise BadPath("a path segment may not contain an encoded '/' (%2F)")
        segments.append(segment)
    return FsTarget(bucket_raw, _check_segments(segments), is_dir)

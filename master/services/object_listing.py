"""S3 listings: keys (ListObjects V1/V2) and versions (ListObjectVersions).

Keys come in byte order from one index range per page. With a delimiter, keys that
share a prefix up to the delimiter fold into one common prefix, and the scan then
seeks past that prefix's whole range instead of reading through it, so a page of
``max_keys`` entries costs about ``max_keys`` rows and one query per common prefix.
A page resumes strictly after the last entry it returned (a key, or a common prefix
whose whole range is skipped).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from common.errors import InvalidInput
from master.metadata.objects import ObjectsRepository, VersionRow, prefix_bounds
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal
from master.services.objects import default_etag, require_bucket

__all__ = [
    "ListQuery",
    "ListedObject",
    "ListedVersion",
    "ObjectListing",
    "ObjectPage",
    "VersionPage",
    "common_prefix",
]

MAX_KEYS = 1000
_FETCH = 1000
_NO_SEQ = 2**62  # a listing position past every version of its key


@dataclass(frozen=True, slots=True)
class ListQuery:
    prefix: str = ""
    delimiter: str = ""
    start: str = ""  # resume strictly after this key (marker, start-after, token)
    max_keys: int = MAX_KEYS


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int
    etag: str
    modified: datetime


@dataclass(frozen=True, slots=True)
class ObjectPage:
    objects: list[ListedObject]
    common_prefixes: list[str]
    truncated: bool
    last: str | None  # the last key or common prefix of the page


@dataclass(frozen=True, slots=True)
class ListedVersion:
    key: str
    version_id: uuid.UUID
    size: int
    etag: str
    modified: datetime
    latest: bool
    delete_marker: bool


@dataclass(frozen=True, slots=True)
class VersionPage:
    versions: list[ListedVersion]
    common_prefixes: list[str]
    truncated: bool
    next_key: str | None
    next_version: uuid.UUID | None


def common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` folds into (up to and including the first
    ``delimiter`` after ``prefix``), or None when it is listed as itself."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return None if at < 0 else key[: at + len(delimiter)]


def _check(max_keys: int) -> None:
    if not 0 <= max_keys:
        raise InvalidInput("max-keys must not be negative")


class ObjectListing:
    def __init__(self, access: BucketAccess, objects: ObjectsRepository) -> None:
        self._access = access
        self._objects = objects

    async def keys(self, caller: Principal, bucket_name: str, query: ListQuery) -> ObjectPage:
        _check(query.max_keys)
        bucket = await require_bucket(self._access, caller, bucket_name, Permission.READ)
        want = min(query.max_keys, MAX_KEYS) + 1
        if want == 1:
            return ObjectPage([], [], False, None)
        prefix, delimiter = query.prefix, query.delimiter
        start: str | None = query.start
        inclusive = False
        if query.start and common_prefix(query.start, prefix, delimiter) == query.start:
            start, inclusive = _past(query.start)
        objects: list[ListedObject] = []
        prefixes: list[str] = []
        order: list[str] = []
        exhausted = start is None
        while not exhausted and len(order) < want:
            assert start is not None
            batch = min(_FETCH, want - len(order))
            rows = await self._objects.keys(bucket.id, prefix, start, inclusive, batch)
            exhausted = len(rows) < batch
            for row in rows:
                folded = common_prefix(row.key, prefix, delimiter)
                if folded is None:
                    objects.append(ListedObject(row.key, row.size,
                                                row.attributes_etag or default_etag(row.sha256),
                                                row.modified))
                    order.append(row.key)
                    start, inclusive = row.key, False
                    if len(order) >= want:
                        break
                    continue
                prefixes.append(folded)
                order.append(folded)
                start, inclusive = _past(folded)
                exhausted = start is None
                break  # seek past the prefix's whole range
        truncated = len(order) > query.max_keys
        if truncated:
            dropped = order.pop()
            if prefixes and prefixes[-1] == dropped:
                prefixes.pop()
            else:
                objects.pop()
        return ObjectPage(objects, prefixes, truncated, order[-1] if order else None)

    async def versions(
        self, caller: Principal, bucket_name: str, query: ListQuery,
        version_marker: uuid.UUID | None = None,
    ) -> VersionPage:
        """Versions and delete markers by key, newest first, after (key marker,
        version id marker) ``query.start`` / ``version_marker``."""
        _check(query.max_keys)
        bucket = await require_bucket(self._access, caller, bucket_name, Permission.READ)
        want = min(query.max_keys, MAX_KEYS) + 1
        prefix, delimiter = query.prefix, query.delimiter
        position: tuple[str, int] | None = None
        if query.start:
            position = (query.start, -1)  # after every version of the marker key
            if version_marker is not None:
                position = await self._objects.version_position(
                    bucket.id, query.start, version_marker) or position
            if common_prefix(query.start, prefix, delimiter) == query.start:
                skip, _ = _past(query.start)
                position = None if skip is None else (skip, _NO_SEQ)
                if skip is None:
                    return VersionPage([], [], False, None, None)
        versions: list[ListedVersion] = []
        prefixes: list[str] = []
        order: list[tuple[str, uuid.UUID | None]] = []
        exhausted = False
        while not exhausted and len(order) < want:
            batch = min(_FETCH, want - len(order))
            rows = await self._objects.versions(bucket.id, prefix, position, batch)
            exhausted = len(rows) < batch
            for row in rows:
                folded = common_prefix(row.key, prefix, delimiter)
                if folded is None:
                    versions.append(_version(row))
                    order.append((row.key, row.version_id))
                    position = (row.key, row.seq)
                    if len(order) >= want:
                        break
                    continue
                prefixes.append(folded)
                order.append((folded, None))
                skip, _ = _past(folded)
                exhausted = skip is None
                position = None if skip is None else (skip, _NO_SEQ)
                break
        truncated = len(order) > query.max_keys
        if truncated:
            dropped = order.pop()
            if dropped[1] is None:
                prefixes.pop()
            else:
                versions.pop()
        last = order[-1] if order and truncated else (None, None)
        return VersionPage(versions, prefixes, truncated, last[0], last[1])

def _past(folded: str) -> tuple[str | None, bool]:
    """Where a scan resumes after every key starting with ``folded`` (None: nowhere)."""
    _, upper = prefix_bounds(folded)
    return upper, True


def _version(row: VersionRow) -> ListedVersion:
    return ListedVersion(row.key, row.version_id, row.size,
                         row.attributes_etag or default_etag(row.sha256), row.modified, row.current,
                         row.deleted)

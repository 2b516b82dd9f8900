"""The S3 gateway's attributes of a version (``object_attributes``, migration 0013).

A version's attributes (S3 ETag, representation headers, user metadata) are written in
the commit transaction of the version itself (``version_commit``), so a reader sees a
version with its attributes or not at all; they go when the version goes (cascade).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from master.domain.records import ObjectAttributes

__all__ = ["ATTRIBUTE_COLUMNS", "attribute_arrays", "attributes_of", "insert_attributes_sql"]

ATTRIBUTE_COLUMNS = "a.etag, a.content_type, a.headers, a.metadata"

_INSERT = (
    "INSERT INTO object_attributes (version_id, etag, content_type, headers, metadata)"
    " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::jsonb[], %s::jsonb[])"
)


def insert_attributes_sql() -> str:
    """The statement inserting attributes; parameters from ``attribute_arrays``."""
    return _INSERT


def attribute_arrays(
    rows: Sequence[tuple[uuid.UUID, ObjectAttributes]],
) -> tuple[list[Any], ...]:
    return (
        [version_id for version_id, _ in rows],
        [a.etag for _, a in rows],
        [a.content_type for _, a in rows],
        [Jsonb(a.headers) for _, a in rows],
        [Jsonb(a.metadata) for _, a in rows],
    )


def attributes_of(row: dict[str, Any]) -> ObjectAttributes | None:
    """The attributes of a row selected with ``ATTRIBUTE_COLUMNS`` (None: no row)."""
    if row.get("etag") is None:
        return None
    return ObjectAttributes(row["etag"], row["content_type"], dict(row["headers"]),
                            dict(row["metadata"]))

"""The S3 gateway's attributes of a version (``object_attributes``, migration 0013).

A version's attributes (S3 ETag, representation headers, user metadata) are written by
the commit of the version itself (``version_commit``, migration 0019), so a reader sees a
version with its attributes or not at all; they go when the version goes (cascade).
"""

from __future__ import annotations

from typing import Any

from master.domain.records import ObjectAttributes

__all__ = ["ATTRIBUTE_COLUMNS", "attributes_of"]

ATTRIBUTE_COLUMNS = "a.etag, a.content_type, a.headers, a.metadata"

def attributes_of(row: dict[str, Any]) -> ObjectAttributes | None:
    """The attributes of a row selected with ``ATTRIBUTE_COLUMNS`` (None: no row)."""
    if row.get("etag") is None:
        return None
    return ObjectAttributes(row["etag"], row["content_type"], dict(row["headers"]),
                            dict(row["metadata"]))

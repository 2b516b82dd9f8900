"""Range / If-Range handling per RFC 9110 §14, single range only."""

from __future__ import annotations

import re

from common.errors import RangeNotSatisfiable
from master.services.downloads import ByteRange

__all__ = ["parse_range"]

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int, if_range: str | None, etag: str) -> ByteRange | None:
    """The requested range, or None for the whole representation.

    Multiple ranges, malformed values and a stale If-Range are answered with the whole
    file (RFC 9110 lets a server ignore Range); an unsatisfiable one raises 416.
    """
    if not header:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} not satisfiable for {size} bytes")
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(f"range {header!r} not satisfiable for {size} bytes")
    return ByteRange(start, min(end, size - 1))

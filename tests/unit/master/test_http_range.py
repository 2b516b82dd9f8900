from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import RangeNotSatisfiable
from master.api.http_range import parse_range
from master.services.downloads import ByteRange

ETAG = '"abc"'


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-9", ByteRange(0, 9)),
    ("bytes=10-", ByteRange(10, 99)),
    ("bytes=-10", ByteRange(90, 99)),
    ("bytes=95-200", ByteRange(95, 99)),
    ("bytes=-500", ByteRange(0, 99)),
    ("bytes=5-3", None),
    ("bytes=0-1,5-6", None),
    ("items=0-1", None),
    (None, None),
])
def test_single_ranges_follow_rfc_9110(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100, None, ETAG) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_unsatisfiable_ranges_raise_416(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 100, None, ETAG)


def test_if_range_with_a_stale_etag_sends_the_whole_file() -> None:
    assert parse_range("bytes=0-9", 100, '"old"', ETAG) is None
    assert parse_range("bytes=0-9", 100, ETAG, ETAG) == ByteRange(0, 9)


@given(st.integers(1, 10_000), st.data())
def test_a_satisfiable_range_selects_the_same_bytes_as_python_slicing(size: int, data) -> None:  # type: ignore[no-untyped-def]
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size + 50))
    rng = parse_range(f"bytes={start}-{end}", size, None, ETAG)
    assert rng is not None
    body = bytes(range(256)) * (size // 256 + 1)
    assert body[rng.start : rng.end + 1] == body[:size][start : end + 1]

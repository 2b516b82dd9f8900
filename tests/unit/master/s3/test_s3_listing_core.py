"""S3 listing over an in-memory key index: delimiters fold prefixes, pages resume
exactly after their last entry, and every key is listed once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from master.domain.records import BucketRecord
from master.metadata.objects import KeyRow, prefix_bounds
from master.services.auth import Principal
from master.services.object_listing import ListQuery, ObjectListing, common_prefix

AT = datetime(2026, 1, 1, tzinfo=UTC)
CALLER = Principal(1, "u", False)


class Access:
    async def require(self, caller: Principal, name: str, need: Any) -> BucketRecord:
        return BucketRecord(1, name, 1, None, False, None, None, None, None, "active", AT)


class Keys:
    """The ``keys`` query of ObjectsRepository, over a sorted list (byte order)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys, key=lambda k: k.encode())
        self.queries = 0

    async def keys_after(self, bucket_id: int, prefix: str, start: str, inclusive: bool,
                         limit: int) -> list[KeyRow]:
        self.queries += 1
        lo, hi = prefix_bounds(prefix)
        found = [k for k in self.keys if k >= lo and (hi is None or k < hi)
                 and (k >= start if inclusive else k > start)]
        return [KeyRow(k, 1, "sha", AT, None) for k in found[:limit]]


def _listing(keys: list[str]) -> tuple[ObjectListing, Keys]:
    index = Keys(keys)
    repository: Any = type("Repo", (), {"keys": index.keys_after})()
    return ObjectListing(Access(), repository), index  # type: ignore[arg-type]


async def _all(listing: ObjectListing, query: ListQuery) -> list[str]:
    entries: list[str] = []
    while True:
        page = await listing.keys(CALLER, "b", query)
        entries += [o.key for o in page.objects] + page.common_prefixes
        if not page.truncated:
            return entries
        assert page.last is not None
        query = ListQuery(query.prefix, query.delimiter, page.last, query.max_keys)


def test_common_prefixes_and_bounds() -> None:
    assert common_prefix("a/b/c", "a/", "/") == "a/b/"
    assert common_prefix("a/b", "a/", "/") is None
    assert common_prefix("x-y-z", "", "-") == "x-"
    assert prefix_bounds("a/") == ("a/", "a0")
    assert prefix_bounds("") == ("", None)


async def test_a_delimiter_page_seeks_past_each_folded_prefix() -> None:
    keys = [f"d{d}/k{k:03d}" for d in range(5) for k in range(200)] + ["top"]
    listing, index = _listing(keys)
    page = await listing.keys(CALLER, "b", ListQuery(delimiter="/", max_keys=1000))
    assert page.common_prefixes == [f"d{d}/" for d in range(5)]
    assert [o.key for o in page.objects] == ["top"] and not page.truncated
    assert index.queries <= 7  # one seek per prefix, not 1 000 rows read


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab/-", min_size=1, max_size=6), unique=True, max_size=40),
       st.sampled_from(["", "/", "-"]), st.sampled_from(["", "a", "a/", "b"]),
       st.integers(1, 7))
def test_paging_lists_every_entry_once_in_order(
    keys: list[str], delimiter: str, prefix: str, max_keys: int
) -> None:
    import asyncio

    listing, _ = _listing(keys)
    got = asyncio.run(_all(listing, ListQuery(prefix, delimiter, "", max_keys)))
    expected: list[str] = []
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        folded = common_prefix(key, prefix, delimiter)
        entry = folded if folded is not None else key
        if entry not in expected:
            expected.append(entry)
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))


@pytest.mark.parametrize("max_keys", [0])
async def test_zero_max_keys_is_an_empty_page(max_keys: int) -> None:
    listing, _ = _listing(["a"])
    page = await listing.keys(CALLER, "b", ListQuery(max_keys=max_keys))
    assert (page.objects, page.truncated) == ([], False)

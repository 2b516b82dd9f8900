"""The URL side of the one name normalizer: buckets, %2F, trailing and doubled slashes."""

from __future__ import annotations

import pytest

from common.errors import BadPath, InvalidInput
from master.services.paths import (
    FsTarget,
    check_bucket_name,
    is_bucket_name,
    normalize_dir,
    parse_fs_url,
    split_bucket_path,
)

P = "/api/v1/fs/"


@pytest.mark.parametrize(("raw", "expected"), [
    (P + "docs/readme.md", FsTarget("docs", "readme.md", False)),
    (P + "docs/", FsTarget("docs", "", True)),
    (P + "docs/a/b/", FsTarget("docs", "a/b", True)),
    (P + "docs/caf%C3%A9", FsTarget("docs", "café", False)),
    (P + "docs/cafe%CC%81", FsTarget("docs", "café", False)),  # NFD -> NFC
    (P + "docs/50%25", FsTarget("docs", "50%", False)),
    (P + "docs/a%zz", FsTarget("docs", "a%zz", False)),  # not an escape: kept literally
])
def test_urls_address_a_bucket_then_a_path(raw: str, expected: FsTarget) -> None:
    assert parse_fs_url(raw) == expected


@pytest.mark.parametrize("raw", [
    P + "docs/a%2Fb", P + "docs/a%2fb/", P + "docs//x", P + "docs/a//", P + "docs/%2e%2e/x",
    P + "docs/./x", P + "docs/a/..", P + "docs/%00", P + "docs/a%5Cb", P + "docs/%C3",
    P + "docs", P + "Docs/x", P + "ab/x", P + "docs/" + "x" * 256, P + "docs/%C2%85",
])
def test_encoded_separators_escapes_and_junk_are_bad_paths(raw: str) -> None:
    with pytest.raises(BadPath):
        parse_fs_url(raw)


@pytest.mark.parametrize("name", ["abc", "a.b-c", "0ab", "x" * 63, "my.bucket.1"])
def test_s3_valid_bucket_names(name: str) -> None:
    assert is_bucket_name(name) and check_bucket_name(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 64, "Abc", "-ab", "ab-", "a..b", "a_b",
                                  "10.0.0.1", ".ab", "a b"])
def test_invalid_bucket_names(name: str) -> None:
    assert not is_bucket_name(name)
    with pytest.raises(InvalidInput):
        check_bucket_name(name)


def test_body_fields_name_a_bucket_then_a_path_and_drop_outer_slashes() -> None:
    assert split_bucket_path("docs/a/b/") == ("docs", "a/b")
    assert split_bucket_path("/docs/a") == ("docs", "a")
    assert split_bucket_path("docs") == ("docs", "")
    assert normalize_dir("/") == ""
    for bad in ("Docs/a", "docs/a//b", "docs/../x"):
        with pytest.raises(BadPath):
            split_bucket_path(bad)

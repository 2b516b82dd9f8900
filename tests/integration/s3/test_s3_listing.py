"""S3 listings (V1, V2, versions) and bucket versioning with boto3 against a real cluster."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.support.s3 import S3User
from tools.cluster import LocalCluster

DIRS, PER_DIR, TOP = 50, 50, 7  # 2 500 keys in 50 "directories", and 7 at the top


@pytest.fixture(scope="module")
def many(s3: Any, user: S3User, s3_cluster: LocalCluster) -> tuple[str, list[str]]:
    """A bucket of 2 507 small objects: the first directory and the top keys are PUT
    through the gateway, the other 49 directories are REST copies of the first (one
    transaction each), so the listing tests do not wait for 2 500 uploads."""
    bucket = f"s3l-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    first = [f"d00/k{k:03d}" for k in range(PER_DIR)] + [f"top-{t}" for t in range(TOP)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()),
                      first))

    def copy(d: int) -> None:
        answer = httpx.post(f"{s3_cluster.master_url}/api/v1/ops/copy", timeout=60,
                            headers={"Authorization": f"Bearer {user.token}"},
                            json={"from": f"{bucket}/d00", "to": f"{bucket}/d{d:02d}"})
        assert answer.status_code == 201, answer.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(copy, range(1, DIRS)))
    keys = [f"d{d:02d}/k{k:03d}" for d in range(DIRS) for k in range(PER_DIR)]
    return bucket, sorted(keys + [f"top-{t}" for t in range(TOP)])


def _pages_v2(s3: Any, bucket: str, **params: Any) -> list[dict[str, Any]]:
    paginator = s3.get_paginator("list_objects_v2")
    return list(paginator.paginate(Bucket=bucket, **params))


def test_v2_pages_through_2500_keys_in_order(s3: Any, many: tuple[str, list[str]]) -> None:
    bucket, keys = many
    pages = _pages_v2(s3, bucket)
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 507]
    assert [c["Key"] for p in pages for c in p["Contents"]] == keys
    small = _pages_v2(s3, bucket, Prefix="d07/", PaginationConfig={"PageSize": 7})
    assert len(small) == 8 and [c["Key"] for p in small for c in p["Contents"]] == \
        [k for k in keys if k.startswith("d07/")]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="d48/k049", MaxKeys=3)
    assert [c["Key"] for c in after["Contents"]] == ["d49/k000", "d49/k001", "d49/k002"]


def test_v2_with_a_delimiter_folds_directories_into_common_prefixes(
    s3: Any, many: tuple[str, list[str]]
) -> None:
    bucket, keys = many
    pages = _pages_v2(s3, bucket, Delimiter="/", PaginationConfig={"PageSize": 11})
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    tops = [c["Key"] for p in pages for c in p.get("Contents", [])]
    assert prefixes == [f"d{d:02d}/" for d in range(DIRS)]
    assert tops == [k for k in keys if k.startswith("top-")]
    assert [p["KeyCount"] for p in pages][:-1] == [11] * (len(pages) - 1)
    inside = s3.list_objects_v2(Bucket=bucket, Prefix="d03/", Delimiter="/")
    assert inside["KeyCount"] == PER_DIR and "CommonPrefixes" not in inside


def test_v1_marker_paging_with_and_without_delimiter(
    s3: Any, many: tuple[str, list[str]]
) -> None:
    bucket, keys = many
    seen: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=bucket, Marker=marker, MaxKeys=900)
        seen += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = seen[-1]
    assert seen == keys
    folded: list[str] = []
    marker = ""
    while True:
        page = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=marker, MaxKeys=20)
        folded += [c["Prefix"] for c in page.get("CommonPrefixes", [])]
        folded += [c["Key"] for c in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        marker = page["NextMarker"]
    assert sorted(folded) == sorted([f"d{d:02d}/" for d in range(DIRS)] +
                                    [k for k in keys if k.startswith("top-")])
    assert len(folded) == len(set(folded))


def test_versioning_keeps_versions_markers_and_reads_by_version_id(s3: Any) -> None:
    bucket = f"s3v-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = s3.put_object(Bucket=bucket, Key="doc", Body=b"one")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="doc", Body=b"two")["VersionId"]
    assert first != second
    old = s3.get_object(Bucket=bucket, Key="doc", VersionId=first)
    assert (old["Body"].read(), old["VersionId"]) == (b"one", first)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    assert deleted["DeleteMarker"] is True
    with pytest.raises(ClientError) as hidden:
        s3.get_object(Bucket=bucket, Key="doc")
    assert hidden.value.response["Error"]["Code"] == "NoSuchKey"
    listed = s3.list_object_versions(Bucket=bucket, Prefix="doc")
    assert [v["VersionId"] for v in listed["Versions"]] == [second, first]
    assert [v["IsLatest"] for v in listed["Versions"]] == [False, False]
    (marker,) = listed["DeleteMarkers"]
    assert marker["IsLatest"] is True
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=second)
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"one"
    with pytest.raises(ClientError) as unknown:
        s3.get_object(Bucket=bucket, Key="doc", VersionId=str(uuid.uuid4()))
    assert unknown.value.response["Error"]["Code"] == "NoSuchVersion"
    paged = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert paged["IsTruncated"] is False and len(paged["Versions"]) == 1
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_version_listing_pages_with_markers(s3: Any) -> None:
    bucket = f"s3v-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    made = []
    for key in ("a", "b"):
        for n in range(3):
            made.append((key, s3.put_object(Bucket=bucket, Key=key, Body=b"%d" % n)[
                "VersionId"]))
    seen = []
    params: dict[str, Any] = {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **params)
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        params = {"KeyMarker": page["NextKeyMarker"],
                  "VersionIdMarker": page["NextVersionIdMarker"]}
    expected = [*reversed(made[:3]), *reversed(made[3:])]
    assert seen == expected

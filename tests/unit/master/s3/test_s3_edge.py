"""The gateway's pure edge: operation routing, addressing, S3 error codes, XML."""

from __future__ import annotations

import pytest

from common.errors import (
    BucketNotFound,
    ChecksumMismatch,
    Forbidden,
    InvalidPart,
    NotFound,
    PreconditionFailed,
    SessionClosed,
)
from master.s3.addressing import Target, object_path, parse_target
from master.s3.errors import S3Error, Subject, s3_error_for
from master.s3.router import IMPLEMENTED, route
from master.s3.xml import parse_xml


@pytest.mark.parametrize(("method", "bucket", "key", "query", "headers", "expected"), [
    ("GET", None, None, {}, {}, "ListBuckets"),
    ("PUT", "b", "", {}, {}, "CreateBucket"),
    ("GET", "b", "", {}, {}, "ListObjects"),
    ("GET", "b", "", {"list-type": "2"}, {}, "ListObjectsV2"),
    ("GET", "b", "", {"versions": ""}, {}, "ListObjectVersions"),
    ("GET", "b", "", {"uploads": ""}, {}, "ListMultipartUploads"),
    ("GET", "b", "", {"location": ""}, {}, "GetBucketLocation"),
    ("PUT", "b", "", {"versioning": ""}, {}, "PutBucketVersioning"),
    ("POST", "b", "", {"delete": ""}, {}, "DeleteObjects"),
    ("GET", "b", "", {"policy": ""}, {}, "GetBucket:policy"),
    ("PUT", "b", "k", {}, {}, "PutObject"),
    ("PUT", "b", "k", {}, {"x-amz-copy-source": "b/j"}, "CopyObject"),
    ("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, {}, "UploadPart"),
    ("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, {"x-amz-copy-source": "b/j"},
     "UploadPartCopy"),
    ("POST", "b", "k", {"uploads": ""}, {}, "CreateMultipartUpload"),
    ("POST", "b", "k", {"uploadId": "u"}, {}, "CompleteMultipartUpload"),
    ("DELETE", "b", "k", {"uploadId": "u"}, {}, "AbortMultipartUpload"),
    ("GET", "b", "k", {"uploadId": "u"}, {}, "ListParts"),
    ("GET", "b", "k", {"tagging": ""}, {}, "GetObject:tagging"),
    ("HEAD", "b", "k", {}, {}, "HeadObject"),
])
def test_requests_route_to_s3_operations(method: str, bucket: str | None, key: str | None,
                                         query: dict[str, str], headers: dict[str, str],
                                         expected: str) -> None:
    assert route(method, bucket, key, query, headers) == expected


def test_only_named_operations_are_implemented() -> None:
    assert "GetBucket:policy" not in IMPLEMENTED and "PutObject" in IMPLEMENTED


def test_path_style_and_virtual_hosted_style_addressing() -> None:
    assert parse_target("127.0.0.1:8333", "/bkt/a/b%20c.txt", "localhost") == \
        Target("bkt", "a/b c.txt")
    assert parse_target("bkt.localhost:8333", "/a/b.txt", "localhost") == Target("bkt", "a/b.txt")
    assert parse_target("localhost:8333", "/", "localhost") == Target(None, None)
    assert parse_target("h", "/bkt", "localhost") == Target("bkt", "")
    with pytest.raises(S3Error) as bad:
        parse_target("h", "/Not_A_Bucket/k", "localhost")
    assert bad.value.code == "InvalidBucketName"


@pytest.mark.parametrize("key", ["a//b", "/a", "a/../b", "a/./b", "x\x01y"])
def test_keys_that_cannot_be_paths_are_refused(key: str) -> None:
    with pytest.raises(S3Error) as refused:
        object_path(key)
    assert refused.value.code == "InvalidArgument"


def test_folder_keys_name_their_directory_and_long_keys_are_refused() -> None:
    assert object_path("photos/2024/") == "photos/2024"
    with pytest.raises(S3Error) as long_key:
        object_path("k" * 1025)
    assert long_key.value.code == "KeyTooLongError"


@pytest.mark.parametrize(("error", "subject", "code", "status"), [
    (NotFound("x"), Subject.KEY, "NoSuchKey", 404),
    (NotFound("x"), Subject.UPLOAD, "NoSuchUpload", 404),
    (NotFound("x"), Subject.VERSION, "NoSuchVersion", 404),
    (BucketNotFound("x"), Subject.KEY, "NoSuchBucket", 404),
    (SessionClosed("x"), Subject.UPLOAD, "NoSuchUpload", 404),
    (Forbidden("x"), Subject.KEY, "AccessDenied", 403),
    (PreconditionFailed("x"), Subject.KEY, "PreconditionFailed", 412),
    (ChecksumMismatch("x"), Subject.KEY, "BadDigest", 400),
    (InvalidPart("x", details={"s3_code": "InvalidPartOrder"}), Subject.UPLOAD,
     "InvalidPartOrder", 400),
])
def test_errors_map_to_s3_codes(error: Exception, subject: Subject, code: str,
                                status: int) -> None:
    mapped = s3_error_for(error, subject)  # type: ignore[arg-type]
    assert (mapped.code, mapped.status) == (code, status)


def test_xml_bodies_with_a_doctype_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Delete>&a;</Delete>'
    with pytest.raises(S3Error) as refused:
        parse_xml(bomb)
    assert refused.value.code == "MalformedXML"
    with pytest.raises(S3Error):
        parse_xml(b"<Delete><Object>")

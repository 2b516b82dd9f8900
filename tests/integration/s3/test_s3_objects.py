"""The S3 gateway with boto3 against a real cluster: buckets, objects, ranges,
conditions, metadata, copies, deletes, errors, addressing and presigned URLs."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from typing import Any

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.db import query
from tests.support.s3 import S3User
from tools.cluster import LocalCluster


def _bucket() -> str:
    return f"s3t-{uuid.uuid4().hex[:12]}"


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_bucket_lifecycle(s3: Any, user: S3User) -> None:
    name = _bucket()
    s3.create_bucket(Bucket=name)
    with pytest.raises(ClientError) as again:
        s3.create_bucket(Bucket=name)
    assert _code(again) == ("BucketAlreadyOwnedByYou", 409)
    listed = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {name, user.home_bucket} <= listed
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    s3.put_object(Bucket=name, Key="dir/sub/k", Body=b"x")
    with pytest.raises(ClientError) as busy:
        s3.delete_bucket(Bucket=name)
    assert _code(busy) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="dir/sub/k")
    s3.delete_bucket(Bucket=name)  # the directories the object left behind go with it
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=name)
    assert _code(gone) == ("404", 404)
    with pytest.raises(ClientError) as missing:
        s3.list_objects_v2(Bucket=name)
    assert _code(missing) == ("NoSuchBucket", 404)


def test_put_get_head_round_trip_with_md5_etag_and_metadata(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    body = os.urandom(2 * 1024 * 1024 + 17)  # three chunks
    put = s3.put_object(Bucket=user.home_bucket, Key="docs/report.bin", Body=body,
                        ContentType="application/x-report", Metadata={"Project": "Echo"},
                        ContentDisposition='attachment; filename="r.bin"',
                        CacheControl="max-age=60")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=user.home_bucket, Key="docs/report.bin")
    assert got["Body"].read() == body
    assert (got["ETag"], got["ContentType"], got["Metadata"], got["ContentLength"]) == (
        put["ETag"], "application/x-report", {"project": "Echo"}, len(body))
    assert (got["ContentDisposition"], got["CacheControl"]) == (
        'attachment; filename="r.bin"', "max-age=60")
    head = s3.head_object(Bucket=user.home_bucket, Key="docs/report.bin")
    assert (head["ETag"], head["ContentLength"]) == (put["ETag"], len(body))
    # The object is the namespace's file: the REST API reads the same bytes.
    rest = httpx.get(f"{s3_cluster.master_url}/api/v1/fs/{user.home_bucket}/docs/report.bin",
                     headers={"Authorization": f"Bearer {user.token}"}, timeout=30)
    assert rest.status_code == 200 and rest.content == body


def test_content_md5_is_checked_and_a_mismatch_stores_nothing(s3: Any, user: S3User) -> None:
    good = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    s3.put_object(Bucket=user.home_bucket, Key="md5-ok", Body=b"payload", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as bad:
        s3.put_object(Bucket=user.home_bucket, Key="md5-bad", Body=b"payload", ContentMD5=wrong)
    assert _code(bad) == ("BadDigest", 400)
    with pytest.raises(ClientError) as absent:
        s3.head_object(Bucket=user.home_bucket, Key="md5-bad")
    assert _code(absent) == ("404", 404)


def test_ranges_including_across_chunks_and_unsatisfiable(s3: Any, user: S3User) -> None:
    body = os.urandom(3 * 1024 * 1024)
    s3.put_object(Bucket=user.home_bucket, Key="ranged", Body=body)
    for spec, expected in [("bytes=0-9", body[:10]),
                           ("bytes=1048570-1048590", body[1048570:1048591]),
                           ("bytes=-5", body[-5:]), ("bytes=3145720-", body[3145720:])]:
        got = s3.get_object(Bucket=user.home_bucket, Key="ranged", Range=spec)
        assert got["Body"].read() == expected and got["ResponseMetadata"][
            "HTTPStatusCode"] == 206
    with pytest.raises(ClientError) as beyond:
        s3.get_object(Bucket=user.home_bucket, Key="ranged", Range="bytes=5000000-")
    assert _code(beyond) == ("InvalidRange", 416)
    assert beyond.value.response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == \
        f"bytes */{len(body)}"


def test_conditional_reads_and_writes(s3: Any, user: S3User) -> None:
    bucket = user.home_bucket
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"v1")["ETag"]
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch=etag)
    assert _code(not_modified) == ("304", 304)
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="cond", IfMatch='"0123"')
    assert _code(failed) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=bucket, Key="cond", Body=b"v2", IfNoneMatch="*")
    assert _code(exists) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=bucket, Key="cond", Body=b"v2", IfMatch='"0123"')
    assert _code(stale) == ("PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="cond", Body=b"v2", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="cond")["Body"].read() == b"v2"


def test_deletes_single_and_batch(s3: Any, user: S3User) -> None:
    bucket = user.home_bucket
    for key in ("del/a", "del/b", "del/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.delete_object(Bucket=bucket, Key="del/a")["ResponseMetadata"][
        "HTTPStatusCode"] == 204
    s3.delete_object(Bucket=bucket, Key="del/never-there")  # idempotent
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "del/b"}, {"Key": "del/c"}, {"Key": "del/missing"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["del/b", "del/c", "del/missing"]
    assert result.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket, Prefix="del/")["KeyCount"] == 0


def test_copy_object_shares_chunks_and_copies_or_replaces_metadata(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    bucket = user.home_bucket
    body = os.urandom(1024 * 1024 + 5)
    source = s3.put_object(Bucket=bucket, Key="copy/src", Body=body, Metadata={"a": "1"},
                           ContentType="text/x-src")
    copied = s3.copy_object(Bucket=bucket, Key="copy/dst",
                            CopySource={"Bucket": bucket, "Key": "copy/src"})
    assert copied["CopyObjectResult"]["ETag"] == source["ETag"]
    got = s3.get_object(Bucket=bucket, Key="copy/dst")
    assert (got["Body"].read(), got["Metadata"], got["ContentType"]) == (
        body, {"a": "1"}, "text/x-src")
    chunks = query(s3_cluster.spec.database_url,
                   "SELECT f.path, array_agg(vc.chunk_id ORDER BY vc.idx) AS chunks FROM files f"
                   " JOIN buckets b ON b.id = f.bucket_id AND b.name = %s"
                   " JOIN version_chunks vc ON vc.version_id = f.current_version_id"
                   " WHERE f.path LIKE 'copy/%%' GROUP BY f.path", (bucket,))
    by_path = {r["path"]: r["chunks"] for r in chunks}
    assert by_path["copy/dst"] == by_path["copy/src"] and len(by_path["copy/src"]) == 2
    s3.copy_object(Bucket=bucket, Key="copy/dst", MetadataDirective="REPLACE",
                   CopySource=f"{bucket}/copy/src", Metadata={"b": "2"},
                   ContentType="text/x-new")
    head = s3.head_object(Bucket=bucket, Key="copy/dst")
    assert (head["Metadata"], head["ContentType"]) == ({"b": "2"}, "text/x-new")
    with pytest.raises(ClientError) as onto_itself:
        s3.copy_object(Bucket=bucket, Key="copy/src", CopySource=f"{bucket}/copy/src")
    assert _code(onto_itself) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as no_source:
        s3.copy_object(Bucket=bucket, Key="copy/x", CopySource=f"{bucket}/copy/nope")
    assert _code(no_source) == ("NoSuchKey", 404)


def test_errors_are_s3_xml_with_s3_codes_and_the_rest_is_not_implemented(
    s3: Any, user: S3User
) -> None:
    bucket = user.home_bucket
    cases = [
        (lambda: s3.get_object(Bucket=bucket, Key="nope"), ("NoSuchKey", 404)),
        (lambda: s3.get_object(Bucket="no-such-bucket-here", Key="k"), ("NoSuchBucket", 404)),
        (lambda: s3.put_object(Bucket=bucket, Key="a//b", Body=b"x"),
         ("InvalidArgument", 400)),
        (lambda: s3.get_bucket_policy(Bucket=bucket), ("NotImplemented", 501)),
        (lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []}),
         ("NotImplemented", 501)),
        (lambda: s3.get_object_acl(Bucket=bucket, Key="k"), ("NotImplemented", 501)),
        (lambda: s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="nope"),
         ("NoSuchUpload", 404)),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as failed:
            call()
        assert _code(failed) == expected


def test_folder_keys_are_directories(s3: Any, user: S3User) -> None:
    bucket = user.home_bucket
    s3.put_object(Bucket=bucket, Key="folder/", Body=b"")
    assert s3.head_object(Bucket=bucket, Key="folder/")["ContentLength"] == 0
    with pytest.raises(ClientError) as with_body:
        s3.put_object(Bucket=bucket, Key="folder2/", Body=b"data")
    assert _code(with_body) == ("InvalidArgument", 400)
    # Deleting the folder key removes the empty directory; one holding objects stays.
    s3.put_object(Bucket=bucket, Key="full/", Body=b"")
    s3.put_object(Bucket=bucket, Key="full/obj", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="folder/")
    s3.delete_object(Bucket=bucket, Key="full/")
    s3.delete_object(Bucket=bucket, Key="never-there/")
    with pytest.raises(ClientError) as gone:
        s3.head_object(Bucket=bucket, Key="folder/")
    assert _code(gone)[1] == 404
    assert s3.head_object(Bucket=bucket, Key="full/")["ContentLength"] == 0
    assert s3.get_object(Bucket=bucket, Key="full/obj")["Body"].read() == b"x"


def test_virtual_hosted_style_names_the_bucket_in_the_host(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    s3.put_object(Bucket=user.home_bucket, Key="vh/file.txt", Body=b"virtual")
    port = s3_cluster.s3_url.rsplit(":", 1)[1]
    host = f"{user.home_bucket}.localhost:{port}"
    request = AWSRequest(method="GET", url=f"http://{host}/vh/file.txt",
                         headers={"x-amz-content-sha256": hashlib.sha256(b"").hexdigest()})
    S3SigV4Auth(Credentials(user.key_id, user.secret), "s3", "us-east-1").add_auth(request)
    answer = httpx.get(f"{s3_cluster.s3_url}/vh/file.txt",
                       headers={**dict(request.headers.items()), "Host": host}, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"virtual")


def test_presigned_get_and_put(s3: Any, user: S3User) -> None:
    bucket = user.home_bucket
    put_url = s3.generate_presigned_url("put_object", ExpiresIn=300,
                                        Params={"Bucket": bucket, "Key": "pre/signed.txt"})
    assert httpx.put(put_url, content=b"presigned body", timeout=30).status_code == 200
    get_url = s3.generate_presigned_url(
        "get_object", ExpiresIn=300,
        Params={"Bucket": bucket, "Key": "pre/signed.txt",
                "ResponseContentType": "text/plain"})
    answer = httpx.get(get_url, timeout=30)
    assert (answer.status_code, answer.content) == (200, b"presigned body")
    assert answer.headers["content-type"] == "text/plain"
    tampered = get_url.replace("pre/signed.txt", "pre/other.txt")
    assert httpx.get(tampered, timeout=30).status_code == 403


def test_a_rest_upload_is_an_object_with_a_multipart_shaped_sha256_etag(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    body = b"uploaded through the REST API"
    put = httpx.put(f"{s3_cluster.master_url}/api/v1/fs/{user.home_bucket}/rest/file.txt",
                    content=body, headers={"Authorization": f"Bearer {user.token}"}, timeout=30)
    assert put.status_code == 201
    etag = f'"{hashlib.sha256(body).hexdigest()}-1"'
    got = s3.get_object(Bucket=user.home_bucket, Key="rest/file.txt")
    assert (got["Body"].read(), got["ETag"]) == (body, etag)
    listed = s3.list_objects_v2(Bucket=user.home_bucket, Prefix="rest/")["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed] == [
        ("rest/file.txt", etag, len(body))]

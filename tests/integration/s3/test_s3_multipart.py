"""S3 multipart uploads with boto3 against a real cluster: complete, abort, list, copy
parts, and the completion's checks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.db import query
from tests.support.rss import RssSampler
from tests.support.s3 import S3User
from tools.cluster import LocalCluster

MiB = 1024 * 1024


def _etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_three_parts_complete_into_one_object_with_the_multipart_etag(
    s3: Any, user: S3User
) -> None:
    bucket, key = user.home_bucket, "mp/three.bin"
    # Parts not a multiple of the chunk size: the object's chunks differ in size.
    parts = [os.urandom(5 * MiB + 512 * 1024), os.urandom(5 * MiB + 3), os.urandom(MiB + 7)]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/x-mp",
                                        Metadata={"kind": "multi"})["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n + 1,
                            Body=body)["ETag"] for n, body in enumerate(parts)]
    assert etags == [f'"{hashlib.md5(p).hexdigest()}"' for p in parts]
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [
        (n + 1, len(p)) for n, p in enumerate(parts)]
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix="mp/")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload)]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                   for n, e in enumerate(etags)]})
    assert done["ETag"] == _etag(parts)
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == whole
    assert (got["ETag"], got["ContentType"], got["Metadata"]) == (
        _etag(parts), "text/x-mp", {"kind": "multi"})
    edge = len(parts[0])
    ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={edge - 10}-{edge + 10}")
    assert ranged["Body"].read() == whole[edge - 10: edge + 11]
    assert s3.list_multipart_uploads(Bucket=bucket, Prefix="mp/").get("Uploads", []) == []
    with pytest.raises(ClientError) as finished:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload)
    assert finished.value.response["Error"]["Code"] == "NoSuchUpload"


def test_abort_drops_the_upload_and_releases_its_parts(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    bucket, key = user.home_bucket, "mp/aborted.bin"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                   Body=os.urandom(MiB))
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
    with pytest.raises(ClientError) as aborted:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2, Body=b"x")
    assert aborted.value.response["Error"]["Code"] == "NoSuchUpload"
    rows = query(s3_cluster.spec.database_url,
                 "SELECT (SELECT count(*) FROM upload_session_parts p WHERE p.session_id = s.id)"
                 " + (SELECT count(*) FROM s3_parts p WHERE p.session_id = s.id) AS n"
                 " FROM upload_sessions s WHERE s.path = %s", (key,))
    assert [r["n"] for r in rows] == [0]
    with pytest.raises(ClientError) as nothing:
        s3.head_object(Bucket=bucket, Key=key)
    assert nothing.value.response["Error"]["Code"] == "404"
    # An upload that expires (the sessions' expiry job closes it) keeps no part rows.
    left = s3.create_multipart_upload(Bucket=bucket, Key="mp/left.bin")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp/left.bin", UploadId=left, PartNumber=1, Body=b"p")
    counted = ("SELECT count(*) AS n FROM s3_parts p JOIN upload_sessions s"
               " ON s.id = p.session_id WHERE s.path = 'mp/left.bin'")
    assert query(s3_cluster.spec.database_url, counted)[0]["n"] == 1
    query(s3_cluster.spec.database_url, "UPDATE upload_sessions SET state = 'expired'"
          " WHERE path = 'mp/left.bin' RETURNING id")
    assert query(s3_cluster.spec.database_url, counted)[0]["n"] == 0


def test_completion_checks_parts_etags_order_and_sizes(s3: Any, user: S3User) -> None:
    bucket, key = user.home_bucket, "mp/checked.bin"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                           Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2,
                          Body=b"last")["ETag"]

    def complete(parts: list[dict[str, Any]]) -> str:
        with pytest.raises(ClientError) as failed:
            s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                         MultipartUpload={"Parts": parts})
        return str(failed.value.response["Error"]["Code"])

    assert complete([{"PartNumber": 1, "ETag": '"0000"'}]) == "InvalidPart"
    assert complete([{"PartNumber": 3, "ETag": last}]) == "InvalidPart"
    assert complete([{"PartNumber": 2, "ETag": last},
                     {"PartNumber": 1, "ETag": small}]) == "InvalidPartOrder"
    assert complete([{"PartNumber": 1, "ETag": small},
                     {"PartNumber": 2, "ETag": last}]) == "EntityTooSmall"
    # The upload is still open and completes with one (last = only) part.
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": small}]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"small"


def test_upload_part_copy_copies_ranges_of_an_object(s3: Any, user: S3User) -> None:
    bucket = user.home_bucket
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="mp/source.bin", Body=source)
    key = "mp/from-copies.bin"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    first = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bucket, "Key": "mp/source.bin"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    second = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "mp/source.bin"})
    etags = [first["CopyPartResult"]["ETag"], second["CopyPartResult"]["ETag"]]
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e}
                                   for n, e in enumerate(etags)]})
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == source[:5 * MiB] + source


def test_a_64_mib_part_streams_through_without_growing_the_master_by_a_part(
    s3: Any, user: S3User, s3_cluster: LocalCluster, tmp_path: Path
) -> None:
    """Bounded memory: a part is chunked as it arrives (at most the upload pipeline's
    chunks in flight), never held whole; a download streams with bounded read-ahead."""
    assert s3_cluster.master is not None
    part = tmp_path / "part.bin"
    digest = hashlib.md5()
    with part.open("wb") as out:
        for _ in range(64):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    bucket, key = user.home_bucket, "mp/streamed.bin"
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    with RssSampler({"master": s3_cluster.master.pid}) as upload_rss, part.open("rb") as body:
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                              Body=body)["ETag"]
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                 "ETag": etag}]})
    received = hashlib.md5()
    with RssSampler({"master": s3_cluster.master.pid}) as download_rss:
        stream = s3.get_object(Bucket=bucket, Key=key)["Body"]
        for piece in stream.iter_chunks(MiB):
            received.update(piece)
    assert received.hexdigest() == digest.hexdigest()
    growth = {"upload": upload_rss.growth()["master"],
              "download": download_rss.growth()["master"]}
    print("master RSS growth MiB", {k: v // MiB for k, v in growth.items()})
    assert max(growth.values()) < 48 * MiB, {k: v // MiB for k, v in growth.items()}

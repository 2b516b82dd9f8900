"""Who may use the S3 gateway: signatures, keys (scope, bucket list, revocation),
presigned expiry, clock skew, payload hashes and signed aws-chunked bodies. Every
refusal is S3's code, and a refused write stores nothing."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.s3 import S3User, client_for, make_s3_key, new_s3_user
from tools.cluster import LocalCluster

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _code(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def _absent(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    return False


class _StreamingSigner(S3SigV4Auth):
    """botocore's signer for a request whose payload is signed chunk by chunk."""

    def payload(self, request: AWSRequest) -> str:
        return STREAMING


def _chunked_put(user: S3User, key: str, chunks: list[bytes], tamper: int | None = None
                 ) -> httpx.Response:
    """PUT ``chunks`` as a signed aws-chunked body; ``tamper``: flip a byte of that
    chunk after signing it."""
    host = user.endpoint.removeprefix("http://")
    sizes = [len(c) for c in chunks] + [0]
    encoded = sum(len(f"{n:x};chunk-signature=".encode()) + 64 + 2 + n + 2 for n in sizes)
    request = AWSRequest(method="PUT", url=f"http://{host}/{user.home_bucket}/{key}", headers={
        "content-encoding": "aws-chunked", "content-length": str(encoded),
        "x-amz-decoded-content-length": str(sum(sizes))})
    signer = _StreamingSigner(Credentials(user.key_id, user.secret), "s3", "us-east-1")
    signer.add_auth(request)
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = signer.credential_scope(request)
    body = b""
    for index, data in enumerate([*chunks, b""]):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", request.context["timestamp"], scope,
                             previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
        previous = signer.signature(to_sign, request)
        sent = data if index != tamper else bytes([data[0] ^ 1]) + data[1:]
        body += f"{len(data):x};chunk-signature={previous}\r\n".encode() + sent + b"\r\n"
    assert len(body) == encoded
    return httpx.put(f"{user.endpoint}/{user.home_bucket}/{key}", content=body, timeout=60,
                     headers={**dict(request.headers.items()), "Host": host})


def test_signed_aws_chunked_uploads_verify_and_a_tampered_chunk_stores_nothing(
    s3: Any, user: S3User
) -> None:
    chunks = [os.urandom(64 * 1024), os.urandom(64 * 1024), b"tail"]
    accepted = _chunked_put(user, "auth/chunked.bin", chunks)
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["ETag"] == f'"{hashlib.md5(b"".join(chunks)).hexdigest()}"'
    assert s3.get_object(Bucket=user.home_bucket, Key="auth/chunked.bin")["Body"].read() == \
        b"".join(chunks)
    refused = _chunked_put(user, "auth/tampered.bin", chunks, tamper=1)
    assert refused.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in refused.content
    assert _absent(s3, user.home_bucket, "auth/tampered.bin")


def test_a_wrong_secret_an_unknown_key_and_anonymous_requests_are_refused(
    s3: Any, user: S3User
) -> None:
    wrong = client_for(S3User(**{**user.__dict__, "secret": user.secret[:-1] + "x"}))
    with pytest.raises(ClientError) as mismatch:
        wrong.put_object(Bucket=user.home_bucket, Key="auth/wrong-secret", Body=b"x")
    assert _code(mismatch) == ("SignatureDoesNotMatch", 403)
    assert _absent(s3, user.home_bucket, "auth/wrong-secret")
    unknown = client_for(S3User(**{**user.__dict__, "key_id": "EK" + "A" * 18}))
    with pytest.raises(ClientError) as no_key:
        unknown.list_buckets()
    assert _code(no_key) == ("InvalidAccessKeyId", 403)
    anonymous = httpx.put(f"{user.endpoint}/{user.home_bucket}/auth/anon", content=b"x")
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    assert _absent(s3, user.home_bucket, "auth/anon")


def test_another_users_bucket_is_not_there_for_you(s3: Any, user: S3User,
                                                   s3_cluster: LocalCluster) -> None:
    other = client_for(new_s3_user(s3_cluster))
    s3.put_object(Bucket=user.home_bucket, Key="auth/private", Body=b"mine")
    for call in (lambda: other.get_object(Bucket=user.home_bucket, Key="auth/private"),
                 lambda: other.put_object(Bucket=user.home_bucket, Key="auth/intruder",
                                          Body=b"theirs"),
                 lambda: other.list_objects_v2(Bucket=user.home_bucket)):
        with pytest.raises(ClientError) as refused:
            call()
        # DESIGN §12: a bucket the caller cannot read answers as a missing one.
        assert _code(refused) == ("NoSuchBucket", 404)
    assert _absent(s3, user.home_bucket, "auth/intruder")


def test_key_scope_bucket_list_and_revocation_apply(
    s3: Any, user: S3User, s3_cluster: LocalCluster
) -> None:
    s3.put_object(Bucket=user.home_bucket, Key="auth/scoped", Body=b"readable")
    read_only = make_s3_key(s3_cluster, user.token, permission="ro")
    ro = client_for(S3User(**{**user.__dict__, "key_id": read_only["key_id"],
                              "secret": read_only["secret"]}))
    assert ro.get_object(Bucket=user.home_bucket, Key="auth/scoped")["Body"].read() == \
        b"readable"
    with pytest.raises(ClientError) as denied:
        ro.put_object(Bucket=user.home_bucket, Key="auth/by-ro-key", Body=b"x")
    assert _code(denied) == ("AccessDenied", 403)
    assert _absent(s3, user.home_bucket, "auth/by-ro-key")
    extra = f"s3a-{os.urandom(5).hex()}"
    s3.create_bucket(Bucket=extra)
    limited = make_s3_key(s3_cluster, user.token, buckets=[extra])
    only_extra = client_for(S3User(**{**user.__dict__, "key_id": limited["key_id"],
                                      "secret": limited["secret"]}))
    only_extra.put_object(Bucket=extra, Key="inside", Body=b"ok")
    with pytest.raises(ClientError) as outside:
        only_extra.get_object(Bucket=user.home_bucket, Key="auth/scoped")
    assert _code(outside) == ("NoSuchBucket", 404)
    revoked = httpx.delete(f"{s3_cluster.master_url}/api/v1/keys/{limited['key_id']}",
                           headers={"Authorization": f"Bearer {user.token}"}, timeout=30)
    assert revoked.status_code == 200
    with pytest.raises(ClientError) as gone:
        only_extra.get_object(Bucket=extra, Key="inside")
    assert _code(gone) == ("InvalidAccessKeyId", 403)


def test_an_expired_presigned_url_and_a_skewed_clock_are_refused(
    s3: Any, user: S3User
) -> None:
    s3.put_object(Bucket=user.home_bucket, Key="auth/old", Body=b"x")
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with mock.patch("botocore.auth.get_current_datetime", return_value=hour_ago):
        url = s3.generate_presigned_url("get_object", ExpiresIn=600,
                                        Params={"Bucket": user.home_bucket, "Key": "auth/old"})
        skewed = client_for(user)
        with pytest.raises(ClientError) as skew:
            skewed.put_object(Bucket=user.home_bucket, Key="auth/skewed", Body=b"x")
    expired = httpx.get(url, timeout=30)
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    assert _code(skew) == ("RequestTimeTooSkewed", 403)
    assert _absent(s3, user.home_bucket, "auth/skewed")


def test_a_body_that_does_not_hash_to_its_declared_sha256_stores_nothing(
    s3: Any, user: S3User
) -> None:
    host = user.endpoint.removeprefix("http://")
    request = AWSRequest(method="PUT", url=f"http://{host}/{user.home_bucket}/auth/swapped",
                         data=b"the signed body")
    S3SigV4Auth(Credentials(user.key_id, user.secret), "s3", "us-east-1").add_auth(request)
    answer = httpx.put(f"{user.endpoint}/{user.home_bucket}/auth/swapped",
                       content=b"another body!!!", timeout=30,
                       headers={**dict(request.headers.items()), "Host": host})
    assert answer.status_code == 400
    assert b"<Code>XAmzContentSHA256Mismatch</Code>" in answer.content
    assert _absent(s3, user.home_bucket, "auth/swapped")

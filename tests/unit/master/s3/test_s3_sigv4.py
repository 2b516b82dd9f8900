"""SigV4 verification: requests signed by botocore pass, anything else is refused with
S3's code; AWS's own streaming example (seed and chunk signatures) verifies."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from master.s3.body import AwsChunkedBody
from master.s3.errors import S3Error
from master.s3.sigv4 import RequestParts, authenticate
from master.services.auth import Principal

USER = Principal(7, "alice", False, key_id="AKTEST")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Key:
    secret: str
    principal: Principal


class Keys:
    def __init__(self, secrets: dict[str, str]) -> None:
        self._secrets = secrets

    async def resolve(self, key_id: str) -> Key | None:
        secret = self._secrets.get(key_id)
        return Key(secret, USER) if secret is not None else None


KEYS = Keys({"AKTEST": "s3cr3t/key", "AKIAIOSFODNN7EXAMPLE":
             "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})


def _parts(request: AWSRequest) -> RequestParts:
    url = urllib.parse.urlsplit(request.url)
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    headers.setdefault("host", [url.netloc])
    return RequestParts(request.method, url.netloc, url.path,
                        urllib.parse.parse_qsl(url.query, keep_blank_values=True), headers)


def _signed(method: str = "PUT", url: str = "http://127.0.0.1:8333/bkt/a%20b/c~d.txt?uploads",
            body: bytes = b"hello", secret: str = "s3cr3t/key", at: datetime = NOW
            ) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        S3SigV4Auth(Credentials("AKTEST", secret), "s3", "us-east-1").add_auth(request)
    return request


def _presigned(url: str, expires: int, at: datetime = NOW) -> AWSRequest:
    request = AWSRequest(method="GET", url=url)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        S3SigV4QueryAuth(Credentials("AKTEST", "s3cr3t/key"), "s3", "us-east-1",
                         expires=expires).add_auth(request)
    return AWSRequest(method="GET", url=request.url)


async def _refusal(parts: RequestParts, now: datetime = NOW) -> tuple[str, int]:
    with pytest.raises(S3Error) as refused:
        await authenticate(parts, KEYS, now, 900)
    return refused.value.code, refused.value.status


async def test_a_botocore_signed_request_authenticates_its_key() -> None:
    done = await authenticate(_parts(_signed()), KEYS, NOW, 900)
    assert (done.principal, done.key_id, done.chunks) == (USER, "AKTEST", None)
    assert len(done.payload_hash) == 64


async def test_a_wrong_secret_or_a_changed_request_does_not_match() -> None:
    assert await _refusal(_parts(_signed(secret="other"))) == ("SignatureDoesNotMatch", 403)
    changed = _parts(_signed())
    changed = RequestParts("DELETE", changed.host, changed.raw_path, changed.query,
                           changed.headers)
    assert await _refusal(changed) == ("SignatureDoesNotMatch", 403)


async def test_an_unknown_key_and_anonymous_requests_are_refused() -> None:
    parts = _parts(_signed())
    auth = parts.headers["authorization"][0].replace("AKTEST", "AKNOBODY")
    unknown = RequestParts(parts.method, parts.host, parts.raw_path, parts.query,
                           {**parts.headers, "authorization": [auth]})
    assert await _refusal(unknown) == ("InvalidAccessKeyId", 403)
    anonymous = RequestParts("GET", "h", "/b/k", [], {"host": ["h"]})
    assert await _refusal(anonymous) == ("AccessDenied", 403)


async def test_clock_skew_beyond_the_limit_is_refused() -> None:
    parts = _parts(_signed(at=NOW - timedelta(minutes=16)))
    assert await _refusal(parts) == ("RequestTimeTooSkewed", 403)
    assert (await authenticate(_parts(_signed(at=NOW - timedelta(minutes=14))), KEYS,
                               NOW, 900)).key_id == "AKTEST"


async def test_presigned_urls_verify_until_they_expire() -> None:
    request = _presigned("http://127.0.0.1:8333/bkt/some%2Bkey", expires=60)
    done = await authenticate(_parts(request), KEYS, NOW + timedelta(seconds=30), 900)
    assert done.payload_hash == "UNSIGNED-PAYLOAD"
    assert await _refusal(_parts(request), NOW + timedelta(seconds=61)) == (
        "AccessDenied", 403)
    tampered = AWSRequest(method="GET", url=request.url.replace("some%2Bkey", "other"))
    assert await _refusal(_parts(tampered)) == ("SignatureDoesNotMatch", 403)


# AWS's example of a signed streaming upload (Signature V4 documentation,
# "Example: PUT Object", chunked upload of 66560 bytes of 'a').
_AWS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class,"
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
_AWS_HEADERS = {
    "host": ["s3.amazonaws.com"], "x-amz-date": ["20130524T000000Z"],
    "x-amz-storage-class": ["REDUCED_REDUNDANCY"], "authorization": [_AWS_AUTH],
    "x-amz-content-sha256": ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD"],
    "content-encoding": ["aws-chunked"], "x-amz-decoded-content-length": ["66560"],
    "content-length": ["66824"],
}
_AWS_CHUNKS = [
    (b"a" * 65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
    (b"a" * 1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
    (b"", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
]


class Stream:
    """Bytes read the way aiohttp's StreamReader hands them out."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    async def read(self, n: int = -1) -> bytes:
        piece = self._data[self._at: self._at + (n if n >= 0 else len(self._data))]
        self._at += len(piece)
        return piece

    async def readexactly(self, n: int) -> bytes:
        return await self.read(n)

    async def readline(self, *, max_line_length: int | None = None) -> bytes:
        end = self._data.find(b"\n", self._at)
        return await self.read((end if end >= 0 else len(self._data)) - self._at + 1)


def _chunked(chunks: list[tuple[bytes, str]]) -> bytes:
    return b"".join(f"{len(data):x};chunk-signature={sig}\r\n".encode() + data + b"\r\n"
                    for data, sig in chunks)


async def _read_all(body: AwsChunkedBody) -> bytes:
    out = []
    while piece := await body.read(10_000):
        out.append(piece)
    return b"".join(out)


async def _aws_example(chunks: list[tuple[bytes, str]]) -> bytes:
    parts = RequestParts("PUT", "s3.amazonaws.com", "/examplebucket/chunkObject.txt", [],
                         _AWS_HEADERS)
    done = await authenticate(parts, KEYS, datetime(2013, 5, 24, tzinfo=UTC), 900)
    return await _read_all(AwsChunkedBody(Stream(_chunked(chunks)), done.chunks, 66560))


async def test_aws_streaming_example_verifies_seed_and_every_chunk() -> None:
    assert await _aws_example(_AWS_CHUNKS) == b"a" * 66560


async def test_a_tampered_chunk_or_signature_or_a_truncated_body_is_refused() -> None:
    flipped = [(b"b" + _AWS_CHUNKS[0][0][1:], _AWS_CHUNKS[0][1]), *_AWS_CHUNKS[1:]]
    resigned = [_AWS_CHUNKS[0], (_AWS_CHUNKS[1][0], "0" * 64), _AWS_CHUNKS[2]]
    for chunks in (flipped, resigned):
        with pytest.raises(S3Error) as refused:
            await _aws_example(chunks)
        assert (refused.value.code, refused.value.status) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(S3Error) as cut:
        await _aws_example(_AWS_CHUNKS[:2])
    assert cut.value.code == "IncompleteBody"

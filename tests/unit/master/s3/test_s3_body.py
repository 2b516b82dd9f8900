"""Request bodies: a declared SHA-256 is checked at the end, unsigned aws-chunked bodies
are decoded and their trailing checksum checked."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest

from master.s3.body import AwsChunkedBody, PlainBody
from master.s3.errors import S3Error


class Stream:
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


async def _drain(read) -> bytes:  # type: ignore[no-untyped-def]
    out = []
    while piece := await read(3):
        out.append(piece)
    return b"".join(out)


async def test_a_plain_body_must_hash_to_its_declared_sha256() -> None:
    good = hashlib.sha256(b"payload").hexdigest()
    assert await _drain(PlainBody(Stream(b"payload"), good).read) == b"payload"
    assert await _drain(PlainBody(Stream(b"payload"), "UNSIGNED-PAYLOAD").read) == b"payload"
    with pytest.raises(S3Error) as refused:
        await _drain(PlainBody(Stream(b"tampered"), good).read)
    assert refused.value.code == "XAmzContentSHA256Mismatch"


def _unsigned(chunks: list[bytes], trailer: str) -> bytes:
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    return body + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


async def test_unsigned_aws_chunked_bodies_check_their_trailing_crc32() -> None:
    data = [b"hello ", b"world"]
    crc = base64.b64encode(zlib.crc32(b"hello world").to_bytes(4, "big")).decode()
    body = AwsChunkedBody(Stream(_unsigned(data, f"x-amz-checksum-crc32:{crc}")), None, 11,
                          "x-amz-checksum-crc32")
    assert await _drain(body.read) == b"hello world"
    wrong = AwsChunkedBody(Stream(_unsigned(data, "x-amz-checksum-crc32:AAAAAA==")), None, 11,
                           "x-amz-checksum-crc32")
    with pytest.raises(S3Error) as refused:
        await _drain(wrong.read)
    assert refused.value.code == "BadDigest"
    short = AwsChunkedBody(Stream(_unsigned(data, f"x-amz-checksum-crc32:{crc}")), None, 12,
                           "x-amz-checksum-crc32")
    with pytest.raises(S3Error) as length:
        await _drain(short.read)
    assert length.value.code == "IncompleteBody"


async def test_a_plain_body_is_checked_against_its_checksum_header() -> None:
    crc = base64.b64encode(zlib.crc32(b"payload").to_bytes(4, "big")).decode()
    checked = PlainBody(Stream(b"payload"), "UNSIGNED-PAYLOAD", ("x-amz-checksum-crc32", crc))
    assert await _drain(checked.read) == b"payload"
    sha = base64.b64encode(hashlib.sha256(b"payload").digest()).decode()
    wrong = PlainBody(Stream(b"payloaD"), "UNSIGNED-PAYLOAD", ("x-amz-checksum-sha256", sha))
    with pytest.raises(S3Error) as refused:
        await _drain(wrong.read)
    assert refused.value.code == "BadDigest"

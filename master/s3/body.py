"""Request bodies as the services read them: ``read(n)`` of verified bytes, streamed.

- A plain body whose ``x-amz-content-sha256`` is a hash is hashed as it streams and
  checked at its end (XAmzContentSHA256Mismatch); ``UNSIGNED-PAYLOAD`` is passed as is.
  An ``x-amz-checksum-crc32`` / ``-sha1`` / ``-sha256`` header (boto3 sends one) is
  checked the same way (BadDigest).
- An ``aws-chunked`` body (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) is decoded chunk by
  chunk; each chunk's signature is checked once its bytes have passed (its bytes are
  handed on before: they are only stored as chunks, and nothing commits until the
  body's end, so a bad signature still leaves nothing stored). The final zero-length
  chunk is signed too; a body that ends early is refused.
- ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (unsigned chunks, a checksum trailer) is
  decoded the same way without signatures; a CRC32, SHA-1 or SHA-256 trailer is checked.

Every error raises before the reader returns its final b"", so the upload that reads
it fails instead of committing. Only a bounded amount is held: one header line (at
most ``MAX_LINE``) and what the caller asked for.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from common.cpu import cpu_bound
from master.s3.errors import S3Error
from master.s3.sigv4 import ChunkSigner

__all__ = ["AwsChunkedBody", "BodyStream", "PlainBody", "checksum_for"]

MAX_LINE = 4096
_CHECKSUMS: dict[str, Callable[[], Any]] = {
    "x-amz-checksum-sha256": hashlib.sha256,
    "x-amz-checksum-sha1": hashlib.sha1,
}


class BodyStream(Protocol):
    """The parts of aiohttp's ``StreamReader`` the decoders use."""

    def read(self, n: int = -1) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...

    def readline(self, *, max_line_length: int | None = None) -> Awaitable[bytes]: ...


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def _hash_update(hasher: Any, data: bytes) -> None:
    hasher.update(data)


def checksum_for(name: str | None) -> Any:
    """A hasher for an ``x-amz-checksum-*`` algorithm we can check (None otherwise:
    CRC32C and CRC64NVME need libraries the master does not carry)."""
    if name == "x-amz-checksum-crc32":
        return _Crc32()
    factory = _CHECKSUMS.get(name or "")
    return factory() if factory is not None else None


class PlainBody:
    """A body sent as is; hashed when the client declared its SHA-256, and checked
    against an ``x-amz-checksum-*`` header (``checksum``: its name and value)."""

    def __init__(self, stream: BodyStream, payload_hash: str,
                 checksum: tuple[str, str] | None = None) -> None:
        self._stream = stream
        declared = payload_hash.lower()
        self._expected = declared if len(declared) == 64 else None
        self._hasher = hashlib.sha256() if self._expected else None
        self._checksum_name, self._checksum_value = checksum or ("", "")
        self._checksum = checksum_for(self._checksum_name) if checksum else None
        self.size = 0

    async def read(self, n: int) -> bytes:
        data = await self._stream.read(n)
        hashers = [h for h in (self._hasher, self._checksum) if h is not None]
        if data:
            for hasher in hashers:
                await cpu_bound(len(data), _hash_update, hasher, data)
        else:
            self._check_end()
        self.size += len(data)
        return data

    def _check_end(self) -> None:
        if self._hasher is not None and self._hasher.hexdigest() != self._expected:
            raise S3Error("XAmzContentSHA256Mismatch",
                          "the body does not hash to its x-amz-content-sha256")
        if self._checksum is not None and (
            base64.b64encode(self._checksum.digest()).decode() != self._checksum_value
        ):
            raise S3Error("BadDigest", f"the body does not match its {self._checksum_name}")


class AwsChunkedBody:
    """An ``aws-chunked`` body, decoded: signed chunks (``signer``) or unsigned ones
    with a trailing checksum (``trailer``, the x-amz-trailer header's value)."""

    def __init__(self, stream: BodyStream, signer: ChunkSigner | None,
                 decoded_length: int | None, trailer: str | None = None) -> None:
        self._stream = stream
        self._signer = signer
        self._decoded_length = decoded_length
        self._trailer = trailer.lower() if trailer else None
        self._checksum = self._new_checksum()
        self._remaining = 0  # bytes left in the current chunk
        self._chunk_hash: Any = None
        self._chunk_signature = ""
        self._done = False
        self.size = 0

    def _new_checksum(self) -> Any:
        return checksum_for(self._trailer)

    async def read(self, n: int) -> bytes:
        if self._done:
            return b""
        if self._remaining == 0:
            await self._next_header()
            if self._done:
                return b""
        data = await self._stream.read(min(n, self._remaining))
        if not data:
            raise S3Error("IncompleteBody", "the body ended inside a chunk")
        self._remaining -= len(data)
        self.size += len(data)
        hashers = [h for h in (self._chunk_hash, self._checksum) if h is not None]
        for hasher in hashers:
            await cpu_bound(len(data), _hash_update, hasher, data)
        if self._remaining == 0:
            if await self._stream.readexactly(2) != b"\r\n":
                raise S3Error("InvalidRequest", "an aws-chunked chunk must end in CRLF")
            self._check_signature()
        return data

    async def _line(self) -> bytes:
        line = await self._stream.readline(max_line_length=MAX_LINE)
        if not line.endswith(b"\r\n"):
            raise S3Error("IncompleteBody", "the aws-chunked body ended early")
        return line[:-2]

    async def _next_header(self) -> None:
        header = (await self._line()).decode("ascii", "replace")
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise S3Error("InvalidRequest", "malformed aws-chunked chunk header") from None
        if size < 0:
            raise S3Error("InvalidRequest", "malformed aws-chunked chunk header")
        if self._signer is not None:
            name, _, signature = extension.partition("=")
            if name.strip() != "chunk-signature" or not signature:
                raise S3Error("SignatureDoesNotMatch", "a chunk has no chunk-signature", 403)
            self._chunk_signature = signature.strip()
            self._chunk_hash = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._check_signature()
            await self._finish()

    def _check_signature(self) -> None:
        if self._signer is None:
            return
        if not self._signer.verify(self._chunk_signature, self._chunk_hash.hexdigest()):
            raise S3Error("SignatureDoesNotMatch",
                          "a chunk's signature does not match its bytes", 403)

    async def _finish(self) -> None:
        """After the final chunk: trailers (if any) up to the blank line."""
        trailers: dict[str, str] = {}
        while True:
            line = await self._line()
            if not line:
                break
            name, _, value = line.decode("ascii", "replace").partition(":")
            trailers[name.strip().lower()] = value.strip()
        if self._checksum is not None and self._trailer is not None:
            given = trailers.get(self._trailer)
            if given is None or base64.b64encode(self._checksum.digest()).decode() != given:
                raise S3Error("BadDigest", f"the body does not match its {self._trailer}")
        if self._decoded_length is not None and self.size != self._decoded_length:
            raise S3Error("IncompleteBody",
                          "the body's length is not its x-amz-decoded-content-length")
        self._done = True

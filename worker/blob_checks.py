"""Pure checks of one blob against its header: size, checksum, content id.

CPU-bound functions with no I/O, so the store can run them inline for small blobs and
in a thread for large ones (``common.cpu.cpu_bound``), and tests can call them alone.
Why each check exists is in ``worker/store.py``'s docstring.
"""

from __future__ import annotations

import builtins
import hashlib
import re
from collections.abc import Sequence

from common.chunks import Codec, check_content_id, validate_chunk_id
from common.errors import ChecksumMismatch, ChunkIdMismatch, EchoError, InvalidInput
from worker.backends.base import BlobMeta

__all__ = [
    "MAX_RAW_SIZE",
    "MAX_STORED_SIZE",
    "check_blob",
    "check_blobs",
    "check_cost",
    "check_header",
    "sha256_hex",
    "stored_fault",
    "stored_faults",
]

MiB = 1024 * 1024
# The largest chunk is 64 MiB (CHUNK_SIZE's bound); incompressible data stored raw
# can never exceed it, but leave slack for codec framing.
MAX_STORED_SIZE = 64 * MiB + MiB
# Checking a zstd blob's content costs CPU in proportion to what it decodes to.
MAX_RAW_SIZE = 64 * MiB
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_cost(meta: BlobMeta, payload: bytes, *, content: bool = True) -> int:
    """Bytes a full check hashes or decodes (decides inline or in a thread)."""
    decoded = meta.raw_size if content and meta.codec is Codec.ZSTD else 0
    return len(payload) + decoded


def check_blob(meta: BlobMeta, payload: bytes) -> None:
    """The header is valid, the payload is what it declares, and it is that chunk.

    CPU-bound (hashes the blob, decodes a zstd one). Raises InvalidInput,
    ChecksumMismatch or ChunkIdMismatch (nothing may be stored then).
    """
    check_header(meta)
    if len(payload) != meta.stored_size:
        raise InvalidInput(
            f"chunk {meta.chunk_id}: received {len(payload)} bytes, "
            f"header declared stored_size {meta.stored_size}"
        )
    digest = sha256_hex(payload)
    if digest != meta.blob_sha256:
        raise ChecksumMismatch(
            f"chunk {meta.chunk_id}: blob sha256 is {digest}, header declared "
            f"{meta.blob_sha256}; nothing stored"
        )
    try:
        check_content_id(meta.chunk_id, meta.codec, meta.raw_size, payload, digest)
    except ChunkIdMismatch as exc:
        raise ChunkIdMismatch(f"{exc.message}; nothing stored") from None


def check_blobs(items: Sequence[tuple[BlobMeta, bytes]]) -> builtins.list[EchoError | None]:
    """:func:`check_blob` for each item: its error, or None when it may be stored."""
    errors: builtins.list[EchoError | None] = []
    for meta, payload in items:
        try:
            check_blob(meta, payload)
            errors.append(None)
        except EchoError as error:
            errors.append(error)
    return errors


def stored_fault(
    meta: BlobMeta, data: bytes, check_content: bool, proven_blob_sha256: str
) -> str | None:
    """Why a stored blob cannot be trusted, or None when it can. CPU-bound.

    The content id is proven only with ``check_content``, and not when the blob is
    byte for byte one (``proven_blob_sha256``) whose content was just proven.
    """
    digest = sha256_hex(data)
    if digest != meta.blob_sha256 or len(data) != meta.stored_size:
        return f"stored blob hashes to {digest[:16]}, expected {meta.blob_sha256[:16]}"
    if check_content and digest != proven_blob_sha256:
        try:
            check_content_id(meta.chunk_id, meta.codec, meta.raw_size, data, digest)
        except ChunkIdMismatch as exc:
            return f"content does not match its id ({exc.message})"
    return None


def stored_faults(blobs: Sequence[tuple[BlobMeta, bytes]]) -> builtins.list[str | None]:
    """:func:`stored_fault` of each blob, checksum only (a batch of reads)."""
    return [stored_fault(meta, data, False, "") for meta, data in blobs]


def check_header(meta: BlobMeta) -> None:
    """Reject a header before any data is accepted. Raises InvalidInput."""
    validate_chunk_id(meta.chunk_id)
    if not _SHA256_RE.fullmatch(meta.blob_sha256):
        raise InvalidInput(f"blob_sha256 is not 64 lowercase hex digits: {meta.blob_sha256[:80]!r}")
    if meta.stored_size > MAX_STORED_SIZE:
        raise InvalidInput(
            f"stored_size {meta.stored_size} exceeds the maximum of {MAX_STORED_SIZE} bytes"
        )
    if not 0 <= meta.raw_size <= MAX_RAW_SIZE:
        raise InvalidInput(
            f"raw_size {meta.raw_size} is outside 0..{MAX_RAW_SIZE} bytes"
        )

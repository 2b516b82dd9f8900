"""Chunk naming, encoding and integrity: pure functions, no I/O.

A chunk is named by the SHA-256 of its uncompressed bytes, so identical chunks share
one name (dedup) and any copy that decodes to that hash is correct. It is stored
zstd-compressed unless compression saves under :data:`MIN_SAVING`; the codec travels
with the blob. Incompressible data (media, archives, encrypted files) is common, so a
chunk larger than :data:`PROBE_MIN_BYTES` is first judged on a sample of
:data:`PROBE_BYTES` taken from evenly spaced places: when the sample does not save
:data:`MIN_SAVING`, the chunk is stored raw without compressing all of it.

A worker must not take a writer's word for a blob's name: :func:`check_content_id`
proves that what a blob decodes to hashes to its chunk id, so nobody can store bytes
under another content's id (and poison every later read or dedup of it). A raw blob's
content hash is its blob hash, already computed, so the check is free; a zstd blob is
decompressed in slices of :data:`CONTENT_CHECK_SLICE_BYTES` and hashed as it goes, so
a chunk is never held decompressed and a "bomb" that expands beyond its declared size
is stopped at that size.

These functions are CPU-bound on whole chunks: callers on an event loop run them
through ``asyncio.to_thread`` (hashlib and zstandard release the GIL).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import Enum

import zstandard

from common.errors import ChunkCorrupt, ChunkIdMismatch, InvalidInput

__all__ = [
    "CHUNK_ID_RE",
    "CONTENT_CHECK_SLICE_BYTES",
    "MIN_SAVING",
    "PROBE_BYTES",
    "PROBE_MIN_BYTES",
    "Codec",
    "EncodedChunk",
    "check_content_id",
    "chunk_id_of",
    "decode_chunk",
    "decode_chunk_frames",
    "encode_chunk",
    "validate_chunk_id",
    "worth_compressing",
]

CHUNK_ID_RE = re.compile(r"^[0-9a-f]{64}$")
MIN_SAVING = 0.05
PROBE_BYTES = 64 * 1024
PROBE_MIN_BYTES = 4 * PROBE_BYTES
_PROBE_SLICES = 4
CONTENT_CHECK_SLICE_BYTES = 1024 * 1024


class Codec(str, Enum):
    RAW = "raw"
    ZSTD = "zstd"


@dataclass(frozen=True, slots=True)
class EncodedChunk:
    """One chunk ready to store: its name, how it is encoded, and the stored bytes."""

    chunk_id: str
    codec: Codec
    raw_size: int
    payload: bytes
    blob_sha256: str

    @property
    def stored_size(self) -> int:
        return len(self.payload)


def chunk_id_of(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def validate_chunk_id(chunk_id: str) -> str:
    if not CHUNK_ID_RE.fullmatch(chunk_id):
        raise InvalidInput(f"not a chunk id (64 lowercase hex digits): {chunk_id[:80]!r}")
    return chunk_id


def _saves_enough(original_size: int, compressed_size: int) -> bool:
    return compressed_size <= original_size * (1 - MIN_SAVING)


def _probe_sample(raw: bytes) -> bytes:
    """:data:`PROBE_BYTES` of ``raw`` from evenly spaced places (start, ..., end)."""
    piece = PROBE_BYTES // _PROBE_SLICES
    step = (len(raw) - piece) // (_PROBE_SLICES - 1)
    return b"".join(raw[i * step : i * step + piece] for i in range(_PROBE_SLICES))


def worth_compressing(raw: bytes, level: int = 1) -> bool:
    """False when a sample of a large chunk shows zstd would not save MIN_SAVING."""
    if len(raw) < PROBE_MIN_BYTES:
        return bool(raw)
    sample = _probe_sample(raw)
    return _saves_enough(len(sample), len(zstandard.ZstdCompressor(level=level).compress(sample)))


def encode_chunk(data: bytes | memoryview, level: int = 1) -> EncodedChunk:
    """Name and encode one chunk. zstd is kept only when it saves at least 5 %.

    A large chunk whose sample does not compress is stored raw untried (see the module
    docstring); the stored blob is valid either way, only its size differs.
    """
    raw = bytes(data) if isinstance(data, memoryview) else data
    chunk_id = chunk_id_of(raw)
    compressed = (
        zstandard.ZstdCompressor(level=level).compress(raw)
        if worth_compressing(raw, level) else b""
    )
    if compressed and _saves_enough(len(raw), len(compressed)):
        payload, codec = compressed, Codec.ZSTD
    else:
        payload, codec = raw, Codec.RAW
    blob_sha256 = chunk_id if codec is Codec.RAW else hashlib.sha256(payload).hexdigest()
    return EncodedChunk(chunk_id, codec, len(raw), payload, blob_sha256)


def decode_chunk(chunk_id: str, codec: Codec, payload: bytes, raw_size: int) -> bytes:
    """Decode a stored blob and prove it is the chunk it claims to be.

    Raises ChunkCorrupt when it does not decompress, has the wrong size, or hashes to
    another id: the caller must try another replica and report this one.
    """
    if codec is Codec.ZSTD:
        try:
            raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw_size)
        except zstandard.ZstdError as exc:
            raise ChunkCorrupt(f"chunk {chunk_id[:12]} does not decompress: {exc}") from exc
    else:
        raw = payload
    if len(raw) != raw_size:
        raise ChunkCorrupt(f"chunk {chunk_id[:12]} has {len(raw)} bytes, expected {raw_size}")
    actual = chunk_id_of(raw)
    if actual != chunk_id:
        raise ChunkCorrupt(f"chunk {chunk_id[:12]} hashes to {actual[:12]}")
    return raw


def decode_chunk_frames(
    chunk_id: str, codec: Codec, frames: list[bytes | memoryview], raw_size: int
) -> list[bytes | memoryview]:
    """:func:`decode_chunk` for a blob received in frames; returns the chunk in pieces.

    A raw blob is hashed frame by frame and handed back as it came, never joined into
    one buffer; a zstd blob is joined and decompressed. Raises ChunkCorrupt like
    :func:`decode_chunk`.
    """
    if codec is Codec.ZSTD:
        return [decode_chunk(chunk_id, codec, b"".join(frames), raw_size)]
    size = sum(len(frame) for frame in frames)
    if size != raw_size:
        raise ChunkCorrupt(f"chunk {chunk_id[:12]} has {size} bytes, expected {raw_size}")
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame)
    actual = digest.hexdigest()
    if actual != chunk_id:
        raise ChunkCorrupt(f"chunk {chunk_id[:12]} hashes to {actual[:12]}")
    return frames


def check_content_id(
    chunk_id: str, codec: Codec, raw_size: int, payload: bytes | memoryview, blob_digest: str
) -> None:
    """Prove that ``payload`` decodes to ``raw_size`` bytes hashing to ``chunk_id``.

    ``blob_digest`` is the SHA-256 hex of ``payload`` itself, which the caller has
    already computed (and compared with the declared blob checksum): for a raw blob it
    is the content hash, so nothing is hashed again. A zstd blob must be one frame
    that declares its content size (as :func:`encode_chunk` writes it) equal to
    ``raw_size``; it is decompressed in slices of :data:`CONTENT_CHECK_SLICE_BYTES`,
    hashed incrementally and abandoned as soon as it yields more than ``raw_size``
    bytes, so memory stays bounded by the slice plus zstd's window whatever the
    blob claims. The caller bounds ``raw_size`` (the CPU spent is proportional to it).

    Raises ChunkIdMismatch when the content does not hash to ``chunk_id``, has another
    length, or the blob is not a zstd frame that decodes.
    """
    if codec is Codec.RAW:
        if len(payload) != raw_size:
            raise ChunkIdMismatch(
                f"chunk {chunk_id}: raw blob has {len(payload)} bytes, header says {raw_size}"
            )
        actual = blob_digest
    else:
        actual = _zstd_content_digest(chunk_id, payload, raw_size)
    if actual != chunk_id:
        raise ChunkIdMismatch(f"chunk {chunk_id}: content hashes to {actual}")


def _zstd_content_digest(chunk_id: str, payload: bytes | memoryview, raw_size: int) -> str:
    """SHA-256 hex of what ``payload`` decompresses to, at most ``raw_size`` bytes of it."""
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise ChunkIdMismatch(f"chunk {chunk_id}: blob is not a zstd frame: {exc}") from exc
    if declared != raw_size:
        said = "no content size" if declared < 0 else f"content size {declared}"
        raise ChunkIdMismatch(
            f"chunk {chunk_id}: zstd frame declares {said}, header says {raw_size}"
        )
    digest = hashlib.sha256()
    # One slice; for a small chunk one byte more than it holds, so expansion shows at once.
    window = memoryview(bytearray(min(CONTENT_CHECK_SLICE_BYTES, raw_size + 1)))
    decoded = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(payload) as reader:
            while count := reader.readinto(window):
                decoded += count
                if decoded > raw_size:
                    raise ChunkIdMismatch(
                        f"chunk {chunk_id}: blob decodes to more than {raw_size} bytes"
                    )
                digest.update(window[:count])
    except zstandard.ZstdError as exc:
        raise ChunkIdMismatch(f"chunk {chunk_id}: blob does not decompress: {exc}") from exc
    if decoded != raw_size:
        raise ChunkIdMismatch(f"chunk {chunk_id}: blob decodes to {decoded} bytes, not {raw_size}")
    return digest.hexdigest()

"""The on-disk format of volume files and their index logs: pure functions, no I/O.

A volume file is a 16-byte superblock followed by needles, each aligned to 8 bytes::

    superblock  magic "ECHOVOL1" | volume id u32 | generation u32
    needle      header (96 bytes) | payload (stored_size bytes) | zero padding to 8

    header      magic "NDL1" | kind u8 (1 put, 2 tombstone) | codec u8 | 2 pad |
                mtime_ns u64 | chunk id (32 raw bytes) | raw_size u64 | stored_size u32 |
                blob sha256 (32 raw bytes) | crc32 u32 of everything before it + payload

The CRC is what tells a torn tail (a crash cut the last append short) from a whole
needle, cheaply (zlib's crc32 runs at GB/s; the blob's SHA-256 is what the store checks).
The index log (``.idx``) beside each volume holds one 112-byte entry per needle: its
offset, a copy of its header and a CRC of the entry, so a torn index entry is noticed too.
The generation changes whenever compaction rewrites a volume; an index log whose
superblock names another generation describes an older file and is ignored.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from common.chunks import Codec
from common.errors import ChunkCorrupt

__all__ = [
    "IDX_ENTRY_SIZE",
    "KIND_PUT",
    "KIND_TOMBSTONE",
    "NEEDLE_HEADER_SIZE",
    "SUPERBLOCK_SIZE",
    "NeedleHeader",
    "encode_needle",
    "idx_entry",
    "needle_length",
    "pack_superblock",
    "parse_header",
    "parse_idx_entry",
    "parse_superblock",
    "payload_crc_ok",
]

_SUPER = struct.Struct(">8sII")
SUPERBLOCK_SIZE = _SUPER.size  # 16
_VOL_MAGIC = b"ECHOVOL1"

_HEADER = struct.Struct(">4sBB2xQ32sQI32s")  # the CRC (u32) follows
NEEDLE_HEADER_SIZE = _HEADER.size + 4  # 96
_NEEDLE_MAGIC = b"NDL1"
KIND_PUT = 1
KIND_TOMBSTONE = 2

_IDX = struct.Struct(">Q")
IDX_ENTRY_SIZE = _IDX.size + NEEDLE_HEADER_SIZE + 8  # offset, header, crc u32, 4 pad
_CODEC_BYTE = {Codec.RAW: 1, Codec.ZSTD: 2}
_BYTE_CODEC = {v: k for k, v in _CODEC_BYTE.items()}
#: Larger than any needle we write; a header claiming more is damage, not data.
MAX_NEEDLE_PAYLOAD = 1 << 30


@dataclass(frozen=True, slots=True)
class NeedleHeader:
    kind: int
    codec: Codec
    mtime_ns: int
    chunk_id: str
    raw_size: int
    stored_size: int
    blob_sha256: str
    crc: int

    @property
    def length(self) -> int:
        """Bytes the whole needle takes in the file, padding included."""
        return needle_length(self.stored_size)


def needle_length(stored_size: int) -> int:
    return (NEEDLE_HEADER_SIZE + stored_size + 7) & ~7


def pack_superblock(volume_id: int, generation: int) -> bytes:
    return _SUPER.pack(_VOL_MAGIC, volume_id, generation)


def parse_superblock(raw: bytes) -> tuple[int, int]:
    """(volume id, generation). Raises ChunkCorrupt for anything else."""
    if len(raw) < SUPERBLOCK_SIZE:
        raise ChunkCorrupt("volume superblock truncated")
    magic, volume_id, generation = _SUPER.unpack_from(raw)
    if magic != _VOL_MAGIC:
        raise ChunkCorrupt("not a volume file (bad magic)")
    return volume_id, generation


def encode_needle(
    kind: int, chunk_id: str, *, codec: Codec = Codec.RAW, raw_size: int = 0,
    blob_sha256: str = "", mtime_ns: int, payload: bytes = b"",
) -> bytes:
    """One whole needle, ready to append."""
    head = _HEADER.pack(
        _NEEDLE_MAGIC, kind, _CODEC_BYTE[codec], mtime_ns, bytes.fromhex(chunk_id), raw_size,
        len(payload), bytes.fromhex(blob_sha256) if blob_sha256 else bytes(32),
    )
    crc = zlib.crc32(payload, zlib.crc32(head))
    pad = needle_length(len(payload)) - NEEDLE_HEADER_SIZE - len(payload)
    return b"".join((head, crc.to_bytes(4, "big"), payload, bytes(pad)))


def parse_header(raw: bytes | memoryview) -> NeedleHeader | None:
    """The header at the start of ``raw``, or None when it is not a plausible one."""
    if len(raw) < NEEDLE_HEADER_SIZE:
        return None
    magic, kind, codec_byte, mtime_ns, chunk_id, raw_size, stored_size, digest = (
        _HEADER.unpack_from(raw)
    )
    if (
        magic != _NEEDLE_MAGIC or kind not in (KIND_PUT, KIND_TOMBSTONE)
        or codec_byte not in _BYTE_CODEC or stored_size > MAX_NEEDLE_PAYLOAD
    ):
        return None
    crc = int.from_bytes(raw[_HEADER.size : NEEDLE_HEADER_SIZE], "big")
    return NeedleHeader(
        kind, _BYTE_CODEC[codec_byte], mtime_ns, chunk_id.hex(), raw_size, stored_size,
        digest.hex(), crc,
    )


def payload_crc_ok(header_bytes: bytes | memoryview, payload: bytes | memoryview) -> bool:
    """Whether a needle's stored CRC matches its header and payload."""
    stored = int.from_bytes(header_bytes[_HEADER.size : NEEDLE_HEADER_SIZE], "big")
    return zlib.crc32(payload, zlib.crc32(header_bytes[: _HEADER.size])) == stored


def idx_entry(offset: int, header_bytes: bytes) -> bytes:
    """The index-log line for the needle at ``offset`` whose header is ``header_bytes``."""
    body = _IDX.pack(offset) + header_bytes
    return body + zlib.crc32(body).to_bytes(4, "big") + bytes(4)


def parse_idx_entry(raw: bytes | memoryview) -> tuple[int, NeedleHeader, bytes] | None:
    """(offset, header, header bytes) of one index-log line, or None when it is torn."""
    if len(raw) < IDX_ENTRY_SIZE:
        return None
    body = bytes(raw[: _IDX.size + NEEDLE_HEADER_SIZE])
    stored = int.from_bytes(raw[len(body) : len(body) + 4], "big")
    if zlib.crc32(body) != stored:
        return None
    header_bytes = body[_IDX.size :]
    header = parse_header(header_bytes)
    if header is None:
        return None
    return _IDX.unpack_from(body)[0], header, header_bytes

"""Rebuild what a volume holds at start: from its index log, checked against the file.

Every line in an index log was written *after* the fdatasync that made its needle
durable, so a line that is whole (its CRC matches) and points inside the file names a
durable needle and is trusted without reading it. What the log does not cover — the
tail a crash left unindexed, gaps where concurrent committers' lines were lost, or the
whole file when the log is missing or describes an older generation — is read and each
needle's CRC checked. The first needle that does not check out ends the file *unless*
a whole needle follows it somewhere: then it is damage in the middle (bit rot), kept and
indexed so that a read or the scrubber finds it, reports it and quarantines it. Without
a whole needle after it, it is a torn tail: cut off (``ftruncate`` + fdatasync) and
never served. The log is then brought up to date for the next start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from common.errors import ChunkCorrupt
from worker.backends.volumes.needle import (
    IDX_ENTRY_SIZE,
    NEEDLE_HEADER_SIZE,
    SUPERBLOCK_SIZE,
    NeedleHeader,
    idx_entry,
    pack_superblock,
    parse_header,
    parse_idx_entry,
    parse_superblock,
    payload_crc_ok,
)
from worker.backends.volumes.volume import Volume, read_exact

__all__ = ["Recovered", "iter_needles", "recover_volume"]

log = logging.getLogger(__name__)

_WINDOW = 1 << 20
_MAGIC = b"NDL1"


@dataclass
class Recovered:
    records: list[tuple[int, NeedleHeader]]  # (offset, header) in file order
    cut_bytes: int = 0  # torn tail removed
    damaged: int = 0  # needles kept although their CRC fails
    scanned_bytes: int = 0  # read because the log did not cover them


def _read_idx(volume: Volume) -> tuple[dict[int, NeedleHeader], int]:
    """Trusted log lines by offset, and how many bytes of the log are whole (0: rewrite)."""
    try:
        raw = volume.idx_path.read_bytes()
    except FileNotFoundError:
        return {}, 0
    try:
        if parse_superblock(raw) != (volume.volume_id, volume.generation):
            return {}, 0
    except ChunkCorrupt:  # a damaged log means: rebuild it
        return {}, 0
    known: dict[int, NeedleHeader] = {}
    position = SUPERBLOCK_SIZE
    while position + IDX_ENTRY_SIZE <= len(raw):
        parsed = parse_idx_entry(memoryview(raw)[position : position + IDX_ENTRY_SIZE])
        if parsed is None:
            break
        offset, header, _ = parsed
        if offset >= SUPERBLOCK_SIZE and offset + header.length <= volume.end:
            known[offset] = header
        position += IDX_ENTRY_SIZE
    return known, position


def _whole_needle_at(volume: Volume, offset: int) -> NeedleHeader | None:
    """The needle at ``offset`` if it is complete and its CRC matches."""
    if offset + NEEDLE_HEADER_SIZE > volume.end:
        return None
    header_bytes = volume.read(offset, NEEDLE_HEADER_SIZE)
    header = parse_header(header_bytes)
    if header is None or offset + header.length > volume.end:
        return None
    payload = volume.read(offset + NEEDLE_HEADER_SIZE, header.stored_size)
    return header if payload_crc_ok(header_bytes, payload) else None


def _next_whole_needle(volume: Volume, start: int, known: dict[int, NeedleHeader]) -> int | None:
    """The first 8-aligned offset >= ``start`` where a whole needle begins, if any."""
    position = start
    while position < volume.end:
        window = volume.read(position, _WINDOW + len(_MAGIC))
        found = window.find(_MAGIC)
        while found >= 0:
            candidate = position + found
            if candidate % 8 == 0 and (
                candidate in known or _whole_needle_at(volume, candidate) is not None
            ):
                return candidate
            found = window.find(_MAGIC, found + 1)
        position += _WINDOW
    return None


def recover_volume(volume: Volume) -> Recovered:
    """Every needle of ``volume`` in file order; cut a torn tail; refresh the index log.

    Raises OSError when the file cannot be read or cut.
    """
    known, idx_whole = _read_idx(volume)
    result = Recovered(records=[])
    fresh_lines: list[bytes] = []
    position = SUPERBLOCK_SIZE
    while position < volume.end:
        if position in known:
            header = known[position]
            result.records.append((position, header))
            position += header.length
            continue
        whole = _whole_needle_at(volume, position)
        if whole is not None:
            result.records.append((position, whole))
            result.scanned_bytes += whole.length
            fresh_lines.append(idx_entry(position, volume.read(position, NEEDLE_HEADER_SIZE)))
            position += whole.length
            continue
        following = _next_whole_needle(volume, position + 8, known)
        if following is None:
            result.cut_bytes = volume.end - position
            log.warning(
                "volume %d: torn tail of %d bytes at offset %d cut",
                volume.volume_id, result.cut_bytes, position,
            )
            os.ftruncate(volume.fd, position)
            os.fdatasync(volume.fd)
            volume.end = volume.synced_end = position
            break
        header_bytes = volume.read(position, NEEDLE_HEADER_SIZE)
        damaged = parse_header(header_bytes)
        if damaged is not None and position + damaged.length == following:
            result.records.append((position, damaged))  # served never: its CRC fails
            result.damaged += 1
            fresh_lines.append(idx_entry(position, header_bytes))
        log.error(
            "volume %d: damaged needle at offset %d (%d bytes) kept for the scrubber",
            volume.volume_id, position, following - position,
        )
        position = following
    if idx_whole == 0:  # no usable log: nothing was known, every line is fresh
        volume.open_index_log(truncate_to=0)
        volume.append_index(pack_superblock(volume.volume_id, volume.generation))
    else:
        volume.open_index_log(truncate_to=idx_whole)
    volume.append_index(b"".join(fresh_lines))
    return result


def iter_needles(volume: Volume) -> Iterator[tuple[int, NeedleHeader, bytes]]:
    """(offset, header, whole needle bytes) of every needle, in file order, read in
    windows of about 1 MiB (memory stays bounded by the window and one needle)."""
    position = SUPERBLOCK_SIZE
    end = volume.end
    buffer = b""
    buffer_at = position
    while position < end:
        if position + NEEDLE_HEADER_SIZE > buffer_at + len(buffer):
            buffer = read_exact(volume.fd, _WINDOW, position)
            buffer_at = position
        header = parse_header(memoryview(buffer)[position - buffer_at :])
        if header is None:  # a damaged stretch recovery kept: step over it
            position += 8
            continue
        if position + header.length > buffer_at + len(buffer):
            buffer = read_exact(volume.fd, max(_WINDOW, header.length), position)
            buffer_at = position
        start = position - buffer_at
        yield position, header, buffer[start : start + header.length]
        position += header.length

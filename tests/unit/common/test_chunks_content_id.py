"""``check_content_id``: a blob passes only if what it decodes to hashes to its id."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc

import pytest
import zstandard
from hypothesis import assume, given
from hypothesis import strategies as st

from common.chunks import (
    CONTENT_CHECK_SLICE_BYTES,
    Codec,
    EncodedChunk,
    check_content_id,
    chunk_id_of,
    encode_chunk,
)
from common.errors import ChecksumMismatch, ChunkIdMismatch

MiB = 1024 * 1024

chunk_contents = st.one_of(
    st.binary(max_size=50_000),
    st.builds(lambda word, count: word * count, st.binary(min_size=1, max_size=40),
              st.integers(min_value=1, max_value=5_000)),
)
chunk_ids = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


def _check(chunk: EncodedChunk, *, chunk_id: str | None = None,
           raw_size: int | None = None) -> None:
    check_content_id(
        chunk.chunk_id if chunk_id is None else chunk_id, chunk.codec,
        chunk.raw_size if raw_size is None else raw_size, chunk.payload, chunk.blob_sha256,
    )


@given(chunk_contents)
def test_every_encoded_chunk_passes_under_its_own_id(data: bytes) -> None:
    _check(encode_chunk(data))


@given(chunk_contents, chunk_ids)
def test_an_encoded_chunk_fails_under_any_other_id(data: bytes, other_id: str) -> None:
    chunk = encode_chunk(data)
    assume(other_id != chunk.chunk_id)
    with pytest.raises(ChunkIdMismatch):
        _check(chunk, chunk_id=other_id)


@given(chunk_contents, st.integers(min_value=-3, max_value=3).filter(bool))
def test_an_encoded_chunk_fails_with_another_raw_size(data: bytes, delta: int) -> None:
    chunk = encode_chunk(data)
    assume(chunk.raw_size + delta >= 0)
    with pytest.raises(ChunkIdMismatch):
        _check(chunk, raw_size=chunk.raw_size + delta)


def test_both_codecs_are_covered_by_the_properties() -> None:
    assert encode_chunk(os.urandom(1000)).codec is Codec.RAW
    assert encode_chunk(b"ab" * 1000).codec is Codec.ZSTD


def test_the_right_bytes_under_another_chunks_id_are_a_chunk_id_mismatch() -> None:
    victim_id = chunk_id_of(b"what someone will upload")
    for planted in (encode_chunk(os.urandom(5000)), encode_chunk(b"planted " * 5000)):
        with pytest.raises(ChunkIdMismatch) as caught:
            _check(planted, chunk_id=victim_id)
        assert isinstance(caught.value, ChecksumMismatch)  # a 400 / INVALID_ARGUMENT
        assert caught.value.code == "chunk_id_mismatch"


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00" * 100,
        b"not zstd at all, just text under the zstd codec",
        zstandard.ZstdCompressor().compress(b"hello " * 1000)[:-3],  # truncated
        zstandard.ZstdCompressor().compress(b"hello " * 1000) + b"junk",  # trailing bytes
        zstandard.ZstdCompressor().compress(b"hello " * 1000)
        + zstandard.ZstdCompressor().compress(b"and more"),  # a second frame
        zstandard.ZstdCompressor(write_content_size=False).compress(b"hello " * 1000),
    ],
    ids=["empty", "zeros", "text", "truncated", "trailing", "two-frames", "no-size"],
)
def test_a_zstd_blob_that_does_not_decode_to_one_whole_chunk_is_a_mismatch(payload) -> None:
    content = b"hello " * 1000
    with pytest.raises(ChunkIdMismatch):
        check_content_id(chunk_id_of(content), Codec.ZSTD, len(content), payload,
                         hashlib.sha256(payload).hexdigest())


def _zeros_frame(size: int, *, declared_size: int | None = None) -> bytes:
    """A tiny zstd frame of ``size`` zero bytes, made in 1 MiB steps; its header may lie."""
    compressor = zstandard.ZstdCompressor(level=1).compressobj(size=size)
    zeros = bytes(MiB)
    frame = b"".join(compressor.compress(zeros) for _ in range(size // MiB)) + compressor.flush()
    if declared_size is not None:
        header_flags = frame[4]
        assert header_flags >> 6 == 2 and not header_flags & 0x23  # 4-byte size at offset 6
        frame = frame[:6] + declared_size.to_bytes(4, "little") + frame[10:]
    return frame


@pytest.mark.parametrize("lying_header", [False, True])
def test_a_zstd_bomb_is_refused_without_decompressing_it(lying_header: bool) -> None:
    claimed = encode_chunk(b"small chunk " * 80_000)  # ~1 MiB of content
    bomb = _zeros_frame(1024 * MiB, declared_size=claimed.raw_size if lying_header else None)
    assert len(bomb) < 100_000
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(ChunkIdMismatch):
            check_content_id(claimed.chunk_id, Codec.ZSTD, claimed.raw_size, bomb,
                             hashlib.sha256(bomb).hexdigest())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * CONTENT_CHECK_SLICE_BYTES
    assert time.process_time() - started < 0.5  # stopped near raw_size, not after 1 GiB


def test_a_large_zstd_chunk_is_checked_in_slices_never_whole() -> None:
    content = bytes(32 * MiB)
    chunk = encode_chunk(content)
    assert chunk.codec is Codec.ZSTD
    tracemalloc.start()
    try:
        _check(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * CONTENT_CHECK_SLICE_BYTES  # the whole chunk would be 32 MiB

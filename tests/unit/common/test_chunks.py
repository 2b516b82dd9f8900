from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.chunks import (
    Codec,
    chunk_id_of,
    decode_chunk,
    decode_chunk_frames,
    encode_chunk,
    validate_chunk_id,
    worth_compressing,
)
from common.errors import ChunkCorrupt, InvalidInput


@given(st.binary(max_size=200_000))
def test_encode_then_decode_returns_the_original_bytes(data: bytes) -> None:
    chunk = encode_chunk(data)
    assert chunk.chunk_id == hashlib.sha256(data).hexdigest()
    assert chunk.blob_sha256 == hashlib.sha256(chunk.payload).hexdigest()
    assert decode_chunk(chunk.chunk_id, chunk.codec, chunk.payload, chunk.raw_size) == data


def test_compressible_chunk_is_stored_zstd_and_random_chunk_raw() -> None:
    assert encode_chunk(b"abc" * 100_000).codec is Codec.ZSTD
    random_bytes = os.urandom(100_000)
    random_chunk = encode_chunk(random_bytes)
    assert random_chunk.codec is Codec.RAW
    assert random_chunk.payload == random_bytes


def test_a_flipped_byte_is_detected_as_corruption() -> None:
    chunk = encode_chunk(b"hello world " * 1000)
    damaged = bytearray(chunk.payload)
    damaged[len(damaged) // 2] ^= 0x01
    with pytest.raises(ChunkCorrupt):
        decode_chunk(chunk.chunk_id, chunk.codec, bytes(damaged), chunk.raw_size)


def test_a_blob_that_decodes_to_other_content_is_rejected() -> None:
    other = encode_chunk(b"other content")
    with pytest.raises(ChunkCorrupt):
        decode_chunk(chunk_id_of(b"claimed"), other.codec, other.payload, other.raw_size)


def test_chunk_ids_are_validated() -> None:
    assert validate_chunk_id("a" * 64) == "a" * 64
    for bad in ["", "A" * 64, "a" * 63, "../" + "a" * 61, "g" * 64]:
        with pytest.raises(InvalidInput):
            validate_chunk_id(bad)


def test_a_large_random_chunk_is_judged_incompressible_from_its_sample_and_stored_raw() -> None:
    random_bytes = os.urandom(4 * 1024 * 1024)
    assert not worth_compressing(random_bytes)
    chunk = encode_chunk(random_bytes)
    assert (chunk.codec, chunk.payload, chunk.blob_sha256) == (
        Codec.RAW, random_bytes, hashlib.sha256(random_bytes).hexdigest())


def test_a_large_text_chunk_passes_the_probe_and_is_stored_zstd() -> None:
    words = [b"alpha", b"beta", b"gamma", b"delta", b"epsilon", b"zeta"]
    text = b" ".join(words[(i * 7919) % len(words)] for i in range(800_000))[: 4 * 1024 * 1024]
    assert worth_compressing(text)
    chunk = encode_chunk(text)
    assert chunk.codec is Codec.ZSTD and chunk.stored_size < len(text) // 2
    assert decode_chunk(chunk.chunk_id, chunk.codec, chunk.payload, chunk.raw_size) == text


def test_the_probe_samples_the_whole_chunk_not_only_its_middle() -> None:
    half = 2 * 1024 * 1024
    text_then_random = b"log line 42: all is well\n" * (half // 25) + os.urandom(half)
    assert worth_compressing(text_then_random)
    assert encode_chunk(text_then_random).codec is Codec.ZSTD


def test_a_raw_chunk_in_frames_is_verified_frame_by_frame_and_returned_unjoined() -> None:
    data = os.urandom(300_000)
    frames = [data[:100_000], data[100_000:250_000], data[250_000:]]
    chunk_id = chunk_id_of(data)
    assert decode_chunk_frames(chunk_id, Codec.RAW, frames, len(data)) == frames
    damaged = [frames[0], bytes([frames[1][0] ^ 1]) + frames[1][1:], frames[2]]
    with pytest.raises(ChunkCorrupt):
        decode_chunk_frames(chunk_id, Codec.RAW, damaged, len(data))
    with pytest.raises(ChunkCorrupt):
        decode_chunk_frames(chunk_id, Codec.RAW, frames[:2], len(data))


def test_a_zstd_chunk_in_frames_decodes_to_the_original() -> None:
    chunk = encode_chunk(b"frame " * 100_000)
    frames = [chunk.payload[:1000], chunk.payload[1000:]]
    decoded = decode_chunk_frames(chunk.chunk_id, chunk.codec, frames, chunk.raw_size)
    assert b"".join(decoded) == b"frame " * 100_000

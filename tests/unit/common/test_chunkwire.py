"""GetChunk frames as the master reads them: data frames uncopied, anything else parsed."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.chunkwire import (
    encode_data_frame,
    encode_put_chunk_frames,
    parse_get_chunk_response,
    put_chunk_frames,
    read_chunk_frames,
    serialize_frame,
)
from common.errors import ChunkCorrupt
from common.pb.echofs.v1 import worker_pb2 as pb


@given(st.binary(max_size=300_000))
def test_a_data_frame_parses_to_its_bytes_like_protobuf_would(data: bytes) -> None:
    wire = pb.GetChunkResponse(data=data).SerializeToString()
    parsed = parse_get_chunk_response(wire)
    expected = pb.GetChunkResponse.FromString(wire)
    if isinstance(parsed, memoryview):
        assert bytes(parsed) == expected.data == data
    else:  # an empty data field is not on the wire at all
        assert parsed == expected and data == b""


def test_a_header_frame_and_a_frame_with_unknown_fields_are_parsed_by_protobuf() -> None:
    header = pb.ChunkHeader(chunk_id="a" * 64, raw_size=5, stored_size=5, blob_sha256="b" * 64)
    parsed = parse_get_chunk_response(pb.GetChunkResponse(header=header).SerializeToString())
    assert isinstance(parsed, pb.GetChunkResponse) and parsed.header == header
    # The data field followed by an unknown field 15 (varint 1): not a bare data frame.
    wire = pb.GetChunkResponse(data=b"abc").SerializeToString() + b"\x78\x01"
    parsed = parse_get_chunk_response(wire)
    assert isinstance(parsed, pb.GetChunkResponse) and parsed.data == b"abc"


async def _stream(*frames: pb.GetChunkResponse | memoryview):  # type: ignore[no-untyped-def]
    for frame in frames:
        yield frame


async def test_frames_are_collected_in_order_and_bounded() -> None:
    header = pb.GetChunkResponse(header=pb.ChunkHeader(chunk_id="c" * 64))
    data = os.urandom(3000)
    frames = [parse_get_chunk_response(pb.GetChunkResponse(data=data[i : i + 1000])
                                       .SerializeToString()) for i in range(0, 3000, 1000)]
    got_header, parts = await read_chunk_frames(_stream(header, *frames), max_bytes=3000)
    assert got_header.chunk_id == "c" * 64 and b"".join(parts) == data
    with pytest.raises(ChunkCorrupt):
        await read_chunk_frames(_stream(header, *frames), max_bytes=2999)
    with pytest.raises(ChunkCorrupt):
        await read_chunk_frames(_stream(frames[0], header), max_bytes=3000)


@given(st.binary(max_size=40_000), st.integers(1, 20_000))
def test_put_frames_encoded_by_hand_are_byte_for_byte_what_protobuf_sends(
    payload: bytes, frame_size: int
) -> None:
    header = pb.ChunkHeader(chunk_id="d" * 64, raw_size=len(payload), stored_size=len(payload))
    expected = [m.SerializeToString() for m in put_chunk_frames(header, payload, frame_size)]
    assert list(encode_put_chunk_frames(header, payload, frame_size)) == expected


@given(st.binary(max_size=40_000))
def test_a_data_frame_encoded_by_hand_parses_as_a_get_chunk_response(piece: bytes) -> None:
    wire = serialize_frame(encode_data_frame(piece))
    assert pb.GetChunkResponse.FromString(wire).data == piece
    header = pb.GetChunkResponse(header=pb.ChunkHeader(chunk_id="e" * 64))
    assert serialize_frame(header) == header.SerializeToString()

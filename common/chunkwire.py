"""Moving one blob over the worker's streaming RPCs, shared by master and workers.

PutChunk and GetChunk carry a header frame and then data frames of at most
:data:`FRAME_SIZE` bytes: gRPC's default 4 MiB message cap and Python's per-message
cost make whole-chunk messages slow. Slicing a memoryview avoids copies.

The master reads GetChunk through :func:`get_chunk_method`, whose deserializer hands a
data frame over as a memoryview of the received message instead of parsing it with
protobuf (which copied the megabyte twice more): a data frame is exactly the tag of
``GetChunkResponse.data``, a varint length and the bytes; anything else is parsed.
It writes PutChunk through :func:`put_chunk_method` with frames it encodes itself
(:func:`encode_put_chunk_frames`), and workers send GetChunk data frames the same
way (:func:`encode_data_frame`, :func:`serialize_frame`): one copy of each megabyte
where a slice, a message and its serialization made three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc

from common.chunks import Codec
from common.errors import ChunkCorrupt, InvalidInput
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = [
    "FRAME_SIZE",
    "GET_BATCH_MAX_BYTES",
    "GET_BATCH_MAX_IDS",
    "GRPC_MAX_MESSAGE_BYTES",
    "PUT_BATCH_MAX_BLOBS",
    "PUT_BATCH_MAX_BYTES",
    "SMALL_BLOB_MAX_BYTES",
    "codec_from_pb",
    "codec_to_pb",
    "encode_data_frame",
    "encode_put_chunk_frames",
    "get_chunk_method",
    "parse_get_chunk_response",
    "put_chunk_frames",
    "put_chunk_method",
    "read_chunk_frames",
    "read_chunk_stream",
    "serialize_frame",
]

FRAME_SIZE = 1024 * 1024
# Frames are at most FRAME_SIZE plus protobuf overhead; leave headroom.
GRPC_MAX_MESSAGE_BYTES = FRAME_SIZE + 64 * 1024
# PutChunks (many small blobs in one message): a blob of at most SMALL_BLOB_MAX_BYTES
# may travel in a batch; a batch holds at most PUT_BATCH_MAX_BLOBS blobs and
# PUT_BATCH_MAX_BYTES of data, which keeps the message (plus ~150 bytes of header per
# blob) inside GRPC_MAX_MESSAGE_BYTES.
SMALL_BLOB_MAX_BYTES = 256 * 1024
PUT_BATCH_MAX_BLOBS = 64
PUT_BATCH_MAX_BYTES = FRAME_SIZE
# GetChunks, the read twin: at most GET_BATCH_MAX_IDS ids, each wanted with a bound of at
# most SMALL_BLOB_MAX_BYTES, the bounds summing to at most GET_BATCH_MAX_BYTES, so the
# answer (plus ~250 bytes of header and outcome per blob) fits GRPC_MAX_MESSAGE_BYTES.
GET_BATCH_MAX_IDS = 64
GET_BATCH_MAX_BYTES = FRAME_SIZE

_TO_PB = {Codec.RAW: pb.CODEC_RAW, Codec.ZSTD: pb.CODEC_ZSTD}
_FROM_PB: dict[int, Codec] = {int(v): k for k, v in _TO_PB.items()}


def codec_to_pb(codec: Codec) -> pb.Codec:
    return _TO_PB[codec]


def codec_from_pb(value: int) -> Codec:
    try:
        return _FROM_PB[value]
    except KeyError:
        raise InvalidInput(f"unknown codec {value}") from None


def put_chunk_frames(
    header: pb.ChunkHeader, payload: bytes | memoryview, frame_size: int = FRAME_SIZE
) -> Iterator[pb.PutChunkRequest]:
    """The request stream for PutChunk: the header, then the payload in frames."""
    yield pb.PutChunkRequest(header=header)
    view = memoryview(payload)
    for start in range(0, len(view), frame_size):
        yield pb.PutChunkRequest(data=bytes(view[start : start + frame_size]))


# GetChunkResponse.data and PutChunkRequest.data: field 2, wire type 2 (length-delimited)
_DATA_FRAME_TAG = 0x12


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_data_frame(piece: bytes | memoryview) -> bytes:
    """A PutChunkRequest or GetChunkResponse holding ``piece`` as data, serialized."""
    return b"".join((bytes([_DATA_FRAME_TAG]), _varint_bytes(len(piece)), piece))


def encode_put_chunk_frames(
    header: pb.ChunkHeader, payload: bytes | memoryview, frame_size: int = FRAME_SIZE
) -> Iterator[bytes]:
    """:func:`put_chunk_frames`, already serialized (for :func:`put_chunk_method`)."""
    yield pb.PutChunkRequest(header=header).SerializeToString()
    view = memoryview(payload)
    for start in range(0, len(view), frame_size):
        yield encode_data_frame(view[start : start + frame_size])


def serialize_frame(message: bytes | pb.PutChunkRequest | pb.GetChunkResponse) -> bytes:
    """Serializer of a chunk stream whose data frames come already encoded."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def put_chunk_method(channel: grpc.aio.Channel) -> grpc.aio.StreamUnaryMultiCallable:
    """``Worker.PutChunk`` on ``channel``, sending frames from encode_put_chunk_frames."""
    return channel.stream_unary(
        "/echofs.v1.Worker/PutChunk",
        request_serializer=serialize_frame,
        response_deserializer=pb.PutChunkResponse.FromString,
    )


def _varint(raw: bytes, pos: int) -> tuple[int, int] | None:
    """The varint at ``raw[pos:]`` and the position after it; None if malformed."""
    value = shift = 0
    while pos < len(raw) and shift < 64:
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def parse_get_chunk_response(raw: bytes) -> pb.GetChunkResponse | memoryview:
    """GetChunk's response deserializer: a data frame's payload, uncopied, or the message."""
    if raw[:1] == b"\x12":  # _DATA_FRAME_TAG
        parsed = _varint(raw, 1)
        if parsed is not None and parsed[0] + parsed[1] == len(raw):
            return memoryview(raw)[parsed[1] :]
    return pb.GetChunkResponse.FromString(raw)


def get_chunk_method(channel: grpc.aio.Channel) -> grpc.aio.UnaryStreamMultiCallable:
    """``Worker.GetChunk`` on ``channel``, yielding what parse_get_chunk_response returns."""
    return channel.unary_stream(
        "/echofs.v1.Worker/GetChunk",
        request_serializer=pb.GetChunkRequest.SerializeToString,
        response_deserializer=parse_get_chunk_response,
    )


async def read_chunk_frames(
    responses: AsyncIterator[pb.GetChunkResponse | memoryview], *, max_bytes: int
) -> tuple[pb.ChunkHeader, list[bytes | memoryview]]:
    """Collect a GetChunk response stream into (header, data frames), bounded by max_bytes.

    The frames are not joined: a reader that hashes them one by one and writes them out
    one by one never copies the blob into one buffer.
    """
    header: pb.ChunkHeader | None = None
    parts: list[bytes | memoryview] = []
    received = 0
    async for message in responses:
        if isinstance(message, memoryview):
            data: bytes | memoryview = message
        elif message.HasField("header"):
            if header is not None:
                raise ChunkCorrupt("GetChunk stream sent two headers")
            header = message.header
            continue
        else:
            data = message.data
        if header is None:
            raise ChunkCorrupt("GetChunk stream sent data before its header")
        received += len(data)
        if received > max_bytes:
            raise ChunkCorrupt(f"GetChunk stream exceeded {max_bytes} bytes")
        parts.append(data)
    if header is None:
        raise ChunkCorrupt("GetChunk stream ended without a header")
    return header, parts


async def read_chunk_stream(
    responses: AsyncIterator[pb.GetChunkResponse], *, max_bytes: int
) -> tuple[pb.ChunkHeader, bytes]:
    """Collect a GetChunk response stream into (header, payload), bounded by max_bytes."""
    header, parts = await read_chunk_frames(responses, max_bytes=max_bytes)
    return header, b"".join(parts)

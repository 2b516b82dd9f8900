"""Moving one blob over the worker's streaming RPCs, shared by master and workers.

PutChunk and GetChunk carry a header frame and then data frames of at most
:data:`FRAME_SIZE` bytes: gRPC's default 4 MiB message cap and Python's per-message
cost make whole-chunk messages slow. Slicing a memoryview avoids copies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from common.chunks import Codec
from common.errors import ChunkCorrupt, InvalidInput
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = [
    "FRAME_SIZE",
    "GRPC_MAX_MESSAGE_BYTES",
    "codec_from_pb",
    "codec_to_pb",
    "put_chunk_frames",
    "read_chunk_frames",
    "read_chunk_stream",
]

FRAME_SIZE = 1024 * 1024
# Frames are at most FRAME_SIZE plus protobuf overhead; leave headroom.
GRPC_MAX_MESSAGE_BYTES = FRAME_SIZE + 64 * 1024

_TO_PB = {Codec.RAW: pb.CODEC_RAW, Codec.ZSTD: pb.CODEC_ZSTD}
_FROM_PB = {v: k for k, v in _TO_PB.items()}


def codec_to_pb(codec: Codec) -> int:
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


async def read_chunk_frames(
    responses: AsyncIterator[pb.GetChunkResponse], *, max_bytes: int
) -> tuple[pb.ChunkHeader, list[bytes]]:
    """Collect a GetChunk response stream into (header, data frames), bounded by max_bytes.

    The frames are not joined: a reader that hashes them one by one and writes them out
    one by one never copies the blob into one buffer.
    """
    header: pb.ChunkHeader | None = None
    parts: list[bytes] = []
    received = 0
    async for message in responses:
        if message.HasField("header"):
            if header is not None:
                raise ChunkCorrupt("GetChunk stream sent two headers")
            header = message.header
            continue
        if header is None:
            raise ChunkCorrupt("GetChunk stream sent data before its header")
        received += len(message.data)
        if received > max_bytes:
            raise ChunkCorrupt(f"GetChunk stream exceeded {max_bytes} bytes")
        parts.append(message.data)
    if header is None:
        raise ChunkCorrupt("GetChunk stream ended without a header")
    return header, parts


async def read_chunk_stream(
    responses: AsyncIterator[pb.GetChunkResponse], *, max_bytes: int
) -> tuple[pb.ChunkHeader, bytes]:
    """Collect a GetChunk response stream into (header, payload), bounded by max_bytes."""
    header, parts = await read_chunk_frames(responses, max_bytes=max_bytes)
    return header, b"".join(parts)

"""Small helpers the worker's integration and fault tests share (not tests themselves)."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import grpc

from common.chunkwire import codec_to_pb, put_chunk_frames, read_chunk_stream
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from worker.backends.base import BlobMeta
from worker.backends.local import HEADER_SIZE
from worker.backends.volumes.needle import KIND_PUT, NEEDLE_HEADER_SIZE, parse_header

__all__ = [
    "flip_stored_byte",
    "get_blob",
    "header_of",
    "metric_value",
    "put_blob",
    "rpc_error",
    "stored_payload",
    "stream_of",
]


def header_of(meta: BlobMeta, **overrides: object) -> pb.ChunkHeader:
    fields: dict[str, object] = {
        "chunk_id": meta.chunk_id, "codec": codec_to_pb(meta.codec), "raw_size": meta.raw_size,
        "stored_size": meta.stored_size, "blob_sha256": meta.blob_sha256,
    }
    fields.update(overrides)
    return pb.ChunkHeader(**fields)  # type: ignore[arg-type]


async def stream_of(frames: Iterable[pb.PutChunkRequest]) -> AsyncIterator[pb.PutChunkRequest]:
    for frame in frames:
        yield frame


async def put_blob(stub: pb_grpc.WorkerStub, meta: BlobMeta, payload: bytes) -> pb.PutChunkResponse:
    return await stub.PutChunk(put_chunk_frames(header_of(meta), payload), timeout=30)


async def get_blob(
    stub: pb_grpc.WorkerStub, chunk_id: str, offset: int = 0, length: int = 0
) -> tuple[pb.ChunkHeader, bytes]:
    request = pb.GetChunkRequest(chunk_id=chunk_id, offset=offset, length=length)
    return await read_chunk_stream(stub.GetChunk(request, timeout=30), max_bytes=1 << 27)


async def rpc_error(awaitable: object) -> grpc.aio.AioRpcError:
    """Await a call that must fail; return its error."""
    try:
        await awaitable  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


def metric_value(metrics_url: str, name: str, labels: str = "") -> float:
    """The value of one sample on a /metrics page (0 when absent)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", re.M)
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0


def stored_payload(data_dir: Path, chunk_id: str) -> tuple[Path, int, int]:
    """Where a local worker keeps a blob's bytes: (file, offset, length) — its own file
    under ``blobs/``, or its newest needle in a volume file (found by reading them)."""
    path = data_dir / "blobs" / chunk_id[:2] / chunk_id[2:4] / chunk_id
    if path.exists():
        return path, HEADER_SIZE, path.stat().st_size - HEADER_SIZE
    key = bytes.fromhex(chunk_id)
    found: tuple[Path, int, int] | None = None
    for volume in sorted((data_dir / "volumes").glob("*.vol")):
        raw = volume.read_bytes()
        at = raw.find(key)
        while at >= 0:
            start = at - 16  # the id follows magic, kind, codec, padding and mtime
            if start >= 0 and start % 8 == 0:
                header = parse_header(raw[start : start + NEEDLE_HEADER_SIZE])
                if header is not None and header.kind == KIND_PUT and header.chunk_id == chunk_id:
                    found = (volume, start + NEEDLE_HEADER_SIZE, header.stored_size)
            at = raw.find(key, at + 1)
    if found is None:
        raise FileNotFoundError(f"chunk {chunk_id} is not on disk under {data_dir}")
    return found


def flip_stored_byte(data_dir: Path, chunk_id: str, position_from_end: int = 1) -> None:
    """Flip one byte of a stored blob in place, as bit rot would."""
    path, offset, length = stored_payload(data_dir, chunk_id)
    at = offset + length - position_from_end
    with path.open("r+b") as stored:
        stored.seek(at)
        byte = stored.read(1)
        stored.seek(at)
        stored.write(bytes([byte[0] ^ 0xFF]))

"""Protobuf of the worker's batch RPCs (PutChunks, GetChunks) and its chunk headers.

The servicer stays a thin edge: it checks a batch's bounds here, hands the store plain
tuples, and turns each item's result into its outcome here, with the status code and
details the single-blob RPC would have answered for it (0 = OK), so one bad item fails
only itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.chunks import validate_chunk_id
from common.chunkwire import (
    GET_BATCH_MAX_BYTES,
    GET_BATCH_MAX_IDS,
    SMALL_BLOB_MAX_BYTES,
    codec_from_pb,
    codec_to_pb,
)
from common.errors import EchoError, InvalidInput
from common.grpc_errors import outcome_status
from common.pb.echofs.v1 import worker_pb2 as pb
from worker.backends.base import BlobMeta
from worker.store import PutResult

__all__ = [
    "get_outcomes",
    "meta_from_pb",
    "meta_to_pb",
    "put_outcome",
    "wanted_chunks",
]


def meta_from_pb(header: pb.ChunkHeader) -> BlobMeta:
    return BlobMeta(
        chunk_id=header.chunk_id,
        codec=codec_from_pb(header.codec),
        raw_size=header.raw_size,
        stored_size=header.stored_size,
        blob_sha256=header.blob_sha256,
    )


def meta_to_pb(meta: BlobMeta) -> pb.ChunkHeader:
    return pb.ChunkHeader(
        chunk_id=meta.chunk_id, codec=codec_to_pb(meta.codec),  # type: ignore[arg-type]
        raw_size=meta.raw_size, stored_size=meta.stored_size, blob_sha256=meta.blob_sha256,
    )


def put_outcome(chunk_id: str, result: PutResult | EchoError) -> pb.PutChunkOutcome:
    if isinstance(result, EchoError):
        code, details = outcome_status(result)
        return pb.PutChunkOutcome(chunk_id=chunk_id, status_code=code, error=details)
    return pb.PutChunkOutcome(
        chunk_id=result.chunk_id, already_present=result.already_present,
        stored_size=result.stored_size,
    )


def wanted_chunks(
    request: pb.GetChunksRequest,
) -> tuple[list[tuple[str, int]], dict[int, EchoError]]:
    """The ``(chunk_id, max_bytes)`` a GetChunks may read, and the refusal of each item it
    may not (a malformed id, a bound over SMALL_BLOB_MAX_BYTES) by its index.

    Raises InvalidInput for a batch over its limits (count, or bounds summing to more
    than one message holds): refused whole, as PutChunks refuses one.
    """
    items = [(c.chunk_id, c.max_bytes) for c in request.chunks]
    total = sum(min(max_bytes, SMALL_BLOB_MAX_BYTES) for _, max_bytes in items)
    if len(items) > GET_BATCH_MAX_IDS or total > GET_BATCH_MAX_BYTES:
        raise InvalidInput(
            f"GetChunks batch of {len(items)} ids wanting {total} bytes; at most "
            f"{GET_BATCH_MAX_IDS} ids and {GET_BATCH_MAX_BYTES} bytes"
        )
    readable: list[tuple[str, int]] = []
    refused: dict[int, EchoError] = {}
    for index, (chunk_id, max_bytes) in enumerate(items):
        try:
            validate_chunk_id(chunk_id)
            if max_bytes > SMALL_BLOB_MAX_BYTES:
                raise InvalidInput(
                    f"chunk {chunk_id}: max_bytes {max_bytes} is more than GetChunks serves "
                    f"({SMALL_BLOB_MAX_BYTES}); use GetChunk"
                )
        except InvalidInput as error:
            refused[index] = error
            continue
        readable.append((chunk_id, max_bytes))
    return readable, refused


def get_outcomes(
    request: pb.GetChunksRequest, refused: dict[int, EchoError],
    results: Sequence[tuple[BlobMeta, bytes] | EchoError],
) -> list[pb.GetChunkOutcome]:
    """One outcome per requested id, in order: ``refused`` ones by index, the rest from
    ``results`` (the store's answers for the readable ids, in order)."""
    read = iter(results)
    outcomes: list[pb.GetChunkOutcome] = []
    for index, wanted in enumerate(request.chunks):
        result = refused[index] if index in refused else next(read)
        if isinstance(result, EchoError):
            code, details = outcome_status(result)
            outcomes.append(
                pb.GetChunkOutcome(chunk_id=wanted.chunk_id, status_code=code, error=details)
            )
        else:
            meta, data = result
            outcomes.append(
                pb.GetChunkOutcome(chunk_id=meta.chunk_id, header=meta_to_pb(meta), data=data)
            )
    return outcomes

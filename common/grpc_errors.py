"""EchoError <-> gRPC status, for the worker's servicer and its clients (master, peers).

Kept apart from ``common.errors`` so that code which only speaks HTTP (the CLI, the
controller) does not import grpc to name an error.
"""

from __future__ import annotations

import grpc

from common.errors import (
    BadJson,
    BadPath,
    ChecksumMismatch,
    ChunkCorrupt,
    ChunkIdMismatch,
    ChunkNotFound,
    Conflict,
    EchoError,
    Forbidden,
    Gone,
    IdentityMismatch,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RangeNotSatisfiable,
    StorageFull,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
    lookup_by_class,
)

__all__ = [
    "GRPC_STATUS",
    "error_from_grpc",
    "error_from_outcome",
    "grpc_details_for",
    "grpc_status_of",
    "outcome_status",
]

GRPC_STATUS: dict[type[EchoError], grpc.StatusCode] = {
    InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    Conflict: grpc.StatusCode.ALREADY_EXISTS,
    Gone: grpc.StatusCode.NOT_FOUND,
    PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
    PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    RangeNotSatisfiable: grpc.StatusCode.OUT_OF_RANGE,
    TooManyRequests: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ChunkCorrupt: grpc.StatusCode.DATA_LOSS,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    StorageFull: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def grpc_status_of(error: EchoError) -> grpc.StatusCode:
    status: grpc.StatusCode = lookup_by_class(GRPC_STATUS, error, grpc.StatusCode.INTERNAL)
    return status


# Reverse direction, for clients of the worker: the status plus the first word of
# the details (the worker sends "<code>: <message>") pick the class.
_BY_CODE: dict[str, type[EchoError]] = {
    cls.code: cls
    for cls in (
        InvalidInput, BadJson, BadPath, ChecksumMismatch, ChunkIdMismatch, Unauthenticated,
        Forbidden, IdentityMismatch,
        NotFound, ChunkNotFound, Conflict, Gone, PreconditionFailed, PayloadTooLarge,
        RangeNotSatisfiable, TooManyRequests, StorageFull, ChunkCorrupt, Unavailable,
    )
}
_BY_STATUS: dict[grpc.StatusCode, type[EchoError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: StorageFull,
    grpc.StatusCode.DATA_LOSS: ChunkCorrupt,
    grpc.StatusCode.OUT_OF_RANGE: RangeNotSatisfiable,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def grpc_details_for(error: EchoError) -> str:
    """The ``details`` string an edge sends: ``"<code>: <message>"``."""
    return f"{error.code}: {error.message}"


def error_from_grpc(status: grpc.StatusCode | None, details: str | None) -> EchoError:
    """Translate a failed RPC back into the hierarchy (used by gRPC clients)."""
    text = details or ""
    code, _, message = text.partition(": ")
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = _BY_STATUS.get(status, Unavailable) if status is not None else Unavailable
        message = text or (status.name if status is not None else "rpc failed")
    return cls(message or text)


# A batch RPC (PutChunks, GetChunks) answers each item with the status code and details
# the single-item RPC would have failed with (0 = OK): these two are that encoding.
_STATUS_BY_VALUE = {status.value[0]: status for status in grpc.StatusCode}


def outcome_status(error: EchoError) -> tuple[int, str]:
    """``(status_code, details)`` of a batch item that met ``error`` (the worker's side)."""
    return grpc_status_of(error).value[0], grpc_details_for(error)


def error_from_outcome(status_code: int, details: str) -> EchoError:
    """The EchoError of a failed batch item (a client's side of ``outcome_status``)."""
    return error_from_grpc(_STATUS_BY_VALUE.get(status_code), details)

"""One exception hierarchy for EchoFS, with stable codes.

::

    EchoError                      code               HTTP  gRPC
    ├── InvalidInput               invalid_input      400   INVALID_ARGUMENT
    │   ├── BadJson                bad_json           400   INVALID_ARGUMENT
    │   ├── BadPath                bad_path           400   INVALID_ARGUMENT
    │   ├── TargetNotAllowed       target_not_allowed 400   INVALID_ARGUMENT
    │   ├── InvalidPart            invalid_part       400   INVALID_ARGUMENT
    │   ├── EntityTooSmall         entity_too_small   400   INVALID_ARGUMENT
    │   └── ChecksumMismatch       checksum_mismatch  400   INVALID_ARGUMENT
    │       └── ChunkIdMismatch    chunk_id_mismatch  400   INVALID_ARGUMENT
    ├── Unauthenticated            unauthenticated    401   UNAUTHENTICATED
    │   └── BadCredentials         bad_credentials    401   UNAUTHENTICATED
    ├── Forbidden                  forbidden          403   PERMISSION_DENIED
    ├── NotFound                   not_found          404   NOT_FOUND
    │   ├── ChunkNotFound          chunk_not_found    404   NOT_FOUND
    │   └── BucketNotFound         bucket_not_found   404   NOT_FOUND
    ├── Conflict                   conflict           409   ALREADY_EXISTS
    │   ├── IdentityMismatch       identity_mismatch  409   ALREADY_EXISTS
    │   ├── OffsetMismatch         offset_mismatch    409   ALREADY_EXISTS
    │   ├── BucketExists           bucket_exists      409   ALREADY_EXISTS
    │   ├── BucketNotEmpty         bucket_not_empty   409   ALREADY_EXISTS
    │   ├── UploadLocked           upload_locked      409   ALREADY_EXISTS
    │   ├── IncompleteUpload       incomplete_upload  409   ALREADY_EXISTS
    │   ├── SessionClosed          session_closed     409   ALREADY_EXISTS
    │   └── LeaseLost              lease_lost         409   ALREADY_EXISTS
    ├── Gone                       gone               410   NOT_FOUND
    │   ├── SessionExpired         session_expired    410   NOT_FOUND
    │   ├── LinkExpired            link_expired       410   NOT_FOUND
    │   ├── LinkUsed               link_used          410   NOT_FOUND
    │   ├── LinkTargetGone         link_target_gone   410   NOT_FOUND
    │   └── CursorExpired          cursor_expired     410   NOT_FOUND
    ├── PreconditionFailed         precondition_failed 412  FAILED_PRECONDITION
    │   └── LatencyBudgetExceeded  latency_budget_exceeded 412 FAILED_PRECONDITION
    ├── PayloadTooLarge            payload_too_large  413   RESOURCE_EXHAUSTED
    ├── RangeNotSatisfiable        range_not_satisfiable 416 OUT_OF_RANGE
    ├── TooManyRequests            too_many_requests  429   RESOURCE_EXHAUSTED
    │   └── RateLimited            rate_limited       429   RESOURCE_EXHAUSTED
    ├── StorageFull                storage_full       507   RESOURCE_EXHAUSTED
    │   └── QuotaExceeded          quota_exceeded     507   RESOURCE_EXHAUSTED
    ├── ChunkCorrupt               chunk_corrupt      502   DATA_LOSS
    └── Unavailable                unavailable        503   UNAVAILABLE
        ├── QuorumNotReached       quorum_not_reached 503   UNAVAILABLE
        └── DependencyDown         dependency_down    503   UNAVAILABLE

Code below the edges raises these; each edge translates once, in one table
(:data:`HTTP_STATUS` here for aiohttp, ``common.grpc_errors.GRPC_STATUS`` for grpc). Anything not
an ``EchoError`` reaching an edge is a bug and becomes ``internal`` (500 / INTERNAL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "HTTP_STATUS",
    "BadCredentials",
    "BadJson",
    "BadPath",
    "BucketExists",
    "BucketNotEmpty",
    "BucketNotFound",
    "ChecksumMismatch",
    "ChunkCorrupt",
    "ChunkIdMismatch",
    "ChunkNotFound",
    "Conflict",
    "CursorExpired",
    "DependencyDown",
    "EchoError",
    "EntityTooSmall",
    "Forbidden",
    "Gone",
    "IdentityMismatch",
    "IncompleteUpload",
    "InvalidInput",
    "InvalidPart",
    "LatencyBudgetExceeded",
    "LeaseLost",
    "LinkExpired",
    "LinkTargetGone",
    "LinkUsed",
    "NotFound",
    "OffsetMismatch",
    "PayloadTooLarge",
    "PreconditionFailed",
    "QuorumNotReached",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RateLimited",
    "SessionClosed",
    "SessionExpired",
    "StorageFull",
    "TargetNotAllowed",
    "TooManyRequests",
    "Unauthenticated",
    "Unavailable",
    "UploadLocked",
]


class EchoError(Exception):
    """Base of every expected failure. ``code`` is stable and part of the API."""

    code = "internal"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


class InvalidInput(EchoError):
    code = "invalid_input"


class BadJson(InvalidInput):
    code = "bad_json"


class BadPath(InvalidInput):
    code = "bad_path"


class TargetNotAllowed(InvalidInput):
    """A webhook URL whose host is not in WEBHOOK_ALLOWED_HOSTS (or not http/https)."""

    code = "target_not_allowed"


class InvalidPart(InvalidInput):
    """A multipart completion names a part that was not uploaded, with another etag,
    or out of order (S3's InvalidPart / InvalidPartOrder)."""

    code = "invalid_part"


class EntityTooSmall(InvalidInput):
    """A multipart upload's part, other than the last, is smaller than the minimum."""

    code = "entity_too_small"


class ChecksumMismatch(InvalidInput):
    code = "checksum_mismatch"


class ChunkIdMismatch(ChecksumMismatch):
    """A blob's decoded content does not hash to the chunk id it was sent under."""

    code = "chunk_id_mismatch"


class Unauthenticated(EchoError):
    code = "unauthenticated"


class BadCredentials(Unauthenticated):
    code = "bad_credentials"


class Forbidden(EchoError):
    code = "forbidden"


class NotFound(EchoError):
    code = "not_found"


class ChunkNotFound(NotFound):
    code = "chunk_not_found"


class BucketNotFound(NotFound):
    """The bucket does not exist or the caller cannot read it (S3's NoSuchBucket; other
    not-found answers of an object operation are about the object)."""

    code = "bucket_not_found"


class Conflict(EchoError):
    code = "conflict"


class IdentityMismatch(Conflict):
    """A worker id is already bound to another identity (certificate or first key)."""

    code = "identity_mismatch"


class BucketExists(Conflict):
    """A bucket by that name exists (bucket names are unique in the cluster)."""

    code = "bucket_exists"


class BucketNotEmpty(Conflict):
    """Deleting a bucket that holds files or directories needs ``recursive``."""

    code = "bucket_not_empty"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"


class UploadLocked(Conflict):
    """Another request is writing to this upload right now (a lease is held)."""

    code = "upload_locked"


class IncompleteUpload(Conflict):
    code = "incomplete_upload"


class SessionClosed(Conflict):
    """The upload session was completed or aborted; it takes no more parts."""

    code = "session_closed"


class LeaseLost(Conflict):
    """A singleton job's fencing token is no longer current: another process took the
    job over, so this one's work is refused (nothing it tried to commit changed)."""

    code = "lease_lost"


class Gone(EchoError):
    code = "gone"


class SessionExpired(Gone):
    code = "session_expired"


class LinkExpired(Gone):
    """A download link's expiry passed (DESIGN §12)."""

    code = "link_expired"


class LinkUsed(Gone):
    """A download link's uses are all taken (a single-use link was served already)."""

    code = "link_used"


class LinkTargetGone(Gone):
    """The file version a download link pins no longer exists (overwritten in an
    unversioned bucket, deleted, dropped by retention) or the file reads as deleted."""

    code = "link_target_gone"


class CursorExpired(Gone):
    """A change-feed cursor older than the retained events: some events after it were
    pruned (EVENTS_RETENTION_S), so resuming there would skip them silently."""

    code = "cursor_expired"


class PreconditionFailed(EchoError):
    code = "precondition_failed"


class LatencyBudgetExceeded(PreconditionFailed):
    """The request's own latency budget ran out before its write quorum was met (the
    condition it stated, ``X-EchoFS-Latency-Budget-Ms``, did not hold; nothing was
    committed). Says how many copies were needed, which landed, which were still being
    written. Retrying, with the same or a larger budget, may succeed."""

    code = "latency_budget_exceeded"

    def __init__(
        self, *, chunk_id: str, needed: int, succeeded: Sequence[str], pending: Sequence[str],
        budget_ms: int | None = None,
    ) -> None:
        budget = "the request's latency budget" + (f" of {budget_ms} ms" if budget_ms else "")
        super().__init__(
            f"{budget} ran out before the write quorum for chunk"
            f" {chunk_id[:12]}: needed {needed}, {len(succeeded)} succeeded"
            f" ({', '.join(succeeded) or 'none'}); still writing: {', '.join(pending) or 'none'}",
            details={"chunk_id": chunk_id, "needed": needed, "succeeded": list(succeeded),
                     "pending": list(pending), "latency_budget_ms": budget_ms},
        )


class PayloadTooLarge(EchoError):
    code = "payload_too_large"


class RangeNotSatisfiable(EchoError):
    code = "range_not_satisfiable"


class TooManyRequests(EchoError):
    code = "too_many_requests"


class RateLimited(TooManyRequests):
    """Too many attempts (failed logins); ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, details={"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class StorageFull(EchoError):
    code = "storage_full"


class QuotaExceeded(StorageFull):
    """A bucket's, user's or group's quota would be exceeded; nothing was stored.
    ``details`` name the scope, its usage, what was being added and the quota."""

    code = "quota_exceeded"


class ChunkCorrupt(EchoError):
    """A stored blob failed its checksum. The replica must be repaired, not trusted."""

    code = "chunk_corrupt"


class Unavailable(EchoError):
    code = "unavailable"


class QuorumNotReached(Unavailable):
    """Fewer replicas became durable than the consistency mode requires."""

    code = "quorum_not_reached"

    def __init__(
        self,
        *,
        chunk_id: str,
        needed: int,
        succeeded: Sequence[str],
        failures: Mapping[str, str],
    ) -> None:
        failed = ", ".join(f"{worker}: {why}" for worker, why in failures.items()) or "none"
        super().__init__(
            f"could not reach write quorum for chunk {chunk_id[:12]}: needed {needed}, "
            f"{len(succeeded)} succeeded ({', '.join(succeeded) or 'none'}); failed: {failed}",
            details={
                "chunk_id": chunk_id,
                "needed": needed,
                "succeeded": list(succeeded),
                "failures": dict(failures),
            },
        )


class DependencyDown(Unavailable):
    code = "dependency_down"


HTTP_STATUS: dict[type[EchoError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Gone: 410,
    PreconditionFailed: 412,
    PayloadTooLarge: 413,
    RangeNotSatisfiable: 416,
    TooManyRequests: 429,
    ChunkCorrupt: 502,
    Unavailable: 503,
    StorageFull: 507,
}


def lookup_by_class(table: Mapping[type[EchoError], Any], error: EchoError, default: Any) -> Any:
    """The entry of ``error``'s nearest class in ``table`` (status tables map bases)."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return default


def http_status_of(error: EchoError) -> int:
    return int(lookup_by_class(HTTP_STATUS, error, 500))


__all__ += ["http_status_of", "lookup_by_class"]

"""S3's error vocabulary at the gateway's edge: one table from our errors to S3 codes.

Services raise ``common.errors``; the edge's own refusals (signatures, headers, XML
bodies, what the gateway does not implement) raise :class:`S3Error` with S3's code.
``s3_error_for`` translates an ``EchoError`` once, in one table; a NotFound is named
by what the operation addresses (``Subject``): a key, an upload or a version.
"""

from __future__ import annotations

import enum

from common.errors import (
    BucketExists,
    BucketNotEmpty,
    BucketNotFound,
    ChecksumMismatch,
    ChunkCorrupt,
    Conflict,
    EchoError,
    EntityTooSmall,
    Forbidden,
    Gone,
    InvalidInput,
    InvalidPart,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RangeNotSatisfiable,
    SessionClosed,
    StorageFull,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)

__all__ = ["S3Error", "Subject", "s3_error_for"]


class S3Error(Exception):
    """An answer in S3's words, raised by the gateway's edge itself."""

    def __init__(self, code: str, message: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = dict(headers or {})  # added to the error answer


class Subject(enum.Enum):
    """What a request's NotFound would be about."""

    BUCKET = "bucket"
    KEY = "key"
    UPLOAD = "upload"
    VERSION = "version"


_NOT_FOUND = {
    Subject.BUCKET: "NoSuchBucket",
    Subject.KEY: "NoSuchKey",
    Subject.UPLOAD: "NoSuchUpload",
    Subject.VERSION: "NoSuchVersion",
}

# Most specific first: the first class an error is an instance of decides.
_TABLE: list[tuple[type[EchoError], int, str]] = [
    (BucketNotFound, 404, "NoSuchBucket"),
    (BucketExists, 409, "BucketAlreadyExists"),
    (BucketNotEmpty, 409, "BucketNotEmpty"),
    (SessionClosed, 404, "NoSuchUpload"),
    (InvalidPart, 400, "InvalidPart"),
    (EntityTooSmall, 400, "EntityTooSmall"),
    (ChecksumMismatch, 400, "BadDigest"),
    (InvalidInput, 400, "InvalidArgument"),
    (Unauthenticated, 403, "AccessDenied"),
    (Forbidden, 403, "AccessDenied"),
    (PreconditionFailed, 412, "PreconditionFailed"),
    (PayloadTooLarge, 400, "EntityTooLarge"),
    (RangeNotSatisfiable, 416, "InvalidRange"),
    (TooManyRequests, 503, "SlowDown"),
    (StorageFull, 507, "InsufficientStorage"),
    (Conflict, 409, "OperationAborted"),
    (ChunkCorrupt, 500, "InternalError"),
    (Unavailable, 503, "ServiceUnavailable"),
]


def s3_error_for(error: EchoError, subject: Subject) -> S3Error:
    """``error`` in S3's words; a NotFound (or an expired upload) names ``subject``."""
    if isinstance(error, NotFound | Gone) and not isinstance(error, BucketNotFound):
        return S3Error(_NOT_FOUND[subject], error.message, 404)
    if error.code == "quota_exceeded":  # the quotas' refusal, whatever class it has
        return S3Error("QuotaExceeded", error.message, 507)
    for cls, status, code in _TABLE:
        if isinstance(error, cls):
            code = str(error.details.get("s3_code", code))
            return S3Error(code, error.message, status)
    return S3Error("InternalError", "internal error; see the server log", 500)

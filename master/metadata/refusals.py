"""Turn PostgreSQL's refusals into our error vocabulary, in one place.

Some checks run inside PostgreSQL, in functions of our migrations, because only there do
they see the rows locked by the very transaction they guard. Each refuses with a
SQLSTATE of our own; ``Database.connection`` translates it, so every path that runs the
check reports it the same way:

- ``EQ507`` (migration 0010's commit-time ``echofs_usage_check``): a transaction would
  leave a usage counter above its quota; its DETAIL is a JSON object naming the scope,
  its usage before the transaction, what was being added and the quota. Every write
  path (uploads, sessions, copies, moves, restores) reports 507 ``quota_exceeded``.
- ``EC503`` (migration 0019's ``echofs_persist_chunks``): a chunk row a write relied on
  (dedup) was marked or deleted by GC meanwhile, so its blobs may be gone; nothing
  commits and the client retries (503). DETAIL: ``{"chunk_ids": [...]}``.
- The refusals of a version commit (migration 0019's ``echofs_commit_versions``, one
  statement, so each rolls the whole commit back): ``EC409`` a directory stands at a new
  version's path or a file at one of its parents (409; DETAIL: the path); ``ES409`` an
  upload session the commit completes changed since its parts were read (409);
  ``EP412`` a conditional upload's precondition does not hold against the current
  version (412; DETAIL: ``{"path", "etag", "if_none_match"}``); ``EN404`` the bucket
  was deleted while uploading (404).
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from common.errors import (
    Conflict,
    EchoError,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    Unavailable,
)

__all__ = ["refusal_from"]

_QUOTA = "EQ507"
_REUSED_CHUNK_GONE = "EC503"
_PATH_CLASH = "EC409"
_SESSION_CHANGED = "ES409"
_PRECONDITION = "EP412"
_BUCKET_GONE = "EN404"


def refusal_from(exc: psycopg.Error) -> EchoError | None:
    """The error of ours that ``exc`` stands for, or None if it is another error."""
    if exc.sqlstate == _QUOTA:
        message = exc.diag.message_primary or "quota exceeded"
        return QuotaExceeded(f"{message}; nothing was stored", details=_json_detail(exc))
    if exc.sqlstate == _REUSED_CHUNK_GONE:
        return Unavailable(exc.diag.message_primary or "a reused chunk is gone; retry",
                           details=_json_detail(exc))
    if exc.sqlstate == _PATH_CLASH:
        return Conflict(f"{exc.diag.message_detail!r} is a directory or a file, and cannot"
                        " be both")
    if exc.sqlstate == _SESSION_CHANGED:
        return Conflict("the session changed while completing (a part was re-sent, or it"
                        " was completed, aborted or expired); check its status and retry")
    if exc.sqlstate == _PRECONDITION:
        return _precondition_failed(_json_detail(exc))
    if exc.sqlstate == _BUCKET_GONE:
        return NotFound("the bucket was deleted while uploading")
    return None


def _precondition_failed(detail: dict[str, Any]) -> PreconditionFailed:
    path = str(detail.get("path", ""))
    if detail.get("if_none_match"):
        return PreconditionFailed(f"{path!r} exists (If-None-Match: *)")
    return PreconditionFailed(f"{path!r} does not have the etag If-Match names",
                              details={"etag": detail.get("etag")})


def _json_detail(exc: psycopg.Error) -> dict[str, Any]:
    raw = exc.diag.message_detail
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

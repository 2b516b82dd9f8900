"""Turn PostgreSQL's quota refusal into ``QuotaExceeded``, in one place.

Migration 0010's commit-time check (``echofs_usage_check``) refuses a transaction that
would leave a counter above its quota with SQLSTATE ``EQ507``; its DETAIL is a JSON
object naming the scope, its usage before the transaction, what was being added and
the quota. ``Database.connection`` translates it, so every write path (uploads,
sessions, copies, moves, restores) reports the same 507 ``quota_exceeded``.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from common.errors import QuotaExceeded

__all__ = ["QUOTA_SQLSTATE", "refusal_from"]

QUOTA_SQLSTATE = "EQ507"


def refusal_from(exc: psycopg.Error) -> QuotaExceeded | None:
    """The ``QuotaExceeded`` that ``exc`` stands for, or None if it is another error."""
    if exc.sqlstate != QUOTA_SQLSTATE:
        return None
    details: dict[str, Any] = {}
    raw = exc.diag.message_detail
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            details = parsed
    message = exc.diag.message_primary or "quota exceeded"
    return QuotaExceeded(f"{message}; nothing was stored", details=details)

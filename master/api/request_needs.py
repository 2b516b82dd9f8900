"""The edge of per-request write needs (issue 23): headers and form fields to ``WriteNeeds``.

``X-EchoFS-Min-Sync-Copies`` and ``X-EchoFS-Latency-Budget-Ms`` on every upload route
that writes chunks (multipart upload, ``PUT /api/v1/fs/...``, a session's chunk PUT); the
multipart upload also takes them as form fields ``min_sync_copies`` / ``latency_budget_ms``
before the file part (a header wins over a field). Bad values are 400 ``invalid_input``.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from master.domain.write_needs import WriteNeeds

__all__ = ["BUDGET_HEADER", "FORM_FIELDS", "MIN_COPIES_HEADER", "parse_write_needs"]

MIN_COPIES_HEADER = "X-EchoFS-Min-Sync-Copies"
BUDGET_HEADER = "X-EchoFS-Latency-Budget-Ms"
FORM_FIELDS = ("min_sync_copies", "latency_budget_ms")


def parse_write_needs(
    request: web.Request, replication_factor: int, fields: Mapping[str, str] | None = None
) -> WriteNeeds:
    form = fields or {}
    return WriteNeeds.parse(
        request.headers.get(MIN_COPIES_HEADER, form.get("min_sync_copies")),
        request.headers.get(BUDGET_HEADER, form.get("latency_budget_ms")),
        replication_factor,
    )

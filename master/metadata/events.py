"""Write a namespace change's events in the change's own transaction (the outbox).

Every statement that changes the namespace — a version commit, a delete, a move, a
copy, a restore, a directory or a bucket made or removed — has its events inserted
into ``event_outbox`` by the same transaction (DESIGN §13), through the statements
built here. An event therefore exists exactly when its change committed. Outbox rows
get their public ids later, after commit (``event_feed.number_pending``).

Callers insert their events after they have locked what they change, so two changes
of one path insert their events in the order they commit; numbering keeps that order.
A ``source`` below is a SELECT of these columns, in this order::

    ord, type, bucket_id, path, from_bucket_id, from_path, version_id, size, etag, actor_id

``ord`` orders one statement's events; bucket names and owners are filled in from
``buckets`` and the actor's username from ``users`` (``''`` for none). ``from_bucket``
is recorded only when it differs from the event's bucket (a move or copy across
buckets). A version commit and ``MAKE_DIRS`` insert theirs inside PostgreSQL, through
migration 0019's ``echofs_record_events``, which fills the same columns the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

__all__ = [
    "MAKE_DIRS",
    "EventDraft",
    "dir_events_sql",
    "file_events_sql",
    "outbox_insert",
    "record",
    "record_params",
    "record_relocated",
    "relocated_events_sql",
]

_COLUMNS = ("ord, type, bucket_id, path, from_bucket_id, from_path, version_id, size, etag,"
            " actor_id")


def outbox_insert(source: str) -> str:
    """``INSERT INTO event_outbox`` from ``source`` (a SELECT of the columns above)."""
    return (
        "INSERT INTO event_outbox (type, bucket_id, bucket, owner_id, path, from_bucket,"
        " from_path, version_id, size, etag, actor)"
        " SELECT e.type::text, b.id, b.name, b.owner_id, e.path::text, fb.name,"
        " e.from_path::text, e.version_id::uuid, e.size::bigint, e.etag::text,"
        " COALESCE(u.username, '')"
        f" FROM ({source}) AS e({_COLUMNS})"
        # Untyped NULLs in a source read as text: every column is cast where it is used.
        " JOIN buckets b ON b.id = e.bucket_id::bigint"
        " LEFT JOIN buckets fb ON fb.id = e.from_bucket_id::bigint AND fb.id <> b.id"
        " LEFT JOIN users u ON u.id = e.actor_id::bigint ORDER BY e.ord"
    )


@dataclass(frozen=True, slots=True)
class EventDraft:
    """One event whose fields the caller already knows (no row to read them from)."""

    type: str
    bucket_id: int
    path: str
    actor_id: int | None
    from_bucket_id: int | None = None
    from_path: str | None = None
    version_id: uuid.UUID | None = None
    size: int | None = None
    etag: str | None = None


_RECORD = outbox_insert(
    "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[],"
    " %s::text[], %s::uuid[], %s::bigint[], %s::text[], %s::bigint[])"
)


def record_params(drafts: Sequence[EventDraft]) -> tuple[list[Any], ...]:
    return (
        list(range(len(drafts))), [d.type for d in drafts], [d.bucket_id for d in drafts],
        [d.path for d in drafts], [d.from_bucket_id for d in drafts],
        [d.from_path for d in drafts], [d.version_id for d in drafts],
        [d.size for d in drafts], [d.etag for d in drafts], [d.actor_id for d in drafts],
    )


async def record(conn: psycopg.AsyncConnection[Any], drafts: Sequence[EventDraft]) -> None:
    """Insert ``drafts`` into the outbox, in order, inside the caller's transaction."""
    if drafts:
        await conn.execute(_RECORD, record_params(drafts))


# Create directories (bucket ids, paths, actor ids: lists, one actor per distinct
# directory) and a dir.created event for each one that did not exist; returns the
# (bucket_id, path) of those created. Parents sort before their children. Migration
# 0019's echofs_make_dirs, which a version commit runs too.
MAKE_DIRS = (
    "SELECT made_bucket_id AS bucket_id, made_path AS path"
    " FROM echofs_make_dirs(%s::bigint[], %s::text[], %s::bigint[])"
)


def file_events_sql(cte: str, event_type: str) -> str:
    """An outbox insert of ``event_type`` for each row of CTE ``cte`` with columns
    (bucket_id, path, from_bucket_id, from_path, version_id, actor_id); size and etag
    come from the version (delete markers and missing versions: none)."""
    return outbox_insert(
        f"SELECT row_number() OVER (ORDER BY c.path), '{event_type}', c.bucket_id, c.path,"
        " c.from_bucket_id, c.from_path, c.version_id,"
        " CASE WHEN v.deleted THEN NULL ELSE v.size END,"
        " CASE WHEN v.deleted THEN NULL ELSE v.sha256 END, c.actor_id"
        f" FROM {cte} c LEFT JOIN file_versions v ON v.id = c.version_id"
    )


def dir_events_sql(cte: str, event_type: str, *, descending: bool = False) -> str:
    """An outbox insert of ``event_type`` for each row (bucket_id, path, actor_id) of
    CTE ``cte``: parents first, or (``descending``, for deletes) children first."""
    order = "DESC" if descending else "ASC"
    return outbox_insert(
        f"SELECT row_number() OVER (ORDER BY c.path {order}), '{event_type}', c.bucket_id,"
        f" c.path, NULL, NULL, NULL, NULL, NULL, c.actor_id FROM {cte} c"
    )


def relocated_events_sql(cte: str, event_type: str) -> str:
    """An outbox insert for files moved or copied (``event_type``), one per row of CTE
    ``cte`` with columns (n, bucket_id, path, from_bucket_id, from_path, version_id,
    size, etag, actor_id), in ``n`` order. A move across buckets also tells readers of
    the source bucket that the file left it: a file.deleted there, right after."""
    also_deleted = (
        " UNION ALL SELECT 2 * c.n + 1, 'file.deleted', c.from_bucket_id, c.from_path, NULL,"
        f" NULL, NULL, NULL, NULL, c.actor_id FROM {cte} c"
        " WHERE c.from_bucket_id <> c.bucket_id"
    ) if event_type == "file.moved" else ""
    return outbox_insert(
        f"SELECT 2 * c.n, '{event_type}', c.bucket_id, c.path, c.from_bucket_id, c.from_path,"
        f" c.version_id, c.size, c.etag, c.actor_id FROM {cte} c{also_deleted}"
    )


_RELOCATED = {
    kind: "WITH c AS (SELECT t.n, t.b AS bucket_id, t.p AS path, t.fb AS from_bucket_id,"
    " t.fp AS from_path, t.v AS version_id, v.size, v.sha256 AS etag, t.a AS actor_id"
    " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::uuid[],"
    " %s::bigint[]) WITH ORDINALITY AS t(b, p, fb, fp, v, a, n)"
    " JOIN file_versions v ON v.id = t.v) " + relocated_events_sql("c", kind)
    for kind in ("file.moved", "file.copied")
}


async def record_relocated(
    conn: psycopg.AsyncConnection[Any], event_type: str,
    rows: Sequence[tuple[int, str, int, str, uuid.UUID]], actor_id: int | None,
) -> None:
    """``event_type`` (file.moved / file.copied) for each (bucket id, path, source
    bucket id, source path, version id) whose version is in place; size and etag are
    the version's."""
    if rows:
        await conn.execute(_RELOCATED[event_type], (
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            [r[3] for r in rows], [r[4] for r in rows], [actor_id] * len(rows)))

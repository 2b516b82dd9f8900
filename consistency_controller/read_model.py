"""What the controller reads of the master's state, declared in one place.

The controller never reads the master's tables (DESIGN.md §2): the master's migrations
publish views for it (``master/metadata/migrations/0004_*``, ``0005_*`` and ``0014_*``), and this
module declares the shape the controller expects of each, column by column, with the type
``information_schema.columns`` reports. A contract test applies the master's migrations to
a real PostgreSQL and compares; a view that changes shape fails it. The queries that use
the views live beside their callers (``signals.SignalReader``, ``store.Store.file_hint``,
``auth.WriteGuard``) and read only the columns declared here.

The controller may start before the master has migrated: :func:`check_read_model` logs
what is missing or differs at start, and the readers treat a missing view as "nothing
known yet" (``psycopg.errors.UndefinedTable``) until it appears.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

__all__ = [
    "READ_MODEL",
    "ViewShape",
    "check_read_model",
    "describe_views",
    "shape_differences",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewShape:
    """A view by name and its columns: name → type as ``information_schema`` spells it
    (``data_type``; an array is its element type followed by ``[]``)."""

    name: str
    columns: Mapping[str, str]


READ_MODEL: tuple[ViewShape, ...] = (
    ViewShape("controller_admin_users", {"user_id": "bigint"}),
    ViewShape("controller_workers", {"worker_id": "text", "address": "text", "state": "text"}),
    ViewShape(
        "controller_repair_backlog",
        {"items": "bigint", "oldest_queued_at": "timestamp with time zone"},
    ),
    ViewShape(
        "controller_object_writes",
        {"file_id": "uuid", "written_at": "timestamp with time zone"},
    ),
    # Files written again (an overwrite or a new version), and when last (0018).
    ViewShape(
        "controller_object_rewrites",
        {"file_id": "uuid", "rewritten_at": "timestamp with time zone"},
    ),
    ViewShape(
        "controller_object_facts",
        {
            "file_id": "uuid",
            "hint": "text",
            "replica_workers": "text[]",
            "oldest_repair_at": "timestamp with time zone",
        },
    ),
    # What each master observes of each worker and of its own writes (migration 0014).
    ViewShape(
        "controller_worker_observations",
        {
            "master_id": "text",
            "worker_id": "text",
            "state": "text",
            "put_failure_rate": "double precision",
            "put_latency_ms": "double precision",
            "oldest_put_ms": "double precision",
            "observed_at": "timestamp with time zone",
        },
    ),
    ViewShape(
        "controller_write_stats",
        {
            "master_id": "text",
            "chunk_writes": "bigint",
            "repair_share": "double precision",
            "settle_ms": "double precision",
            "repair_completions": "bigint",
            "repair_age_ms": "double precision",
            "observed_at": "timestamp with time zone",
        },
    ),
)

_DESCRIBE_SQL = (
    "SELECT c.table_name, c.column_name, c.data_type, c.udt_name"
    " FROM information_schema.columns c"
    " JOIN information_schema.views v"
    "   ON v.table_schema = c.table_schema AND v.table_name = c.table_name"
    " WHERE c.table_schema = current_schema() AND c.table_name = ANY(%s)"
    " ORDER BY c.table_name, c.ordinal_position"
)


def _type_of(data_type: str, udt_name: str) -> str:
    """``information_schema`` says ``ARRAY`` for every array; its ``udt_name`` is the
    element type's internal name after an underscore (``_text``)."""
    if data_type == "ARRAY":
        return f"{udt_name.removeprefix('_')}[]"
    return data_type


async def describe_views(conn: AsyncConnection, names: list[str]) -> dict[str, dict[str, str]]:
    """The views among ``names`` that exist in the current schema, with their columns
    (name → type, as :class:`ViewShape` spells types). A missing view is absent."""
    cur = await conn.execute(_DESCRIBE_SQL, (names,))
    found: dict[str, dict[str, str]] = {}
    for view, column, data_type, udt_name in await cur.fetchall():
        found.setdefault(view, {})[column] = _type_of(data_type, udt_name)
    return found


def shape_differences(
    expected: tuple[ViewShape, ...], found: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """One line per difference between the declared shapes and the views found: a view
    missing, a column missing, extra or of another type. Empty when they agree."""
    differences: list[str] = []
    for view in expected:
        columns = found.get(view.name)
        if columns is None:
            differences.append(f"{view.name}: missing")
            continue
        for column, declared in view.columns.items():
            actual = columns.get(column)
            if actual is None:
                differences.append(f"{view.name}.{column}: missing")
            elif actual != declared:
                differences.append(f"{view.name}.{column}: {actual}, expected {declared}")
        for column in columns.keys() - view.columns.keys():
            differences.append(f"{view.name}.{column}: not declared ({columns[column]})")
    return differences


async def check_read_model(pool: AsyncConnectionPool) -> list[str]:
    """Compare the master's views with :data:`READ_MODEL` and log the outcome once; the
    controller runs either way (it waits for missing views; a changed one fails the
    rounds that read it, logged by the loop). Returns the differences."""
    async with pool.connection() as conn:
        found = await describe_views(conn, [view.name for view in READ_MODEL])
    differences = shape_differences(READ_MODEL, found)
    if not found:
        log.warning(
            "the master's read model is not there yet (has the master migrated?);"
            " the controller waits for it: %s", "; ".join(differences),
        )
    elif differences:
        log.warning(
            "the master's read model differs from what the controller reads: %s",
            "; ".join(differences),
        )
    else:
        log.info("the master's read model has the shape the controller reads")
    return differences

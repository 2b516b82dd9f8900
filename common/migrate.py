"""Apply ordered SQL migrations at start, once, even with several processes racing.

Each component (master, controller) keeps its own folder of ``NNNN_name.sql`` files and
its own rows in ``schema_migrations``. A transaction-scoped advisory lock serialises
concurrent starters; each file runs in the same transaction as its bookkeeping row, so
a failed migration leaves nothing half-applied.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import psycopg

__all__ = ["apply_migrations"]

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x6563686F  # "echo"


async def apply_migrations(database_url: str, component: str, folder: Path) -> list[str]:
    """Apply the not-yet-applied files of ``folder``; return their names."""
    scripts = await asyncio.to_thread(_read_scripts, folder)
    applied_now: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " component text NOT NULL, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (component, name))"
            )
            cursor = await conn.execute(
                "SELECT name FROM schema_migrations WHERE component = %s", (component,)
            )
            done = {row[0] for row in await cursor.fetchall()}
            for name, script in scripts:
                if name in done:
                    continue
                await conn.execute(script.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (component, name) VALUES (%s, %s)",
                    (component, name),
                )
                applied_now.append(name)
    if applied_now:
        log.info("applied migrations", extra={"component": component, "files": applied_now})
    return applied_now


def _read_scripts(folder: Path) -> list[tuple[str, str]]:
    """The migration files of ``folder`` in order, as (name, SQL); read off the loop."""
    paths = sorted(p for p in folder.iterdir() if _FILE_RE.match(p.name))
    return [(p.name, p.read_text()) for p in paths]

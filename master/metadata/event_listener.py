"""LISTEN for the change feed's notifications on a dedicated PostgreSQL connection.

A pooled connection cannot LISTEN (it goes back to the pool and its notifications
with it), so the listener holds a connection of its own for as long as it runs. TCP
keepalives make a silently dead connection fail within about a minute; the owner
restarts the listener then, and — since notifications sent meanwhile are lost —
``on_ready`` tells it to catch up each time the listener is (re)connected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import NoReturn

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from common.errors import DependencyDown

__all__ = ["listen"]

log = logging.getLogger(__name__)


async def listen(
    conninfo: str, channels: Sequence[str], on_notify: Callable[[str, str], None],
    on_ready: Callable[[], None],
) -> NoReturn:
    """LISTEN on ``channels`` and call ``on_notify(channel, payload)`` for each
    notification until cancelled; raises DependencyDown when the connection fails."""
    try:
        async with await psycopg.AsyncConnection.connect(
            make_conninfo(conninfo, connect_timeout=10, keepalives=1, keepalives_idle=20,
                          keepalives_interval=5, keepalives_count=4), autocommit=True
        ) as conn:
            for channel in channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            log.info("listening for change-feed notifications")
            on_ready()
            async for note in conn.notifies():
                on_notify(note.channel, note.payload)
    except psycopg.Error as exc:
        raise DependencyDown(f"change-feed listener: PostgreSQL unavailable: {exc}") from exc
    raise DependencyDown("change-feed listener: the connection closed")

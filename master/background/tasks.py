"""``run_forever`` for a background ``run_once``, by the one loop runner's policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from common.loops import run_loop

__all__ = ["run_periodically"]


async def run_periodically(
    body: Callable[[], Awaitable[Any]], interval_s: float, what: str,
    on_failure: Callable[[str], None] | None = None,
) -> None:
    """``run_forever`` for a ``run_once`` (``common.loops.run_loop``'s policy)."""
    await run_loop(body, name=what, interval_s=interval_s, on_failure=on_failure)

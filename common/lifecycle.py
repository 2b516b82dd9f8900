"""Run a service until SIGINT/SIGTERM, then stop it gracefully.

A service is an async function that starts its parts, awaits ``stop`` (an Event
this module sets on a signal) and tears down in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

__all__ = ["run_service"]

log = logging.getLogger(__name__)


def run_service(body: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``body(stop_event)`` on a fresh event loop; signals set the event."""

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await body(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)

    asyncio.run(_main())

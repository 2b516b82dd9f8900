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

import uvloop

__all__ = ["run_service"]

log = logging.getLogger(__name__)


def run_service(
    body: Callable[[asyncio.Event], Awaitable[None]], *, data_path: bool = True
) -> None:
    """Run ``body(stop_event)`` on a fresh event loop; signals set the event.

    Data-path services (master, workers) run on uvloop (libuv): measured with the same
    cluster and load, paired runs — 4 KiB writes +16 % ops/s, reads +14 %, the master's
    CPU per operation -12 to -17 %; 64 MiB reads at c = 4 +13 % MB/s. aiohttp recommends
    it and grpc.aio runs on any asyncio loop. The consistency controller
    (``data_path=False``) keeps asyncio's loop: under uvloop its shutdown hung about once
    in thirty stops in tests (its loop waited on something its cleanup never finished;
    not diagnosed), and it gains nothing from a faster loop.
    """

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

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if data_path else None) as runner:
        runner.run(_main())

"""Fault injection for experiments: make this worker slow, not dead.

A worker that is SIGSTOPped answers nothing; a slow disk or an overloaded host still
answers, late. With ``WORKER_SLOW_MS`` set, SIGUSR1 turns slowness on and SIGUSR2 off:
every RPC (health checks included) then waits that long before it is served. Off by
default and inert unless both the setting and the signal are given.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

__all__ = ["SlownessInterceptor"]

log = logging.getLogger(__name__)


class SlownessInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, delay_ms: int) -> None:
        self._delay_s = delay_ms / 1000
        self.active = False

    @property
    def configured(self) -> bool:
        """Whether WORKER_SLOW_MS is set: only then is this interceptor worth installing
        (each server interceptor costs every call an extra await)."""
        return self._delay_s > 0

    def install_signal_handlers(self) -> None:
        if self._delay_s <= 0:
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, self._set, True)
        loop.add_signal_handler(signal.SIGUSR2, self._set, False)

    def _set(self, active: bool) -> None:
        self.active = active
        log.warning("injected slowness %s", "on" if active else "off",
                    extra={"delay_ms": int(self._delay_s * 1000)})

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        if self.active:
            await asyncio.sleep(self._delay_s)
        return await continuation(handler_call_details)

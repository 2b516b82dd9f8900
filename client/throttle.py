"""A bandwidth limit for transfers (``--bwlimit``), shared by all lanes of a run.

Virtual scheduling: each part reserves the next slot of ``nbytes / rate`` seconds and
waits until its slot begins, so over any stretch of time the bytes started never exceed
``rate`` per second by more than the part in hand. The clock and the sleep are
injected: the arithmetic is unit-tested without waiting.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

from common.errors import InvalidInput

__all__ = ["Throttle", "parse_rate"]

_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_rate(text: str) -> int:
    """``"8M"`` → 8 MiB/s; plain numbers are bytes per second (K, M, G: binary units)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB])?(?:/s)?\s*", text)
    if not match:
        raise InvalidInput(f"not a rate: {text!r} (write e.g. 500K, 8M, 1G)")
    rate = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if rate <= 0:
        raise InvalidInput("a bandwidth limit must be positive")
    return rate


class Throttle:
    def __init__(self, rate_bytes_per_s: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate_bytes_per_s <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_bytes_per_s
        self._clock = clock
        self._sleep = sleep
        self._next_free = 0.0

    def reserve(self, nbytes: int) -> float:
        """Reserve a slot for ``nbytes``; the seconds to wait before sending them."""
        now = self._clock()
        start = max(now, self._next_free)
        self._next_free = start + nbytes / self.rate
        return start - now

    async def acquire(self, nbytes: int) -> None:
        wait = self.reserve(nbytes)
        if wait > 0:
            await self._sleep(wait)

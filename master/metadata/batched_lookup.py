"""Concurrent lookups of one kind, answered by one statement per batch.

A small request's own work is tiny next to the fixed cost of each PostgreSQL round
trip: a send and a receive on the master, a parse, plan and transaction in PostgreSQL.
Small uploads and downloads each made such lookups (bucket and file id, chunk holders,
the download snapshot) one statement per request. A :class:`BatchedLookup` sends the
first key at once (nothing waits at low load) and the keys that arrive while
``max_in_flight`` statements run leave together in the next one (``common.coalesce``),
so under load the master sends one statement per batch instead of one per request.

Each key gets exactly what a lookup of it alone would give: the batch statement answers
per key, in one snapshot (it is one statement). If the batch statement fails with
anything but a driver-level outage (``EchoError``, e.g. PostgreSQL down), every key is
looked up again on its own, so one odd key fails only its own request, with its own
error, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from common.coalesce import Coalescer
from common.errors import EchoError

__all__ = ["BatchedLookup"]

log = logging.getLogger(__name__)

K = TypeVar("K")
R = TypeVar("R")

# Two statements in flight keep a lone request's latency at one round trip while a
# batch runs; the third and later requests wait for one of them and go together.
MAX_IN_FLIGHT = 2
MAX_KEYS = 64


class BatchedLookup(Generic[K, R]):
    """``get(key)`` answered by ``lookup_many(keys)`` (one result per key, in order)."""

    def __init__(
        self, lookup_many: Callable[[list[K]], Awaitable[Sequence[R]]], *, name: str,
        max_in_flight: int = MAX_IN_FLIGHT, max_keys: int = MAX_KEYS,
    ) -> None:
        self._lookup_many = lookup_many
        self._name = name
        self._batches: Coalescer[K, R] = Coalescer(
            self._run, name=name, max_in_flight=max_in_flight, max_items=max_keys)

    async def get(self, key: K) -> R:
        """What ``lookup_many([key])`` would answer for ``key``; raises what it raises."""
        return await self._batches.submit(key)

    async def close(self) -> None:
        await self._batches.close()

    async def _run(self, keys: list[K]) -> list[R | BaseException]:
        try:
            return list(await self._lookup_many(keys))
        except EchoError as exc:  # an outage: each key alone would meet it too
            return [exc] * len(keys)
        except Exception as exc:  # noqa: BLE001 - handed to the callers, each alone below
            if len(keys) == 1:
                return [exc]
            log.info("%s: batch of %d failed, looking keys up one by one: %r",
                     self._name, len(keys), exc)
        results: list[R | BaseException] = []
        for key in keys:
            try:
                (found,) = await self._lookup_many([key])
                results.append(found)
            except Exception as exc:  # noqa: BLE001 - the caller gets its own error
                results.append(exc)
        return results

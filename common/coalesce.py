"""Run the calls that queue up behind busy batches as one batch (no timer).

Small operations pay a fixed cost per call (an RPC, a transaction with its WAL flush)
that dwarfs their own work. A :class:`Coalescer` sends the first item to an idle
target at once, a batch of one, so nothing waits at low load; items that arrive while
``max_in_flight`` batches are running wait and leave together in the next batch. Under
load, the batch size follows the concurrency by itself.

With ``same_turn=True`` an idle target gets what arrived at the end of the event loop's
turn it arrived in instead: items submitted in one turn (the uploads one answer
released, which all reach their commit in the next turn) leave together rather than
the first alone and the rest in a second batch behind it. Still no timer: a lone item
waits only for the callbacks already ready in its turn.

With ``linger_s``, a batch taken *under load* waits that long before it is sent, and
what arrives meanwhile joins it (up to the limits). Under load means: the batch before
it held more than one item, or ``more_coming(size)`` (the caller's own hint, given the
batch's size) says more items are already on their way. Where each call costs far more
than each item, fewer, fuller calls cost less CPU per item than the latency they add; a
lone item at low load still goes at once.

``run_batch`` gets the items in arrival order and returns one result per item, each
either a value or the exception that item met; an exception escaping ``run_batch``
fails every item of that batch. ``close`` fails what is queued and cancels what runs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from common.errors import EchoError, Unavailable

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Owns its in-flight batch tasks; ``close`` cancels them."""

    def __init__(
        self,
        run_batch: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        name: str,
        max_in_flight: int = 2,
        max_items: int = 64,
        max_weight: int = 0,
        weight: Callable[[T], int] = lambda _item: 0,
        same_turn: bool = False,
        linger_s: float = 0.0,
        more_coming: Callable[[int], bool] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._name = name
        self._max_in_flight = max_in_flight
        self._max_items = max_items
        self._max_weight = max_weight
        self._weight = weight
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._in_flight: dict[asyncio.Task[None], list[tuple[T, asyncio.Future[R]]]] = {}
        self._closed = False
        self._same_turn = same_turn
        self._pump_due = False
        self._linger_s = linger_s
        self._more_coming = more_coming
        self._last_size = 0

    async def submit(self, item: T) -> R:
        """``item``'s result from the batch it travels in; raises the error it met."""
        if self._closed:
            raise Unavailable(f"{self._name} is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if not self._same_turn:
            self._pump()
        elif not self._pump_due:  # once the callbacks ready in this turn have run
            self._pump_due = True
            loop.call_soon(self._due_pump)
        return await future

    def _due_pump(self) -> None:
        self._pump_due = False
        if not self._closed:
            self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            batch = self._take_batch()
            if not batch:
                return
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._in_flight[task] = batch
            task.add_done_callback(self._batch_done)

    def _take_batch(
        self, batch: list[tuple[T, asyncio.Future[R]]] | None = None
    ) -> list[tuple[T, asyncio.Future[R]]]:
        """Queued items, oldest first, up to the limits: a new batch, or more for
        ``batch`` (extended in place)."""
        batch = [] if batch is None else batch
        weight = sum(self._weight(item) for item, _ in batch)
        while self._queue and len(batch) < self._max_items:
            item, future = self._queue[0]
            if future.done():  # its caller gave up (cancelled) before it was sent
                self._queue.popleft()
                continue
            if batch and self._max_weight and weight + self._weight(item) > self._max_weight:
                break
            self._queue.popleft()
            batch.append((item, future))
            weight += self._weight(item)
        return batch

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before it ever ran never told its callers: tell them here.
        _fail(self._in_flight.pop(task, []), Unavailable(f"{self._name} was closed"))
        if not self._closed:
            self._pump()

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        if self._linger_s and len(batch) < self._max_items and self._under_load(len(batch)):
            # Let more join (the list is the one _in_flight holds, so a close meanwhile
            # fails what joined too).
            await asyncio.sleep(self._linger_s)
            self._take_batch(batch)
        self._last_size = len(batch)
        try:
            results = await self._run_batch([item for item, _ in batch])
            if len(results) != len(batch):
                raise Unavailable(
                    f"{self._name}: {len(results)} results for a batch of {len(batch)}"
                )
        except BaseException as exc:
            _fail(batch, exc if isinstance(exc, EchoError) else Unavailable(
                f"{self._name} failed: {exc!r}"))
            if not isinstance(exc, Exception):
                raise  # cancelled (close): the callers were told above
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _under_load(self, size: int) -> bool:
        return self._last_size > 1 or (self._more_coming is not None and self._more_coming(size))

    async def close(self) -> None:
        """Fail what is queued, cancel what is in flight (its callers see Unavailable)."""
        self._closed = True
        _fail(list(self._queue), Unavailable(f"{self._name} was closed"))
        self._queue.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _fail(batch: Sequence[tuple[object, asyncio.Future]], error: BaseException) -> None:  # type: ignore[type-arg]
    for _, future in batch:
        if not future.done():
            future.set_exception(error)

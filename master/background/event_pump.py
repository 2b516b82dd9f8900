"""Keep the change feed moving on this master: number, wake readers, prune.

Every master runs an :class:`EventPump`:

- its listener (``metadata.event_listener``, a dedicated connection) hears
  ``echofs_outbox`` when a change commits and ``echofs_events`` when any master
  numbered events;
- its numbering loop numbers committed outbox rows (``EventFeedRepository.
  number_pending``, serialised across masters by the counter row) when woken, and every
  ``recheck_s`` in any case;
- its :class:`EventWaker` wakes this master's waiting readers (long polls, SSE
  streams, the webhook delivery) after a numbering, here or elsewhere.

Correctness never depends on a notification: numbering runs every ``recheck_s`` and
readers re-read every ``recheck_s`` while they wait, so a lost notification (a listener
reconnecting, PostgreSQL restarting) costs latency, never an event. Pruning is
idempotent (a prefix of ids; ``pruned_through`` only grows), so every master may run it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from common.loops import run_loop
from master.metadata.event_feed import EVENTS_CHANNEL, OUTBOX_CHANNEL, EventFeedRepository
from master.metadata.event_listener import listen

__all__ = ["NUMBERING_GAP_S", "EventPump", "EventWaker"]

# After a numbering pass that numbered something, the loop rests this long before the
# next one, so that under a stream of commits one pass numbers what several group
# commits wrote. Each pass is a round trip and a row lock (it was three round trips):
# woken by every commit, the pump made ~1.3 PostgreSQL statements per small upload (0.44
# passes per upload at 285 uploads/s). An event committed while the pump is idle is
# numbered at once; under load the feed's latency grows by at most this much. At 20 ms
# the pump still made 50 passes a second under 550 uploads/s (0.09 per upload, each
# followed by a webhook pass); 50 ms takes that to 20, for a feed at most 50 ms late.
NUMBERING_GAP_S = 0.05


class EventWaker:
    """Wakes everyone waiting for new events on this master.

    A waiter reads ``generation`` *before* it looks at the feed and passes it to
    ``wait``, which returns at once if a wake-up came in between: none is lost.
    """

    def __init__(self) -> None:
        self._generation = 0
        self._event = asyncio.Event()

    @property
    def generation(self) -> int:
        return self._generation

    def wake(self) -> None:
        self._generation += 1
        woken, self._event = self._event, asyncio.Event()
        woken.set()

    async def wait(self, seen: int, timeout_s: float) -> None:
        """Until a wake-up after ``seen`` or ``timeout_s``, whichever comes first."""
        if self._generation != seen or timeout_s <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._event.wait()


class EventPump:
    def __init__(
        self, feed: EventFeedRepository, waker: EventWaker, *, conninfo: str,
        recheck_s: float, retention_s: float,
    ) -> None:
        self._feed = feed
        self._waker = waker
        self._conninfo = conninfo
        self._recheck_s = recheck_s
        self._retention_s = retention_s
        self._to_number = asyncio.Event()

    def on_notify(self, channel: str, _payload: str) -> None:
        if channel == OUTBOX_CHANNEL:
            self._to_number.set()
        else:
            self._waker.wake()

    def on_ready(self) -> None:
        """(Re)connected: whatever was notified while not listening is caught up now."""
        self._to_number.set()
        self._waker.wake()

    async def listen_forever(self, on_failure: Callable[[str], None] | None = None) -> None:
        async def listen_once() -> None:
            await listen(self._conninfo, (OUTBOX_CHANNEL, EVENTS_CHANNEL),
                         self.on_notify, self.on_ready)

        await run_loop(listen_once, name="change-feed listener", interval_s=1.0,
                       max_backoff_s=10.0, on_failure=on_failure)

    async def number_once(self) -> int:
        """Wait for a committed change (or ``recheck_s``), then number what committed;
        return how many events got ids. The numbering loop's ``run_once`` (paced by
        ``delay_after``: ``NUMBERING_GAP_S`` after a pass that numbered anything)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._recheck_s):
                await self._to_number.wait()
        self._to_number.clear()
        numbered = await self._feed.number_pending()
        if numbered:
            self._waker.wake()  # this master's readers need not wait for the round trip
        return numbered

    @staticmethod
    def delay_after(numbered: int) -> float:
        """The numbering loop's pause after a pass that numbered ``numbered`` events."""
        return NUMBERING_GAP_S if numbered else 0.0

    async def prune_once(self) -> int:
        return await self._feed.prune(self._retention_s)

"""Run a singleton job on exactly one process at a time, under a lease with a fencing token.

Several masters (and controllers) share one PostgreSQL. A job that must not run twice at
once — repair scheduling, GC, membership keeping, session expiry, the controller's
evaluation — runs through a :class:`SingletonRunner`:

- it **acquires** ``job`` for ``ttl_s`` in a :class:`LeaseStore` (a row in PostgreSQL;
  the database's clock decides expiry, so hosts' clocks never need to agree) and gets a
  **fencing token**, which grows by one on every takeover;
- while it holds, it **renews** every third of the TTL and runs the job's step with the
  :class:`Fence` (job, token). The step hands the fence to the statements that commit its
  work; they check, in the same transaction, that the token is still the current one, so
  a holder that stalled past its lease (a GC pause, SIGSTOP) and wakes up cannot commit;
- the moment a renewal fails (refused, an error, or no answer before the lease would run
  out by the local monotonic clock, counted from *before* the request was sent), or a
  fenced commit says the lease is lost, the step's task is **cancelled**; the runner then
  tries to acquire again, every third of the TTL, like any other contender;
- on cancellation (a graceful stop) it releases the lease so another process takes over
  at once instead of after the TTL.

The generic part lives here; each service keeps its own SQL (``master.metadata.leases``,
``consistency_controller.leases``) behind the :class:`LeaseStore` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from common.errors import LeaseLost
from common.loops import run_loop

__all__ = ["Fence", "LeaseStore", "SingletonRunner", "holder_id"]

log = logging.getLogger(__name__)

RELEASE_TIMEOUT_S = 2.0


def holder_id(port: int) -> str:
    """Who holds a lease: host, port and pid for people, a random tail so a restarted
    process (same pid in a container) is a new holder and gets a new token."""
    return f"{socket.gethostname()}:{port}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Fence:
    """Proof of holding ``job``: fenced statements commit only while ``token`` is current."""

    job: str
    token: int


class LeaseStore(Protocol):
    async def acquire(self, job: str, holder: str, ttl_s: float) -> int | None:
        """Take ``job`` (free or expired: a new token) or renew it (``holder`` holds it:
        the same token) for ``ttl_s``; None when another holder's lease is still running."""

    async def release(self, job: str, holder: str, token: int) -> None:
        """End ``holder``'s lease now (if it still holds it with ``token``)."""


class SingletonRunner:
    """Holds one job's lease for one process and runs the job's step only while it holds.

    Deadlines use ``asyncio.timeout``, not ``wait_for``: on 3.11 ``wait_for`` can swallow
    a cancellation that arrives as the awaited call completes, and a runner that survives
    its owner's cancel would go on holding the lease.

    ``on_change(job, holding)`` is told every acquire (True) and loss (False): the
    service sets its ``echofs_singleton_leader{job}`` gauge from it.
    """

    def __init__(
        self,
        store: LeaseStore,
        job: str,
        holder: str,
        *,
        ttl_s: float,
        on_change: Callable[[str, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.job = job
        self.holder = holder
        self._store = store
        self._ttl_s = ttl_s
        self._renew_every_s = ttl_s / 3
        self._on_change = on_change
        self._clock = clock
        self._fence: Fence | None = None
        self._lost = asyncio.Event()

    @property
    def fence(self) -> Fence | None:
        """The fence while this process holds the job, else None."""
        return self._fence

    async def run(
        self,
        step: Callable[[Fence], Awaitable[Any]],
        *,
        interval_s: float,
        on_failure: Callable[[str], None] | None = None,
        delay_after: Callable[[Any], float] | None = None,
        fixed_rate: bool = False,
        max_backoff_s: float = 30.0,
    ) -> NoReturn:
        """Forever: wait to hold the job, run ``step`` (by ``common.loops.run_loop``'s
        policy) while holding, stop it the moment the lease is lost. Only cancellation
        ends this; it releases a held lease on the way out."""
        self._notify(False)
        try:
            while True:
                fence, deadline = await self._acquire()
                self._fence = fence
                self._lost.clear()
                log.info("singleton lease acquired: %s (token %d)", self.job, fence.token,
                         extra={"job": self.job, "token": fence.token, "holder": self.holder})
                self._notify(True)
                worker = asyncio.get_running_loop().create_task(
                    run_loop(self._guarded(step, fence), name=self.job, interval_s=interval_s,
                             on_failure=on_failure, delay_after=delay_after,
                             fixed_rate=fixed_rate, max_backoff_s=max_backoff_s),
                    name=f"singleton:{self.job}",
                )
                try:
                    reason = await self._keep(fence, deadline)
                finally:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
                self._fence = None
                self._notify(False)
                log.warning("singleton lease lost: %s (token %d): %s; the job stopped here",
                            self.job, fence.token, reason,
                            extra={"job": self.job, "token": fence.token, "holder": self.holder})
                await asyncio.sleep(self._renew_every_s)  # then contend like anyone else
        finally:
            await self._release_on_stop()

    def _guarded(
        self, step: Callable[[Fence], Awaitable[Any]], fence: Fence
    ) -> Callable[[], Awaitable[Any]]:
        async def guarded() -> Any:
            try:
                return await step(fence)
            except LeaseLost:
                self._lost.set()  # a fenced commit was refused: stop at once
                raise

        return guarded

    async def _acquire(self) -> tuple[Fence, float]:
        """Until this process holds the job: (its fence, the local deadline of the lease)."""
        while True:
            started = self._clock()
            token = await self._try(started + self._renew_every_s)
            if token is not None:
                return Fence(self.job, token), started + self._ttl_s
            await asyncio.sleep(self._renew_every_s)

    async def _keep(self, fence: Fence, deadline: float) -> str:
        """Renew while the job runs; return why the lease was lost."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._renew_every_s):
                    await self._lost.wait()
            if self._lost.is_set():
                return "a fenced commit was refused"
            started = self._clock()
            if started >= deadline:
                return "the lease ran out before it could be renewed"
            token = await self._try(deadline)
            if token != fence.token:
                return ("renewal failed" if token is None
                        else f"renewal answered another token ({token})")
            deadline = started + self._ttl_s

    async def _try(self, deadline: float) -> int | None:
        """One acquire/renew call, abandoned at ``deadline``; None on any failure."""
        timeout_s = deadline - self._clock()
        if timeout_s <= 0:
            return None
        try:
            async with asyncio.timeout(timeout_s):
                return await self._store.acquire(self.job, self.holder, self._ttl_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to reach the store means "not held"
            log.info("singleton lease call failed: %s: %s", self.job, exc,
                     extra={"job": self.job, "holder": self.holder})
            return None

    async def _release_on_stop(self) -> None:
        fence, self._fence = self._fence, None
        if fence is None:
            return
        self._notify(False)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(RELEASE_TIMEOUT_S):
                await self._store.release(self.job, self.holder, fence.token)
            log.info("singleton lease released: %s (token %d)", self.job, fence.token,
                     extra={"job": self.job, "token": fence.token, "holder": self.holder})

    def _notify(self, holding: bool) -> None:
        if self._on_change is not None:
            self._on_change(self.job, holding)

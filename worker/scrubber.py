"""Background scrubbing: read every blob at a bounded rate and verify its checksum
and its content id.

Bit rot on a replica nobody reads would go unnoticed until the other replicas are
gone too; the scrubber finds it early. A blob whose checksum still matches its header
but whose content does not hash to its chunk id (rewritten together with its header,
or stored before writes were checked) is found too, since reads do not decode
(``ChunkStore.verify``). Corrupt blobs are quarantined and reported by the store (and
so by the next heartbeat) exactly as a failed read would.

Scrubbing must not starve client traffic: every blob verified is paid for in the
worker's :class:`~worker.background_budget.BackgroundBudget` — the wall time it took
(a share of the worker's time, smaller while clients are active) and the stored bytes
it read (``bytes_per_second``). A zstd blob also costs its decompression and a hash of
its content, which its measured time includes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from common.errors import ChunkCorrupt
from common.loops import run_loop
from worker.background_budget import BackgroundBudget, BudgetConfig
from worker.store import ChunkStore

__all__ = ["ScrubReport", "Scrubber"]

log = logging.getLogger(__name__)


@dataclass
class ScrubReport:
    chunks_checked: int = 0
    bytes_checked: int = 0
    corrupt_chunk_ids: list[str] = field(default_factory=list)


class Scrubber:
    def __init__(
        self, store: ChunkStore, *, bytes_per_second: int, pause_between_passes_s: float = 60.0,
        batch_size: int = 256, budget: BackgroundBudget | None = None,
    ) -> None:
        """Without a ``budget``, one of its own: ``bytes_per_second`` and no time share."""
        self.store = store
        self.bytes_per_second = bytes_per_second
        self.budget = budget or BackgroundBudget(BudgetConfig(read_bytes_per_s=bytes_per_second))
        self.pause_between_passes_s = pause_between_passes_s
        self.batch_size = batch_size

    async def run_once(self) -> ScrubReport:
        """One pass over the whole store, in chunk id order, within the budget.

        Raises whatever listing raises (Unavailable): a pass that cannot see the
        inventory must not claim it scrubbed it.
        """
        report = ScrubReport()
        started = time.monotonic()
        after = ""
        while True:
            step_started = self.budget.clock()
            entries = await self.store.list(after, self.batch_size)
            await self.budget.settle("scrub", self.budget.clock() - step_started)
            for entry in entries:
                step_started = self.budget.clock()
                try:
                    size = await self.store.verify(entry.chunk_id)  # checksum and content id
                except ChunkCorrupt:
                    report.corrupt_chunk_ids.append(entry.chunk_id)
                    size = entry.stored_size
                report.chunks_checked += 1
                report.bytes_checked += size
                self.store.metrics.scrub_bytes.inc(size)
                await self.budget.settle(
                    "scrub", self.budget.clock() - step_started, read_bytes=size
                )
            if len(entries) < self.batch_size:
                break
            after = entries[-1].chunk_id
        self.store.metrics.scrub_passes.inc()
        self.store.metrics.scrub_last_pass.set_to_current_time()
        log.info(
            "scrub pass done",
            extra={
                "chunks": report.chunks_checked, "bytes": report.bytes_checked,
                "corrupt": len(report.corrupt_chunk_ids),
                "seconds": round(time.monotonic() - started, 3),
            },
        )
        return report

    async def run_forever(self) -> None:
        """Scrub pass after pass; a rate of 0 disables scrubbing."""
        if self.bytes_per_second <= 0:
            log.info("scrubbing disabled")
            return
        await run_loop(
            self.run_once, name="scrub", interval_s=self.pause_between_passes_s,
            max_backoff_s=self.pause_between_passes_s,
            on_failure=lambda loop: self.store.metrics.background_errors.labels(loop).inc(),
        )

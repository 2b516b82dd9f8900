"""Repair is woken, and not pushed away, when a worker joins.

A new worker's row starts out healthy, so it never passes through suspect/down; the
holders learn of it only at their next heartbeat and refuse to copy to it until then.
Both used to cost the items waiting for a target their whole backoff (issue 23's
durability run: replacements joined and sat idle for minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.chunks import encode_chunk
from common.errors import Forbidden, Unavailable
from master.background.repair import MAX_BACKOFF_S, UNKNOWN_PEER_RETRY_S, Repairer
from master.cluster.prober import Prober
from master.metrics import MasterMetrics
from tests.support.fake_replicas import FakeReplicas
from tests.support.fake_workers import FakeWorkers


class _ProbeRecords:
    """WorkersRepository.record_probe: accepted and forgotten."""

    async def record_probe(self, worker_id: str, state: str, rtt_ms: float | None) -> None:
        return None


@dataclass
class _Wakes:
    count: int = 0

    async def __call__(self) -> int:
        self.count += 1
        return 0


async def test_a_worker_first_seen_healthy_wakes_repair_once() -> None:
    cluster = FakeWorkers()
    cluster.add("w1")
    registry = await cluster.registry()
    wakes = _Wakes()
    prober = Prober(registry, _ProbeRecords(), MasterMetrics.create(),  # type: ignore[arg-type]
                    interval_s=1.0, on_recovered=wakes)
    await prober.run_once()
    assert wakes.count == 1
    await prober.run_once()
    assert wakes.count == 1  # a worker that stays healthy wakes nothing more
    cluster.add("w2")  # joins while the master runs
    await prober.run_once()
    assert wakes.count == 2
    await registry.close()


async def test_a_worker_back_from_suspect_wakes_repair() -> None:
    cluster = FakeWorkers()
    worker = cluster.add("w1")
    registry = await cluster.registry()
    wakes = _Wakes()
    prober = Prober(registry, _ProbeRecords(), MasterMetrics.create(),  # type: ignore[arg-type]
                    interval_s=1.0, on_recovered=wakes)
    await prober.run_once()
    worker.fail("probe")
    await prober.run_once()
    view = registry.view("w1")
    assert view is not None and view.state == "suspect" and wakes.count == 1
    worker.heal()
    await prober.run_once()
    assert view.state == "healthy" and wakes.count == 2
    await registry.close()


@dataclass
class _Queue:
    """RepairQueue: one claimed item, and how it was settled."""

    items: list[dict] = field(default_factory=list)
    settled: list[tuple[str, int, str, float]] = field(default_factory=list)

    async def claim(self, limit: int, lease_s: float, fence: object = None) -> list[dict]:
        claimed, self.items = self.items[:limit], self.items[limit:]
        return claimed

    async def settle(self, chunk_id: str, live: int, n: int, error: str, retry_in_s: float,
                     fence: object = None, claimed_until: object = None) -> None:
        self.settled.append((chunk_id, live, error, retry_in_s))

    async def add_replica(self, chunk_id: str, worker_id: str, fence: object = None) -> None:
        return None

    async def stats(self) -> dict:
        return {"items": len(self.items), "oldest_s": 0.0, "bytes_at_risk": 0}


class _Replicas(FakeReplicas):
    async def replica_states(self, chunk_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        return {c: list(self.states.get(c, {}).items()) for c in chunk_ids}


async def _repair_once_with_holder_failing(error: Exception) -> tuple[int, float]:
    """Two of three copies on w1, w2; w3 just joined; the holders' ReplicateChunk fails
    with ``error`` on an item already tried 8 times. (live copies, retry in seconds)."""
    cluster = FakeWorkers()
    chunk = encode_chunk(b"a chunk waiting for its third copy" * 100, 1)
    for worker_id in ("w1", "w2", "w3"):
        cluster.add(worker_id)
    for holder in ("w1", "w2"):
        cluster[holder].store(chunk)
        cluster[holder].fail("replicate_chunk", error)  # type: ignore[arg-type]
    replicas = _Replicas()
    replicas.seed(chunk.chunk_id, "w1", "w2")
    queue = _Queue([{"chunk_id": chunk.chunk_id, "attempts": 8, "age_s": 60.0}])
    registry = await cluster.registry()
    repairer = Repairer(queue, replicas, registry, MasterMetrics.create(),  # type: ignore[arg-type]
                        3)
    assert await repairer.run_once() == 1
    await registry.close()
    [(_, live, message, retry_in_s)] = queue.settled
    assert message  # the failure is recorded on the item
    return live, retry_in_s


async def test_a_holder_that_does_not_know_the_new_worker_yet_is_retried_soon() -> None:
    live, retry_in_s = await _repair_once_with_holder_failing(
        Forbidden("fake-w3:1 is not a registered, healthy worker; not replicating"))
    assert live == 2 and retry_in_s == UNKNOWN_PEER_RETRY_S


async def test_other_copy_failures_keep_their_exponential_backoff() -> None:
    live, retry_in_s = await _repair_once_with_holder_failing(Unavailable("w1: UNAVAILABLE"))
    assert live == 2 and retry_in_s == min(MAX_BACKOFF_S, 2.0 ** 8)

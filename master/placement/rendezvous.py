"""Replica placement by rendezvous (highest-random-weight) hashing: pure functions.

Each (chunk id, worker id) pair gets a pseudo-random weight; a chunk's replicas go to
the highest-weighted workers. Adding or removing one worker moves only the chunks whose
top-N set it enters or leaves, and every master computes the same answer without
coordination. When workers declare zones, replicas go to distinct zones first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "place", "rendezvous_order"]


@dataclass(frozen=True, slots=True)
class Candidate:
    worker_id: str
    zone: str = ""


def _weight(key: str, worker_id: str) -> int:
    digest = hashlib.blake2b(f"{key}\x00{worker_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous_order(key: str, worker_ids: Iterable[str]) -> list[str]:
    """All workers, best first for ``key``; ties (never in practice) broken by id."""
    return sorted(worker_ids, key=lambda w: (-_weight(key, w), w))


def place(
    chunk_id: str,
    candidates: Sequence[Candidate],
    replicas: int,
    exclude: Iterable[str] = (),
) -> list[str]:
    """Choose up to ``replicas`` distinct workers for a chunk.

    Workers in ``exclude`` (already holding a copy, or known bad) are skipped. Zones are
    filled one replica each before any zone gets a second; a worker with no zone is a
    zone of its own. Returns fewer than ``replicas`` only when there are not enough
    candidates.
    """
    excluded = set(exclude)
    by_id = {c.worker_id: c for c in candidates if c.worker_id not in excluded}
    ordered = rendezvous_order(chunk_id, by_id)
    chosen: list[str] = []
    used_zones: set[str] = set()
    for worker_id in ordered:
        if len(chosen) == replicas:
            return chosen
        zone = by_id[worker_id].zone or f"\x00{worker_id}"
        if zone not in used_zones:
            chosen.append(worker_id)
            used_zones.add(zone)
    for worker_id in ordered:
        if len(chosen) == replicas:
            break
        if worker_id not in chosen:
            chosen.append(worker_id)
    return chosen

"""What one write request asks for beyond its object's mode (issue 23, DESIGN §4).

A client may state a **minimum of synchronous copies** (``X-EchoFS-Min-Sync-Copies``):
the upload's write quorum becomes the larger of the mode's W and that minimum, and a
mode change while it waits (``LiveQuorum``) never lowers W below it. It may state a
**latency budget** (``X-EchoFS-Latency-Budget-Ms``): every chunk's quorum must be met
within that time from the start of the request, or the upload fails with 412
``latency_budget_exceeded`` (the condition the request stated did not hold; nothing
committed; the puts already started finish as late copies or are collected; retrying
may succeed) instead of waiting up to the chunk RPC deadline. A
budget never weakens the mode — a request cannot buy speed with durability the
cluster's mode promised; it can only stop waiting. The receipt says what was required
and achieved (``SyncOutcome``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput

__all__ = ["MAX_LATENCY_BUDGET_MS", "SyncOutcome", "WriteNeeds"]

MAX_LATENCY_BUDGET_MS = 600_000


@dataclass(frozen=True, slots=True)
class WriteNeeds:
    min_sync_copies: int | None = None
    latency_budget_ms: int | None = None

    @classmethod
    def parse(
        cls, min_sync_copies: str | None, latency_budget_ms: str | None,
        replication_factor: int,
    ) -> WriteNeeds:
        """From header or form text; InvalidInput when not a whole number in range."""
        return cls(
            _whole(min_sync_copies, "min_sync_copies", 1, replication_factor,
                   f"at most the replication factor ({replication_factor})"),
            _whole(latency_budget_ms, "latency_budget_ms", 1, MAX_LATENCY_BUDGET_MS,
                   f"at most {MAX_LATENCY_BUDGET_MS}"),
        )

    def floor(self) -> int:
        """The fewest synchronous copies this request accepts (1 when it states none)."""
        return self.min_sync_copies or 1

    def deadline(self, started: float) -> float | None:
        """When the quorum wait ends, on the clock ``started`` was read from."""
        if self.latency_budget_ms is None:
            return None
        return started + self.latency_budget_ms / 1000


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """What the receipt says about the request's needs: the write quorum applied (the
    stronger of the mode's and the request's) and the copies each chunk had at its
    acknowledgement (the smallest count), the time the upload took, and whether that was
    within the budget (None without one)."""

    required: int
    achieved: int
    needs: WriteNeeds
    elapsed_ms: float

    def to_json(self) -> dict[str, Any]:
        budget = self.needs.latency_budget_ms
        return {
            "required": self.required, "achieved": self.achieved,
            "min_sync_copies": self.needs.min_sync_copies, "latency_budget_ms": budget,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "within_budget": None if budget is None else self.elapsed_ms <= budget,
        }


def _whole(raw: str | None, name: str, low: int, high: int, bound: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InvalidInput(f"{name} must be a whole number from {low}, {bound}")
    value = int(text)
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be a whole number from {low}, {bound}")
    return value

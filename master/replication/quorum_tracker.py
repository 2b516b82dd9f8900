"""The bookkeeping of one chunk's quorum write: pure, no I/O, no clock.

``ChunkWriter`` starts the puts and waits on them; this class only counts. It knows
which targets are still pending, which acknowledged and what the others answered, how
many *new* copies the write still needs (W minus the live copies that already exist),
whether the quorum is met or can still be met, and how to say why it was not
(``QuorumNotReached``: how many were needed, which succeeded, what the others
returned). W may drop while the write waits (a published mode change, ``LiveQuorum``)
but never rises: acknowledged copies were written under the weaker promise anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from common.errors import QuorumNotReached

__all__ = ["QuorumTracker", "is_dedup"]


def is_dedup(live_holders: int, replication_factor: int) -> bool:
    """N live copies exist already: nothing needs to be sent."""
    return live_holders >= replication_factor


class QuorumTracker:
    """Acked / failed / pending replicas of one chunk write against its W.

    ``live_holders`` are the readable copies that existed before the write and count
    toward W; ``targets`` are the workers being written to.
    """

    __slots__ = (
        "acked", "chunk_id", "failures", "live_holders", "pending", "placed", "write_quorum",
    )

    def __init__(
        self, chunk_id: str, write_quorum: int, live_holders: Iterable[str],
        targets: Iterable[str] = (),
    ) -> None:
        self.chunk_id = chunk_id
        self.write_quorum = write_quorum
        self.live_holders = list(live_holders)
        self.pending = set(targets)
        self.placed = len(self.pending)
        self.acked: list[str] = []
        self.failures: dict[str, str] = {}

    @property
    def needed_new(self) -> int:
        """New copies the write still has to make durable for W (never below 0)."""
        return max(0, self.write_quorum - len(self.live_holders))

    @property
    def met(self) -> bool:
        return len(self.acked) >= self.needed_new

    @property
    def attainable(self) -> bool:
        """Whether the pending puts could still meet W (if they all succeed)."""
        return len(self.acked) + len(self.pending) >= self.needed_new

    @property
    def waiting(self) -> bool:
        """The writer should wait on: puts are pending and W is not met yet."""
        return bool(self.pending) and not self.met

    @property
    def may_weaken(self) -> bool:
        """W = 1 cannot drop further, so only a larger W is worth following."""
        return self.write_quorum > 1

    @property
    def live_copies(self) -> int:
        return len(self.acked) + len(self.live_holders)

    def ack(self, worker_id: str) -> None:
        self.pending.discard(worker_id)
        self.acked.append(worker_id)

    def fail(self, worker_id: str, reason: str) -> None:
        self.pending.discard(worker_id)
        self.failures[worker_id] = reason

    def lower_quorum(self, write_quorum: int) -> None:
        """A weaker mode applies from now on; a larger value is ignored (W never rises)."""
        self.write_quorum = min(self.write_quorum, write_quorum)

    def placement_error(self) -> QuorumNotReached:
        """W cannot be met because too few workers could be chosen (``not attainable``
        before any put started)."""
        return QuorumNotReached(
            chunk_id=self.chunk_id, needed=self.write_quorum, succeeded=list(self.live_holders),
            failures={"placement": f"only {self.placed} healthy workers can take it"},
        )

    def error(self) -> QuorumNotReached:
        """Why W was not met: needed, which copies exist (old and new), what failed."""
        return QuorumNotReached(
            chunk_id=self.chunk_id, needed=self.write_quorum,
            succeeded=[*self.live_holders, *self.acked], failures=dict(self.failures),
        )

"""The write quorum of one upload, followed live while its chunks are being written.

An upload takes its object's mode when it starts. If the controller weakens that mode
while the upload still waits for acknowledgements (C → A because two of three workers
turned slow), waiting on for the old, larger W would keep paying for the very slowness
the switch is meant to route around: every upload in flight at the switch would still
wait for a slow replica. So a writer waiting for acks also waits for the next published
mode change, and when the object's W drops it accepts the acks it has. The upload's
mode, recorded with its version and on its receipt, becomes the weakest it was written
under. W never rises mid-upload: the chunks already acknowledged were written under the
weaker promise anyway. An object hinted Strong resolves to C in every mode and so never
drops (``common.quorum.effective_mode``), and W never drops below the request's own
minimum of synchronous copies (``floor``, ``master.domain.write_needs.WriteNeeds``).
"""

from __future__ import annotations

from common.quorum import Hint, Mode, effective_mode, write_quorum
from master.cluster.modes import ModeOracle

__all__ = ["LiveQuorum"]


class LiveQuorum:
    def __init__(
        self, oracle: ModeOracle, mode_key: str, hint: Hint, mode: Mode, replication_factor: int,
        floor: int = 1,
    ) -> None:
        self._oracle = oracle
        self._key = mode_key
        self._hint = hint
        self._n = replication_factor
        self._floor = min(max(1, floor), replication_factor)
        self.mode = mode
        self.w = max(write_quorum(mode, replication_factor), self._floor)

    async def weaker(self, below: int) -> int:
        """Return once this upload's W is below ``below`` (after a published mode change)."""
        while self.w >= below:
            await self._oracle.next_change().wait()
            decision = await self._oracle.mode_for(self._key)
            mode = effective_mode(decision.mode, self._hint)
            w = max(write_quorum(mode, self._n), self._floor)
            if w < self.w:
                self.mode, self.w = mode, w
        return self.w

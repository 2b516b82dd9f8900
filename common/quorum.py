"""Consistency modes and quorum arithmetic: pure and property-tested.

The mode of an object decides W, the number of replicas that must be durable before
an upload is acknowledged; the remaining N - W replicas become durable repair work.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Hint", "Mode", "effective_mode", "write_quorum"]


class Mode(str, Enum):
    STRONG = "C"
    AVAILABLE = "A"
    HYBRID = "Hybrid"


class Hint(str, Enum):
    AUTO = "Auto"
    STRONG = "Strong"
    AVAILABLE = "Available"


def effective_mode(mode: Mode, hint: Hint = Hint.AUTO, *, critical: bool = False) -> Mode:
    """The mode a write obeys.

    Critical keys and objects hinted Strong are always C: a caller who asked for
    durability is never silently given less. Hybrid resolves by the hint (C for Strong,
    otherwise A). An Available hint never weakens C: it only feeds the controller's score.
    """
    if critical or hint is Hint.STRONG:
        return Mode.STRONG
    if mode is Mode.HYBRID:
        return Mode.STRONG if hint is Hint.STRONG else Mode.AVAILABLE
    return mode


def write_quorum(mode: Mode, replication_factor: int, hint: Hint = Hint.AUTO) -> int:
    """W for N replicas: C -> floor(N/2)+1, A -> 1, Hybrid -> C if hinted Strong else A."""
    if replication_factor < 1:
        raise ValueError(f"replication factor must be >= 1, got {replication_factor}")
    resolved = effective_mode(mode, hint)
    if resolved is Mode.STRONG:
        return replication_factor // 2 + 1
    return 1

"""The consistency controller explained to admins (DESIGN §7, §18): cluster and
per-object modes, the signals, score and reason of each decision, and the override.

Admins only, checked here on every call (the web UI and any future route share it).
An override is an admin action: audited as ``controller.override``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.errors import Forbidden, InvalidInput
from master.cluster.controller_client import ControllerClient
from master.services.audit import AuditService
from master.services.auth import Principal

__all__ = ["ConsistencyService", "ControllerView", "Decision", "Durability", "ModeRisk"]

_MODES = ("C", "A")


@dataclass(frozen=True, slots=True)
class Decision:
    """One row of the controller's decision log, newest first in ``ControllerView``."""

    object_id: str
    decided_at: str
    last_seen_at: str
    repeats: int
    from_mode: str | None
    mode: str
    changed: bool
    reason: str
    score: float | None
    pending_mode: str | None
    pending_votes: int
    signals: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ControllerView:
    cluster_mode: str
    cluster_reason: str
    override: str | None
    critical_keys: list[str]
    signals: dict[str, Any]
    objects: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    decisions: list[Decision]
    evaluating: bool
    # The durability model's estimate per mode and its inputs (None before the first
    # evaluation, or from a controller that does not report one).
    durability: Durability | None = None


@dataclass(frozen=True, slots=True)
class ModeRisk:
    """P(an acknowledged chunk is lost before it is back to N copies) if written in
    ``mode`` with ``sync_copies`` synchronous copies; ``upper``: the bound the model
    gives while too few failures were seen to trust the rate."""

    mode: str
    sync_copies: int
    probability: float
    upper: float | None


@dataclass(frozen=True, slots=True)
class Durability:
    per_mode: list[ModeRisk]
    inputs: dict[str, Any]


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _durability(raw: Any) -> Durability | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("per_mode"), dict):
        return None
    risks = []
    for mode, row in sorted(raw["per_mode"].items()):
        if not isinstance(row, dict):
            continue
        probability = _float(row.get("loss_probability"))
        if probability is None:
            continue
        risks.append(ModeRisk(str(mode), int(row.get("sync_copies") or 0), probability,
                              _float(row.get("loss_probability_upper"))))
    inputs = raw.get("inputs")
    return Durability(risks, inputs if isinstance(inputs, dict) else {})


def _decision(row: dict[str, Any]) -> Decision:
    signals = row.get("signals")
    return Decision(
        object_id=str(row.get("object_id", "")), decided_at=str(row.get("decided_at", "")),
        last_seen_at=str(row.get("last_seen_at", "")), repeats=int(row.get("repeats") or 0),
        from_mode=row.get("from_mode"), mode=str(row.get("mode", "")),
        changed=bool(row.get("changed")), reason=str(row.get("reason") or ""),
        score=_float(row.get("score")), pending_mode=row.get("pending_mode"),
        pending_votes=int(row.get("pending_votes") or 0),
        signals=signals if isinstance(signals, dict) else {},
    )


class ConsistencyService:
    def __init__(self, controller: ControllerClient, audit: AuditService) -> None:
        self._controller = controller
        self._audit = audit

    async def view(self, caller: Principal) -> ControllerView:
        _require_admin(caller)
        status = await self._controller.status()
        cluster = status.get("cluster") or {}
        signals = status.get("signals")
        return ControllerView(
            cluster_mode=str(cluster.get("mode", "?")),
            cluster_reason=str(cluster.get("reason", "")),
            override=status.get("override"),
            critical_keys=list(status.get("critical_keys") or []),
            signals=signals if isinstance(signals, dict) else {},
            objects=list(status.get("objects") or [])[:100],
            workers=list(status.get("workers") or []),
            # The controller folds a repeated decision into one row (``repeats``,
            # ``last_seen_at``): the most recently seen comes first.
            decisions=sorted((_decision(r) for r in status.get("decisions") or []
                              if isinstance(r, dict)),
                             key=lambda d: d.last_seen_at, reverse=True),
            evaluating=bool(status.get("evaluating", True)),
            durability=_durability(status.get("durability")),
        )

    async def set_override(self, caller: Principal, mode: str | None) -> None:
        """Pin the cluster to ``mode`` ("C" | "A"), or clear the pin (None)."""
        _require_admin(caller)
        if mode is not None and mode not in _MODES:
            raise InvalidInput('override must be "C", "A" or cleared')
        await self._controller.set_override(mode)
        await self._audit.record(caller, "controller.override", "*", mode=mode)


def _require_admin(caller: Principal) -> None:
    if not caller.is_admin:
        raise Forbidden("this page needs the admin role")

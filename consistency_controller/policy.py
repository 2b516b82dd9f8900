"""The controller's decision: a pure function of measured signals, remembered state and time.

Nothing here does I/O or reads a clock; ``decide(signals, state, now)`` returns the mode
to serve and the state to remember, so tests drive it with any sequence of signals.

Score (DESIGN.md §7, EchoFS's weights)::

    score = 0.4·risk + 0.3·min(lag_s / 1 s, 1) + 0.2·min(rate / 100, 1) + 0.1·hint
            - 0.2·recent_change_penalty

Normalisations, each term in [0, 1]:

- ``risk``: partition risk, the share of workers (the object's replica workers, and the
  cluster's) that are failing, suspect or down; clipped to [0, 1].
- lag: replication lag in seconds divided by 1 s, capped at 1 (``LAG_CAP``): a backlog
  older than a second counts fully.
- rate: writes per minute divided by 100, capped at 1.
- hint: Strong → 0, Auto → 0.5, Available → 1.
- recent-change penalty: 1 right after a mode change, falling linearly to 0 over
  ``PENALTY_WINDOW_S``. It counts only while the object is in C: there, subtracting holds
  the object where it is (leaving C again soon after arriving is harder); in Hybrid or A
  a lower score would push toward another change, the opposite of its purpose.

Bands with hysteresis (nominal DESIGN bands: above 0.6 → A, below 0.3 → C, else Hybrid;
leaving a mode needs its boundary crossed by ``MARGIN`` = 0.1)::

    from C:       score > 0.7 → A;  score > 0.4 → Hybrid;  else C
    from Hybrid:  score > 0.7 → A;  score < 0.2 → C;       else Hybrid
    from A:       score < 0.2 → C;  score < 0.5 → Hybrid;  else A

So A is entered only above 0.7 and C only below 0.2, whatever the path.

A switch needs consecutive agreeing evaluations and a cooldown since the last change:
leaving C (to A or Hybrid) needs 6 votes and 60 s; every other switch 3 votes and 30 s.
Precedence: critical key (always C) → operator override → emergency (risk > 0.8 switches
to A at once, no votes, no cooldown) → the banded score.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from common.quorum import Hint, Mode

__all__ = [
    "CHANGE_REASONS",
    "COOLDOWN_LEAVE_C_S",
    "COOLDOWN_S",
    "EMERGENCY_RISK",
    "PENALTY_WINDOW_S",
    "VOTES",
    "VOTES_LEAVE_C",
    "Decision",
    "PolicyState",
    "Signals",
    "decide",
    "score_of",
    "target_mode",
]

W_RISK, W_LAG, W_RATE, W_HINT, W_PENALTY = 0.4, 0.3, 0.2, 0.1, 0.2
LAG_UNIT_S = 1.0
LAG_CAP = 1.0
RATE_UNIT_PER_MIN = 100.0
PENALTY_WINDOW_S = 120.0

TO_A_ABOVE = 0.7
TO_C_BELOW = 0.2
NOMINAL_A_ABOVE = 0.6
NOMINAL_C_BELOW = 0.3
MARGIN = 0.1

VOTES = 3
VOTES_LEAVE_C = 6
COOLDOWN_S = 30.0
COOLDOWN_LEAVE_C_S = 60.0
EMERGENCY_RISK = 0.8

HINT_VALUE = {Hint.STRONG: 0.0, Hint.AUTO: 0.5, Hint.AVAILABLE: 1.0}

# The bounded vocabulary of why a mode changed (a metrics label).
CHANGE_REASONS = ("critical", "override", "emergency", "threshold")


@dataclass(frozen=True)
class Signals:
    """What one evaluation sees for one object (or for the cluster, object ``*``)."""

    risk: float = 0.0
    lag_s: float = 0.0
    write_rate_per_min: float = 0.0
    hint: Hint = Hint.AUTO
    critical: bool = False
    override: Mode | None = None


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between evaluations of one object."""

    mode: Mode = Mode.STRONG
    pending_mode: Mode | None = None
    pending_votes: int = 0
    last_change_at: float | None = None


@dataclass(frozen=True)
class Decision:
    mode: Mode
    previous_mode: Mode
    changed: bool
    state: PolicyState
    reason_code: str
    reason: str
    score: float | None
    target: Mode


def _clip(value: float) -> float:
    return 0.0 if value != value else min(1.0, max(0.0, value))  # NaN counts as 0


def recent_change_penalty(state: PolicyState, now: float) -> float:
    if state.last_change_at is None or state.mode is not Mode.STRONG:
        return 0.0
    return _clip(1.0 - (now - state.last_change_at) / PENALTY_WINDOW_S)


def score_of(signals: Signals, state: PolicyState, now: float) -> float:
    """The EchoFS score; see the module docstring for each term's normalisation."""
    lag = min(max(signals.lag_s, 0.0) / LAG_UNIT_S, LAG_CAP)
    rate = _clip(signals.write_rate_per_min / RATE_UNIT_PER_MIN)
    return (
        W_RISK * _clip(signals.risk)
        + W_LAG * _clip(lag)
        + W_RATE * rate
        + W_HINT * HINT_VALUE[signals.hint]
        - W_PENALTY * recent_change_penalty(state, now)
    )


def target_mode(current: Mode, score: float) -> Mode:
    """Where the score points from ``current``, with the hysteresis band."""
    if current is Mode.STRONG:
        if score > TO_A_ABOVE:
            return Mode.AVAILABLE
        return Mode.HYBRID if score > NOMINAL_C_BELOW + MARGIN else Mode.STRONG
    if current is Mode.AVAILABLE:
        if score < TO_C_BELOW:
            return Mode.STRONG
        return Mode.HYBRID if score < NOMINAL_A_ABOVE - MARGIN else Mode.AVAILABLE
    if score > TO_A_ABOVE:
        return Mode.AVAILABLE
    return Mode.STRONG if score < TO_C_BELOW else Mode.HYBRID


def _requirements(current: Mode) -> tuple[int, float]:
    if current is Mode.STRONG:
        return VOTES_LEAVE_C, COOLDOWN_LEAVE_C_S
    return VOTES, COOLDOWN_S


def _switch(
    state: PolicyState, mode: Mode, now: float, code: str, reason: str, score: float | None
) -> Decision:
    changed = mode is not state.mode
    new_state = PolicyState(
        mode=mode,
        pending_mode=None,
        pending_votes=0,
        last_change_at=now if changed else state.last_change_at,
    )
    return Decision(mode, state.mode, changed, new_state, code, reason, score, mode)


def decide(signals: Signals, state: PolicyState, now: float) -> Decision:
    """One evaluation for one object: the mode to serve now and the state to remember."""
    if signals.critical:
        return _switch(state, Mode.STRONG, now, "critical", "critical key: always C", None)
    if signals.override is not None:
        return _switch(
            state, signals.override, now, "override",
            f"operator override pins mode {signals.override.value}", None,
        )
    score = score_of(signals, state, now)
    risk = _clip(signals.risk)
    if risk > EMERGENCY_RISK:
        return _switch(
            state, Mode.AVAILABLE, now, "emergency",
            f"emergency: partition risk {risk:.2f} > {EMERGENCY_RISK}", score,
        )
    target = target_mode(state.mode, score)
    if target is state.mode:
        held = replace(state, pending_mode=None, pending_votes=0)
        return Decision(
            state.mode, state.mode, False, held, "hold",
            f"score {score:.3f} keeps mode {state.mode.value}", score, target,
        )
    votes = state.pending_votes + 1 if state.pending_mode is target else 1
    needed_votes, cooldown_s = _requirements(state.mode)
    since_change = None if state.last_change_at is None else now - state.last_change_at
    arrow = f"{state.mode.value}->{target.value}"
    if votes >= needed_votes and (since_change is None or since_change >= cooldown_s):
        return _switch(
            state, target, now, "threshold",
            f"score {score:.3f}: {votes} agreeing evaluations for {arrow}", score,
        )
    pending = replace(state, pending_mode=target, pending_votes=votes)
    if votes < needed_votes:
        code, why = "voting", f"vote {votes}/{needed_votes} for {arrow}"
    else:
        assert since_change is not None
        code, why = "cooldown", f"cooldown {since_change:.0f}/{cooldown_s:.0f}s before {arrow}"
    return Decision(
        state.mode, state.mode, False, pending, code, f"score {score:.3f}: {why}", score, target
    )

"""The controller's decision (v2, issue 23): a pure function of measured signals, remembered
state and time. Nothing here does I/O or reads a clock; ``decide(signals, state, now)``
returns the mode to serve and the state to remember, so tests drive it with any sequence.

The objective it serves: write in A only where C would miss its latency budget or fail,
and never flap. So the question each evaluation answers is "can C write, and in time?":

- **C fails** when fewer workers are *writable* (placeable by the masters, not failing
  their writes; ``viability.py``) than C's quorum W_C = ⌊N/2⌋+1. Then A is the only
  mode that acknowledges anything: the **emergency** switch to A, at once (no votes, no
  cooldown), provided at least one worker is writable and none is still *unknown*
  (not heard from since the controller started, within its start-up grace) and at
  least one has failed. With no writable worker no mode helps a write, so the mode is
  held: the emergency A of issue 23's restart (every worker failing because none had
  re-registered) weakened only the writes that came after. A cluster that simply has
  fewer workers than W_C, none failing (a new cluster whose workers are registering one
  by one, a one-worker dev cluster), has no failure to route around: the mode is held.
- **C is slow** when its expected latency — the W_C-th fastest writable worker's write
  latency, ``c_latency_s`` — is above the latency budget. Then A (the fastest one) is
  faster, and leaving C needs ``VOTES`` agreeing evaluations and the cooldown.
- **C is fine again** when it does not fail and its latency is within the budget; the
  return happens at an evaluation where the latency is at most ``RETURN_FRACTION`` of
  the budget (hysteresis: a latency wobbling around the budget never flips the mode back
  and forth) once C has been able to write within its budget for ``RETURN_STABLE_S`` of
  the controller's clock, over at least ``RETURN_MIN_VOTES`` evaluations, and the
  cooldown has passed. C failing or going over its budget restarts that time; a latency
  between the return line and the budget only delays the return. The stable time is
  counted in seconds, not evaluations: under load an evaluation takes 2-3 s, and ten
  evaluations in a row (v2's first rule) kept the cluster in A for 15-45 s after it
  healed, one reading over the line starting the count again. A return that an
  emergency undoes a few seconds later is a reversal, and the emergency cannot wait (a
  paired experiment run under heavy load returned after ~5 s and went back to A 4.7 s
  later when two workers' probes timed out again); the stable time is the price of that.

Replication lag (decided in issue 23, ``docs/consistency.md``): a backlog of copies that
*cannot be placed* (fewer writable workers than N) is ignored here — neither mode can
place them, and A would only add to them; it is reported and feeds the durability model.
A backlog that *could* be placed (every one of N copies has a writable worker, yet the
oldest item is ``LAG_HOLD_S`` past its grace) means repair is behind: it vetoes leaving
C for latency (A would add N−1 pending copies per write) and lets a return to C accept
any latency within the budget. Lag never pushes toward A.

Precedence: critical key (always C) → operator override → hint Strong (C) → no writable
worker (hold) → C fails (emergency A, or hold while workers are unknown or none has
failed) → latency bands (3 votes to leave C; 8 s within budget to return) and cooldown. Every
change other than an emergency is at least ``COOLDOWN_S`` after the previous one; an
emergency acts at once because a write that C cannot place fails, and a failed write
protects nothing. The start of a return's stable time lives in memory only: a restarted
(or newly leading) controller starts it again, which delays a return, never hastens it.
The policy serves C or A; Hybrid (C only for Strong-hinted writes, which are C in every
mode anyway) is accepted as a persisted or pinned state and left by the same rules as A.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from common.quorum import Hint, Mode, write_quorum

__all__ = [
    "CHANGE_REASONS",
    "COOLDOWN_S",
    "LAG_HOLD_S",
    "MAX_PRESSURE",
    "RETURN_FRACTION",
    "RETURN_MIN_VOTES",
    "RETURN_STABLE_S",
    "VOTES",
    "Decision",
    "PolicyState",
    "Signals",
    "decide",
    "pressure_of",
    "target_mode",
]

VOTES = 3
RETURN_STABLE_S = 8.0
RETURN_MIN_VOTES = 3
COOLDOWN_S = 20.0
RETURN_FRACTION = 0.7
LAG_HOLD_S = 5.0
# The pressure reported when C cannot place its quorum at all.
MAX_PRESSURE = 2.0

# The bounded vocabulary of why a mode changed (a metrics label).
CHANGE_REASONS = ("critical", "override", "hint", "emergency", "threshold")


@dataclass(frozen=True)
class Signals:
    """What one evaluation sees for one object (or for the cluster, object ``*``).

    ``workers`` are the listed (not removed) workers, ``writable`` those the masters can
    write to now, ``unknown`` those not heard from yet since the controller started.
    ``c_latency_s`` is the expected latency of a C write (None: nothing measured yet).
    ``write_rate_per_min`` is recorded with each decision but decides nothing.
    """

    workers: int = 3
    writable: int = 3
    unknown: int = 0
    replication_factor: int = 3
    c_latency_s: float | None = None
    latency_budget_s: float = 1.0
    lag_s: float = 0.0
    write_rate_per_min: float = 0.0
    hint: Hint = Hint.AUTO
    critical: bool = False
    override: Mode | None = None

    @property
    def write_quorum_c(self) -> int:
        return write_quorum(Mode.STRONG, max(1, self.replication_factor))

    @property
    def c_fails(self) -> bool:
        return self.writable < self.write_quorum_c

    @property
    def failing(self) -> int:
        """Listed workers heard from that cannot be written to."""
        return max(0, self.workers - self.writable - self.unknown)

    @property
    def lag_placeable(self) -> bool:
        """Every one of N copies has a writable worker: a backlog is repair falling behind,
        not copies waiting for a worker to return."""
        return self.writable >= self.replication_factor

    @property
    def risk(self) -> float:
        """Partition risk: the share of workers not writable, against what C absorbs
        (``share · N / (N − W_C + 1)``, at most 1). Reported; monotone in failures."""
        if self.workers <= 0:
            return 0.0
        n = max(1, self.replication_factor)
        share = max(0, self.workers - self.writable) / self.workers
        return min(1.0, share * n / (n - self.write_quorum_c + 1))


@dataclass(frozen=True)
class PolicyState:
    """What the policy remembers between evaluations of one object."""

    mode: Mode = Mode.STRONG
    pending_mode: Mode | None = None
    pending_votes: int = 0
    last_change_at: float | None = None
    # When the pending change's streak began (a return to C counts its stable time from
    # here). Not persisted: None after a restart, so the streak starts again.
    pending_since: float | None = None


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


def _finite(value: float | None) -> float | None:
    if value is None or value != value:  # NaN counts as "not measured"
        return None
    return max(0.0, value)


def pressure_of(signals: Signals) -> float:
    """How hard C is pressed: its expected latency over the budget (0 when unmeasured),
    ``MAX_PRESSURE`` when it cannot place its quorum. ≥ 1 leaves C, ≤ RETURN_FRACTION
    returns to it."""
    if signals.c_fails:
        return MAX_PRESSURE
    latency = _finite(signals.c_latency_s)
    if latency is None:
        return 0.0
    budget = max(signals.latency_budget_s, 1e-6)
    return min(MAX_PRESSURE, latency / budget)


def _lag_holds_c(signals: Signals) -> bool:
    return signals.lag_placeable and signals.lag_s >= LAG_HOLD_S


def target_mode(current: Mode, signals: Signals) -> Mode:
    """Where the latency bands point from ``current`` (C failing is handled before)."""
    pressure = pressure_of(signals)
    if current is Mode.STRONG:
        if pressure > 1.0 and not _lag_holds_c(signals):
            return Mode.AVAILABLE
        return Mode.STRONG
    if pressure <= _return_line(signals):
        return Mode.STRONG
    return Mode.AVAILABLE if pressure > 1.0 else current


def _return_line(signals: Signals) -> float:
    """The pressure at or below which a return to C may happen."""
    return 1.0 if _lag_holds_c(signals) else RETURN_FRACTION


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


def _weaker(target: Mode, current: Mode) -> bool:
    return current is Mode.STRONG and target is not Mode.STRONG


def _hold(state: PolicyState, code: str, reason: str, score: float | None) -> Decision:
    held = replace(state, pending_mode=None, pending_votes=0, pending_since=None)
    return Decision(state.mode, state.mode, False, held, code, reason, score, state.mode)


def decide(signals: Signals, state: PolicyState, now: float) -> Decision:
    """One evaluation for one object: the mode to serve now and the state to remember."""
    if signals.critical:
        return _switch(state, Mode.STRONG, now, "critical", "critical key: always C", None)
    if signals.override is not None:
        return _switch(
            state, signals.override, now, "override",
            f"operator override pins mode {signals.override.value}", None,
        )
    if signals.hint is Hint.STRONG:
        return _switch(state, Mode.STRONG, now, "hint", "hinted Strong: always C", None)
    pressure = pressure_of(signals)
    if signals.writable <= 0:
        return _hold(
            state, "no_writable",
            f"no writable worker of {signals.workers}: no mode helps a write;"
            f" keeping {state.mode.value}", pressure,
        )
    if signals.c_fails:
        if signals.unknown > 0:
            return _hold(
                state, "unknown_workers",
                f"C cannot place {signals.write_quorum_c} copies ({signals.writable} writable)"
                f" but {signals.unknown} workers are not heard from yet; keeping"
                f" {state.mode.value}", pressure,
            )
        if signals.failing <= 0:
            return _hold(
                state, "too_few_workers",
                f"{signals.workers} workers, none failing, fewer than C's quorum of"
                f" {signals.write_quorum_c}: no failure to route around; keeping"
                f" {state.mode.value}", pressure,
            )
        if state.mode is Mode.AVAILABLE:
            return _hold(
                state, "hold", f"C cannot place its quorum ({signals.writable} writable of"
                f" {signals.workers}): staying in A", pressure,
            )
        return _switch(
            state, Mode.AVAILABLE, now, "emergency",
            f"emergency: C needs {signals.write_quorum_c} writable workers,"
            f" {signals.writable} of {signals.workers} are", pressure,
        )
    if state.mode is not Mode.STRONG and pressure <= 1.0:
        return _toward_c(signals, state, now, pressure)
    target = target_mode(state.mode, signals)
    if target is state.mode:
        why = "placeable repair lag holds C; " if (
            state.mode is Mode.STRONG and pressure > 1.0 and _lag_holds_c(signals)) else ""
        return _hold(
            state, "hold", f"{why}C pressure {pressure:.2f} keeps mode {state.mode.value}",
            pressure,
        )
    if signals.unknown > 0 and _weaker(target, state.mode):
        return _hold(
            state, "unknown_workers",
            f"C pressure {pressure:.2f} but {signals.unknown} workers are not heard from yet;"
            f" keeping {state.mode.value}", pressure,
        )
    votes = state.pending_votes + 1 if state.pending_mode is target else 1
    since_change = _since_change(state, now)
    arrow = f"{state.mode.value}->{target.value}"
    if votes >= VOTES and (since_change is None or since_change >= COOLDOWN_S):
        return _switch(
            state, target, now, "threshold",
            f"C pressure {pressure:.2f}: {votes} agreeing evaluations for {arrow}", pressure,
        )
    pending = replace(state, pending_mode=target, pending_votes=votes, pending_since=None)
    if votes < VOTES:
        code, why = "voting", f"vote {votes}/{VOTES} for {arrow}"
    else:
        assert since_change is not None
        code, why = "cooldown", f"cooldown {since_change:.0f}/{COOLDOWN_S:.0f}s before {arrow}"
    return Decision(
        state.mode, state.mode, False, pending, code, f"C pressure {pressure:.2f}: {why}",
        pressure, target,
    )


def _since_change(state: PolicyState, now: float) -> float | None:
    return None if state.last_change_at is None else now - state.last_change_at


def _toward_c(signals: Signals, state: PolicyState, now: float, pressure: float) -> Decision:
    """From A (or Hybrid), C not failing and within its budget: return once it has been
    so for ``RETURN_STABLE_S`` (and ``RETURN_MIN_VOTES`` evaluations), at an evaluation
    on the right side of the return line, after the cooldown."""
    arrow = f"{state.mode.value}->{Mode.STRONG.value}"
    streak = state.pending_mode is Mode.STRONG and state.pending_since is not None
    votes = state.pending_votes + 1 if streak else 1
    since = state.pending_since if streak and state.pending_since is not None else now
    stable_s = now - since
    line = _return_line(signals)
    since_change = _since_change(state, now)
    cooled = since_change is None or since_change >= COOLDOWN_S
    if (pressure <= line and stable_s >= RETURN_STABLE_S and votes >= RETURN_MIN_VOTES
            and cooled):
        return _switch(
            state, Mode.STRONG, now, "threshold",
            f"C pressure {pressure:.2f}: C within its budget for {stable_s:.0f}s"
            f" ({votes} evaluations) for {arrow}", pressure,
        )
    pending = replace(state, pending_mode=Mode.STRONG, pending_votes=votes,
                      pending_since=since)
    if stable_s < RETURN_STABLE_S or votes < RETURN_MIN_VOTES:
        code, why = "voting", (f"C within its budget for {stable_s:.0f}/"
                               f"{RETURN_STABLE_S:.0f}s ({votes} evaluations) for {arrow}")
    elif pressure > line:
        code, why = "voting", f"above the return line {line:.2f} before {arrow}"
    else:
        assert since_change is not None
        code, why = "cooldown", f"cooldown {since_change:.0f}/{COOLDOWN_S:.0f}s before {arrow}"
    return Decision(
        state.mode, state.mode, False, pending, code, f"C pressure {pressure:.2f}: {why}",
        pressure, Mode.STRONG,
    )

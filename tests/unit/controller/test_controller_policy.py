"""The controller's decision, driven with sequences of signals: no I/O, no clock."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from common.quorum import Hint, Mode
from consistency_controller.policy import (
    COOLDOWN_LEAVE_C_S,
    COOLDOWN_S,
    VOTES,
    VOTES_LEAVE_C,
    PolicyState,
    Signals,
    decide,
    score_of,
    target_mode,
)

QUIET = Signals(risk=0.0, lag_s=0.0, write_rate_per_min=0.0, hint=Hint.STRONG)
# 0.4·0.75 + 0.3·1 + 0.2·0.5 + 0.1·0.5 = 0.75: above the C→A threshold, below emergency.
STRESSED = Signals(risk=0.75, lag_s=5.0, write_rate_per_min=50.0, hint=Hint.AUTO)


def run(signals_seq: list[Signals], state: PolicyState, start: float = 1000.0, step: float = 1.0):
    """Feed one evaluation per ``step`` seconds; return (final state, [(t, from, to)])."""
    changes = []
    now = start
    for signals in signals_seq:
        decision = decide(signals, state, now)
        if decision.changed:
            changes.append((now, decision.previous_mode, decision.mode))
        state = decision.state
        now += step
    return state, changes


def test_signals_for_score_builds_the_score_it_promises() -> None:
    for score in (0.0, 0.1, 0.3, 0.5, 0.62, 0.7, 0.8):
        assert abs(score_of(signals_for_score(score), PolicyState(), 0.0) - score) < 1e-9


def test_score_uses_echofs_weights_and_normalisations() -> None:
    state = PolicyState()
    assert score_of(QUIET, state, 0.0) == 0.0
    assert abs(score_of(STRESSED, state, 0.0) - 0.75) < 1e-9
    capped = Signals(risk=2.0, lag_s=1e6, write_rate_per_min=1e6, hint=Hint.AVAILABLE)
    assert abs(score_of(capped, state, 0.0) - 1.0) < 1e-9
    # A fresh change into C lowers the score by up to 0.2 (it makes leaving C again harder).
    recent = PolicyState(mode=Mode.STRONG, last_change_at=0.0)
    assert abs(score_of(STRESSED, recent, 0.0) - 0.55) < 1e-9
    in_a = PolicyState(Mode.AVAILABLE, last_change_at=0.0)
    assert abs(score_of(STRESSED, in_a, 0.0) - 0.75) < 1e-9


def test_hysteresis_band_enters_a_only_above_0_7_and_c_only_below_0_2() -> None:
    assert target_mode(Mode.STRONG, 0.69) is not Mode.AVAILABLE
    assert target_mode(Mode.STRONG, 0.71) is Mode.AVAILABLE
    assert target_mode(Mode.AVAILABLE, 0.21) is not Mode.STRONG
    assert target_mode(Mode.AVAILABLE, 0.19) is Mode.STRONG
    assert target_mode(Mode.HYBRID, 0.5) is Mode.HYBRID
    assert target_mode(Mode.STRONG, 0.35) is Mode.STRONG
    assert target_mode(Mode.AVAILABLE, 0.55) is Mode.AVAILABLE


def test_c_to_a_needs_six_agreeing_votes() -> None:
    state, changes = run([STRESSED] * (VOTES_LEAVE_C - 1), PolicyState())
    assert changes == [] and state.mode is Mode.STRONG
    assert state.pending_mode is Mode.AVAILABLE and state.pending_votes == VOTES_LEAVE_C - 1
    state, changes = run([STRESSED], state, start=2000.0)
    assert [c[1:] for c in changes] == [(Mode.STRONG, Mode.AVAILABLE)]


def test_a_disagreeing_evaluation_resets_the_votes() -> None:
    seq = [STRESSED] * (VOTES_LEAVE_C - 1) + [QUIET] + [STRESSED] * (VOTES_LEAVE_C - 1)
    state, changes = run(seq, PolicyState())
    assert changes == [] and state.mode is Mode.STRONG


def test_a_to_c_needs_three_votes_and_the_cooldown() -> None:
    switched_at = 1000.0
    state = PolicyState(mode=Mode.AVAILABLE, last_change_at=switched_at)
    # Quiet right after the switch: votes accumulate but the 30 s cooldown holds the mode.
    state, changes = run([QUIET] * 10, state, start=switched_at + 1)
    assert changes == [] and state.mode is Mode.AVAILABLE
    state, changes = run([QUIET] * 30, state, start=switched_at + 11)
    assert len(changes) == 1
    assert changes[0][2] is Mode.STRONG and changes[0][0] >= switched_at + COOLDOWN_S


def test_c_to_a_waits_for_its_60s_cooldown() -> None:
    state = PolicyState(mode=Mode.STRONG, last_change_at=1000.0)
    state, changes = run([STRESSED] * 120, state, start=1001.0)
    assert changes and changes[0][0] >= 1000.0 + COOLDOWN_LEAVE_C_S


def test_emergency_switches_to_a_at_once() -> None:
    state = PolicyState(mode=Mode.STRONG, last_change_at=999.0)
    decision = decide(Signals(risk=0.9), state, 1000.0)
    assert decision.changed and decision.mode is Mode.AVAILABLE
    assert decision.reason_code == "emergency"


def test_override_pins_and_critical_beats_override() -> None:
    decision = decide(Signals(override=Mode.AVAILABLE), PolicyState(), 0.0)
    assert decision.mode is Mode.AVAILABLE and decision.reason_code == "override"
    decision = decide(
        Signals(risk=1.0, override=Mode.AVAILABLE, critical=True),
        PolicyState(mode=Mode.AVAILABLE),
        0.0,
    )
    assert decision.mode is Mode.STRONG and decision.reason_code == "critical"


def test_healthy_cluster_stays_in_c() -> None:
    # Even the most write-heavy, Available-hinted object with a lagging queue but no failing
    # workers scores 0.6 at most: never above the 0.7 needed to leave C for A.
    busy = Signals(risk=0.0, lag_s=100.0, write_rate_per_min=1000.0, hint=Hint.AVAILABLE)
    _, changes = run([busy] * 600, PolicyState())
    assert all(to is not Mode.AVAILABLE for _, _, to in changes)


signal_values = st.builds(
    Signals,
    risk=st.floats(0.0, 1.0),
    lag_s=st.floats(0.0, 10.0),
    write_rate_per_min=st.floats(0.0, 500.0),
    hint=st.sampled_from(list(Hint)),
    critical=st.booleans(),
    override=st.sampled_from([None, Mode.STRONG, Mode.AVAILABLE]),
)
modes = st.sampled_from(list(Mode))


@settings(max_examples=200, deadline=None)
@given(st.lists(signal_values, min_size=1, max_size=200), modes)
def test_critical_keys_never_leave_c(seq: list[Signals], start_mode: Mode) -> None:
    state = PolicyState(mode=start_mode)
    now = 0.0
    for signals in seq:
        decision = decide(Signals(**{**signals.__dict__, "critical": True}), state, now)
        assert decision.mode is Mode.STRONG
        state = decision.state
        now += 1.0


def signals_for_score(score: float) -> Signals:
    """Signals (hint Strong, no penalty) whose score is ``score``, never an emergency:
    lag fills the first 0.3, risk (at most 0.8) the next 0.32, write rate the last 0.2."""
    lag_part = min(max(score, 0.0), 0.3)
    risk_part = min(max(score - 0.3, 0.0), 0.32)
    rate_part = min(max(score - 0.62, 0.0), 0.2)
    return Signals(
        risk=risk_part / 0.4,
        lag_s=lag_part / 0.3,
        write_rate_per_min=rate_part / 0.2 * 100,
        hint=Hint.STRONG,
    )


def _noisy_around(threshold: float, noise: float) -> st.SearchStrategy[list[Signals]]:
    """Signals whose score is ``threshold ± noise``, one per evaluation."""
    return st.lists(st.floats(-noise, noise), min_size=50, max_size=400).map(
        lambda offsets: [signals_for_score(threshold + off) for off in offsets]
    )


@settings(max_examples=150, deadline=None)
@given(_noisy_around(0.7, 0.08), modes)
def test_no_flapping_around_the_c_to_a_threshold(seq: list[Signals], start_mode: Mode) -> None:
    _assert_no_flapping(seq, start_mode)


@settings(max_examples=150, deadline=None)
@given(_noisy_around(0.2, 0.08), modes)
def test_no_flapping_around_the_a_to_c_threshold(seq: list[Signals], start_mode: Mode) -> None:
    _assert_no_flapping(seq, start_mode)


def _assert_no_flapping(seq: list[Signals], start_mode: Mode) -> None:
    _, changes = run(seq, PolicyState(mode=start_mode), start=0.0, step=1.0)
    # Every change after the first respects the shortest cooldown...
    for (t1, _, _), (t2, _, _) in pairwise(changes):
        assert t2 - t1 >= COOLDOWN_S
    # ...and there is never a round trip C→…→C or A→…→A inside a minute: leaving C or A
    # and coming back to it, through any number of changes, takes at least 60 s.
    for i, (t1, f1, _) in enumerate(changes):
        if f1 not in (Mode.STRONG, Mode.AVAILABLE):
            continue
        for t2, _, to2 in changes[i + 1:]:
            if to2 is f1:
                assert t2 - t1 >= 60.0, (f1, t1, t2)
                break
    # Changes are rare: at most one per cooldown period of the run.
    assert len(changes) <= 1 + len(seq) / COOLDOWN_S


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0.21, 0.69), min_size=10, max_size=300))
def test_scores_inside_the_band_never_cross_between_c_and_a(scores: list[float]) -> None:
    """Noise that stays strictly between the thresholds never reaches the opposite mode."""
    for start, forbidden in ((Mode.STRONG, Mode.AVAILABLE), (Mode.AVAILABLE, Mode.STRONG)):
        seq = [signals_for_score(s) for s in scores]
        _, changes = run(seq, PolicyState(mode=start), start=0.0)
        assert all(to is not forbidden for _, _, to in changes)


def test_votes_constants_are_the_documented_ones() -> None:
    assert (VOTES, VOTES_LEAVE_C, COOLDOWN_S, COOLDOWN_LEAVE_C_S) == (3, 6, 30.0, 60.0)


policy_states = st.builds(
    PolicyState,
    mode=modes,
    pending_mode=st.sampled_from([None, *Mode]),
    pending_votes=st.integers(0, 10),
    last_change_at=st.one_of(st.none(), st.floats(0.0, 1000.0)),
)


@settings(max_examples=300, deadline=None)
@given(signal_values, policy_states, st.floats(0.8001, 1.0))
def test_emergency_reaches_a_at_once_from_any_state(
    signals: Signals, state: PolicyState, risk: float
) -> None:
    """Whatever the votes and cooldown, risk above 0.8 serves A in the same evaluation,
    unless an operator pinned the mode or the key is critical."""
    urgent = Signals(**{**signals.__dict__, "risk": risk, "critical": False, "override": None})
    decision = decide(urgent, state, 1000.0)
    assert decision.mode is Mode.AVAILABLE and decision.reason_code == "emergency"
    assert decision.state.pending_votes == 0

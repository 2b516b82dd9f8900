"""The controller's decision (v2), driven with sequences of signals: no I/O, no clock.

Signals are built the way the loop builds them (``viability.assess`` over per-worker
snapshots), so "more workers failing" means what it means in the running controller.
"""

from __future__ import annotations

import random
from dataclasses import replace
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from common.quorum import Hint, Mode
from consistency_controller.policy import (
    COOLDOWN_S,
    LAG_HOLD_S,
    MAX_PRESSURE,
    RETURN_FRACTION,
    RETURN_MIN_VOTES,
    RETURN_STABLE_S,
    VOTES,
    PolicyState,
    Signals,
    decide,
    pressure_of,
)
from consistency_controller.viability import MasterView, WorkerSnapshot, assess

BUDGET_S = 1.0
FAST_S = 0.05


def cluster(
    latencies_s: list[float], failing: set[int] = frozenset(), *, unknown: set[int] = frozenset(),
    n: int = 3, lag_s: float = 0.0, budget_s: float = BUDGET_S,
) -> Signals:
    """Signals of workers with these put latencies (as one master reports them), those in
    ``failing`` suspect in that master's probes, those in ``unknown`` not heard from yet."""
    snapshots = [
        WorkerSnapshot(
            f"w{i}", unknown=i in unknown,
            masters=() if i in unknown else (MasterView(
                "m1", "suspect" if i in failing else "healthy", put_latency_s=latency),),
        )
        for i, latency in enumerate(latencies_s)
    ]
    viability = assess(snapshots, n)
    return Signals(
        workers=viability.workers, writable=viability.writable, unknown=viability.unknown,
        replication_factor=n, c_latency_s=viability.c_latency_s, latency_budget_s=budget_s,
        lag_s=lag_s,
    )


HEALTHY = cluster([FAST_S] * 3)
ONE_DOWN = cluster([FAST_S] * 3, {0})
TWO_DOWN = cluster([FAST_S] * 3, {0, 1})
ALL_DOWN = cluster([FAST_S] * 3, {0, 1, 2})
C_SLOW = cluster([FAST_S, 1.5, 1.6])  # two slow but placeable workers: C waits ~1.5 s
C_FINE_AGAIN = cluster([FAST_S, FAST_S, 1.6])


def run(signals_seq: list[Signals], state: PolicyState, start: float = 1000.0, step: float = 1.0):
    """Feed one evaluation per ``step`` seconds; return (final state, [(t, from, to, code)])."""
    changes = []
    now = start
    for signals in signals_seq:
        decision = decide(signals, state, now)
        if decision.changed:
            changes.append((now, decision.previous_mode, decision.mode, decision.reason_code))
        state = decision.state
        now += step
    return state, changes


# --- what C can and cannot do ------------------------------------------------------------


def test_c_fails_when_fewer_workers_are_writable_than_its_quorum() -> None:
    assert not HEALTHY.c_fails and not ONE_DOWN.c_fails
    assert TWO_DOWN.c_fails and TWO_DOWN.writable == 1
    assert pressure_of(TWO_DOWN) == MAX_PRESSURE
    assert (HEALTHY.risk, ONE_DOWN.risk, TWO_DOWN.risk) == (0.0, 0.5, 1.0)


def test_one_failing_worker_keeps_c_whatever_the_backlog_it_causes() -> None:
    """Issue 23: with one slow worker the third copy cannot be placed and the repair queue
    ages; that lag must not weaken writes (C still writes at full speed)."""
    lagging = replace(ONE_DOWN, lag_s=120.0)
    assert not lagging.lag_placeable
    _, changes = run([lagging] * 600, PolicyState())
    assert changes == []


def test_c_failing_switches_to_a_at_once_and_only_with_a_writable_worker() -> None:
    decision = decide(TWO_DOWN, PolicyState(last_change_at=999.0), 1000.0)
    assert decision.changed and decision.mode is Mode.AVAILABLE
    assert decision.reason_code == "emergency" and decision.score == MAX_PRESSURE


def test_no_writable_worker_holds_the_mode_it_has() -> None:
    """The restart of issue 23: every worker failing because none had re-registered.
    No mode helps a write then; switching to A only weakened the writes after it."""
    for mode in Mode:
        _, changes = run([ALL_DOWN] * 100, PolicyState(mode=mode))
        assert changes == []
        assert decide(ALL_DOWN, PolicyState(mode=mode), 0.0).reason_code == "no_writable"


def test_workers_not_heard_from_yet_block_any_weakening() -> None:
    """Workers coming back one by one after a restart: one answering, two not yet."""
    one_back = cluster([FAST_S] * 3, unknown={1, 2})
    assert one_back.c_fails and one_back.unknown == 2
    _, changes = run([one_back] * 100, PolicyState())
    assert changes == []
    slow_and_unknown = cluster([FAST_S, 1.5, 1.6, 1.7], unknown={3})
    _, changes = run([slow_and_unknown] * 100, PolicyState())
    assert changes == []
    # ...but they never keep the cluster out of C.
    _, changes = run([cluster([FAST_S] * 3, unknown={2})] * 100, PolicyState(Mode.AVAILABLE))
    assert [c[2] for c in changes] == [Mode.STRONG]


def test_slow_c_leaves_after_votes_and_returns_below_the_return_fraction() -> None:
    state, changes = run([C_SLOW] * (VOTES - 1), PolicyState())
    assert changes == [] and state.pending_mode is Mode.AVAILABLE
    state, changes = run([C_SLOW], state, start=2000.0)
    assert [c[1:] for c in changes] == [(Mode.STRONG, Mode.AVAILABLE, "threshold")]
    # Back when the W_C-th fastest worker is fast again, after the cooldown.
    state, changes = run([C_FINE_AGAIN] * 60, state, start=2001.0)
    assert [c[2] for c in changes] == [Mode.STRONG]
    assert changes[0][0] >= 2000.0 + COOLDOWN_S


def test_latency_between_the_return_fraction_and_the_budget_changes_nothing() -> None:
    for latency in (RETURN_FRACTION * BUDGET_S + 0.01, 0.85, BUDGET_S):
        middling = cluster([FAST_S, latency, latency])
        for mode in (Mode.STRONG, Mode.AVAILABLE):
            _, changes = run([middling] * 200, PolicyState(mode=mode))
            assert changes == [], (latency, mode)


def test_placeable_lag_holds_c_but_never_against_an_emergency() -> None:
    behind = replace(C_SLOW, lag_s=LAG_HOLD_S + 1)
    assert behind.lag_placeable
    _, changes = run([behind] * 200, PolicyState())
    assert changes == []
    decision = decide(replace(TWO_DOWN, lag_s=100.0), PolicyState(), 0.0)
    assert decision.mode is Mode.AVAILABLE and decision.reason_code == "emergency"
    # In A, a placeable backlog lets C back as soon as it meets the budget at all.
    back = replace(cluster([FAST_S, 0.9, 0.95]), lag_s=LAG_HOLD_S + 1)
    _, changes = run([back] * 60, PolicyState(Mode.AVAILABLE, last_change_at=0.0))
    assert [c[2] for c in changes] == [Mode.STRONG]


def test_critical_override_and_strong_hints_take_precedence() -> None:
    decision = decide(replace(TWO_DOWN, override=Mode.AVAILABLE, critical=True),
                      PolicyState(mode=Mode.AVAILABLE), 0.0)
    assert decision.mode is Mode.STRONG and decision.reason_code == "critical"
    decision = decide(replace(HEALTHY, override=Mode.AVAILABLE), PolicyState(), 0.0)
    assert decision.mode is Mode.AVAILABLE and decision.reason_code == "override"
    decision = decide(replace(TWO_DOWN, hint=Hint.STRONG), PolicyState(Mode.AVAILABLE), 0.0)
    assert decision.mode is Mode.STRONG and decision.reason_code == "hint"


def test_constants_are_the_documented_ones() -> None:
    assert (VOTES, RETURN_STABLE_S, RETURN_MIN_VOTES, COOLDOWN_S, RETURN_FRACTION,
            LAG_HOLD_S) == (3, 8.0, 3, 20.0, 0.7, 5.0)


def test_a_return_to_c_waits_for_c_able_to_write_for_the_stable_time() -> None:
    """C failing every few seconds (a worker's probes timing out under load): the return
    needs C viable for ``RETURN_STABLE_S`` in a row, so a flicker keeps A instead of
    flipping."""
    state = PolicyState(Mode.AVAILABLE, last_change_at=0.0)
    steps = int(RETURN_STABLE_S)  # one evaluation a second: just short of the stable time
    flicker = ([HEALTHY] * steps + [TWO_DOWN]) * 10
    _, changes = run(flicker, state, start=100.0)
    assert changes == []
    _, changes = run([HEALTHY] * (steps + 1), state, start=100.0)
    assert [(c[0], c[2]) for c in changes] == [(100.0 + RETURN_STABLE_S, Mode.STRONG)]


def test_the_stable_time_is_time_not_a_count_of_evaluations() -> None:
    """Under load the controller evaluates every 2-3 s: the return comes after the same
    seconds, not after more of them; and never on fewer than three evaluations (a
    controller that stalled for a while has seen C twice, not for eight seconds)."""
    state = PolicyState(Mode.AVAILABLE, last_change_at=0.0)
    _, changes = run([HEALTHY] * 10, state, start=100.0, step=2.5)
    assert [c[0] for c in changes] == [110.0]  # the first evaluation >= 8 s after 100
    _, changes = run([HEALTHY] * 3, state, start=100.0, step=30.0)
    assert [c[0] for c in changes] == [160.0]  # the third evaluation


def test_a_latency_short_of_the_budget_delays_a_return_but_over_it_restarts_it() -> None:
    state = PolicyState(Mode.AVAILABLE, last_change_at=0.0)
    middling = cluster([FAST_S, 0.85, 0.9])  # within the budget, above the return line
    over = cluster([FAST_S, 1.2, 1.3])
    seq = [HEALTHY] * 3 + [middling] * 10 + [HEALTHY]
    _, changes = run(seq, state, start=100.0)
    assert [c[0] for c in changes] == [113.0]  # the first reading back under the line
    seq = [HEALTHY] * 7 + [over] + [HEALTHY] * 10
    _, changes = run(seq, state, start=100.0)
    assert [c[0] for c in changes] == [108.0 + RETURN_STABLE_S]


# --- properties ---------------------------------------------------------------------------

modes = st.sampled_from(list(Mode))


def _assert_never_flaps(changes: list[tuple[float, Mode, Mode, str]]) -> None:
    """Changes at least a cooldown apart, so no reversal within one either; only an
    emergency (C cannot place its quorum) may follow sooner, and never out of A."""
    for (t1, _, _, _), (t2, _, to2, code2) in pairwise(changes):
        if t2 - t1 < COOLDOWN_S:
            assert code2 == "emergency" and to2 is Mode.AVAILABLE, changes


@st.composite
def noisy_latency_runs(draw: st.DrawFn) -> list[Signals]:
    """Latencies wobbling around the budget and the return line, one or none of three
    workers failing now and then, lag noise: C never fails, so no emergency."""
    seed = draw(st.integers(0, 2**32 - 1))
    length = draw(st.integers(50, 400))
    centre = draw(st.sampled_from([BUDGET_S, RETURN_FRACTION * BUDGET_S]))
    noise = draw(st.floats(0.01, 0.6))
    rng = random.Random(seed)
    seq = []
    for _ in range(length):
        latencies = [max(0.0, centre + rng.uniform(-noise, noise)) for _ in range(3)]
        failing = {0} if rng.random() < 0.2 else set()
        seq.append(cluster(latencies, failing, lag_s=rng.uniform(0.0, 2 * LAG_HOLD_S)))
    return seq


@settings(max_examples=200, deadline=None)
@given(noisy_latency_runs(), modes)
def test_noisy_latency_never_flaps(seq: list[Signals], start_mode: Mode) -> None:
    _, changes = run(seq, PolicyState(mode=start_mode), start=0.0)
    assert all(code != "emergency" for *_, code in changes)
    _assert_never_flaps(changes)
    assert len(changes) <= 1 + len(seq) / COOLDOWN_S


@st.composite
def flickering_runs(draw: st.DrawFn) -> list[Signals]:
    """Anything at all: workers failing and recovering every few seconds (C failing some
    of the time), latencies anywhere, unknown workers now and then."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    n_workers = draw(st.integers(3, 5))
    seq = []
    for _ in range(draw(st.integers(50, 300))):
        latencies = [rng.choice([FAST_S, 0.8, 1.5]) for _ in range(n_workers)]
        failing = {i for i in range(n_workers) if rng.random() < 0.3}
        unknown = {0} if rng.random() < 0.05 else set()
        seq.append(cluster(latencies, failing, unknown=unknown, lag_s=rng.uniform(0, 10)))
    return seq


@settings(max_examples=200, deadline=None)
@given(flickering_runs(), modes)
def test_flickering_failures_never_flap(seq: list[Signals], start_mode: Mode) -> None:
    _, changes = run(seq, PolicyState(mode=start_mode), start=0.0)
    _assert_never_flaps(changes)


WEAKNESS = {Mode.STRONG: 0, Mode.HYBRID: 1, Mode.AVAILABLE: 1}


def _settled_mode(signals: Signals, start: Mode) -> Mode:
    state, _ = run([signals] * 120, PolicyState(mode=start), start=0.0)
    return state.mode


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([FAST_S, 0.3, 0.75, 0.9, 1.2, 3.0]), min_size=3, max_size=6),
    st.data(),
    modes,
)
def test_the_decision_is_monotone_in_risk(
    latencies: list[float], data: st.DataObject, start: Mode
) -> None:
    """More workers failing (a superset), everything else equal: the pressure never falls,
    and the mode the policy settles in is never stronger — as long as one worker can
    still be written (with none, the mode is held, whatever it was)."""
    indices = list(range(len(latencies)))
    fewer = set(data.draw(st.lists(st.sampled_from(indices), unique=True)))
    more = fewer | set(data.draw(st.lists(st.sampled_from(indices), unique=True)))
    low, high = cluster(latencies, fewer), cluster(latencies, more)
    assert high.risk >= low.risk
    if high.writable == 0:
        assert _settled_mode(high, start) is start
        return
    assert pressure_of(high) >= pressure_of(low)
    assert WEAKNESS[_settled_mode(high, start)] >= WEAKNESS[_settled_mode(low, start)]


signal_values = st.builds(
    Signals,
    workers=st.integers(0, 6),
    writable=st.integers(0, 6),
    unknown=st.integers(0, 2),
    c_latency_s=st.one_of(st.none(), st.floats(0.0, 5.0)),
    lag_s=st.floats(0.0, 100.0),
    hint=st.sampled_from(list(Hint)),
    critical=st.booleans(),
    override=st.sampled_from([None, Mode.STRONG, Mode.AVAILABLE]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(signal_values, min_size=1, max_size=200), modes)
def test_critical_keys_never_leave_c(seq: list[Signals], start_mode: Mode) -> None:
    state = PolicyState(mode=start_mode)
    now = 0.0
    for signals in seq:
        decision = decide(replace(signals, critical=True), state, now)
        assert decision.mode is Mode.STRONG
        state = decision.state
        now += 1.0


policy_states = st.builds(
    PolicyState,
    mode=modes,
    pending_mode=st.sampled_from([None, *Mode]),
    pending_votes=st.integers(0, 10),
    last_change_at=st.one_of(st.none(), st.floats(0.0, 1000.0)),
)


@settings(max_examples=300, deadline=None)
@given(policy_states, st.integers(3, 7), st.data())
def test_c_failing_reaches_a_at_once_from_any_state(
    state: PolicyState, n_workers: int, data: st.DataObject
) -> None:
    """Whatever the votes and cooldown, C unable to place its quorum (with a writable
    worker and every worker heard from) serves A in the same evaluation."""
    writable = data.draw(st.integers(1, 1))  # N = 3: W_C = 2, so exactly one writable
    failing = set(range(writable, n_workers))
    urgent = cluster([FAST_S] * n_workers, failing)
    decision = decide(urgent, state, 1000.0)
    assert decision.mode is Mode.AVAILABLE
    assert decision.reason_code in ("emergency", "hold")
    assert decision.state.pending_votes == 0


def test_a_cluster_smaller_than_the_quorum_with_no_failure_keeps_its_mode() -> None:
    """A new cluster's workers register one by one (or a one-worker dev cluster): C cannot
    place two copies, but no failure happened that A would route around."""
    registering = cluster([FAST_S])
    assert registering.c_fails and registering.failing == 0
    _, changes = run([registering] * 100, PolicyState())
    assert changes == []
    assert decide(registering, PolicyState(), 0.0).reason_code == "too_few_workers"
    # Once a listed worker fails, it is an emergency like any other.
    decision = decide(cluster([FAST_S, FAST_S], {1}), PolicyState(), 0.0)
    assert decision.reason_code == "emergency" and decision.mode is Mode.AVAILABLE

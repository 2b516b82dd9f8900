"""The decision replayed on signals recorded by the experiment (``recorded_runs.json``):
every evaluation's cluster signals of three auto runs of 2026-12-06, as the controller
saw them (two under the first return rule of v2, one under this one). A replay cannot
say what the cluster would have done after a different decision, but the signals of
recovered and healed did not depend on it (the workers came back on the experiment's
schedule), so it does say when the policy lets C back, and whether it would have
reversed a return where C flickered.

The first rule of v2 (ten evaluations in a row) returned 14.3 s after C could write
again in recovered and 46.5 s in healed (evaluations 1.5-3 s apart under load, and one
reading over the budget at vote 9 restarting the count); its paired run, with three
votes, returned at t=117.9 and was reversed by an emergency at t=122.6.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from common.quorum import Mode
from consistency_controller.policy import (
    COOLDOWN_S,
    RETURN_STABLE_S,
    PolicyState,
    Signals,
    decide,
)

RUNS = json.loads((Path(__file__).parent / "recorded_runs.json").read_text())["runs"]
# One evaluation may come up to ~3 s after the stable time is reached on this machine.
SLACK_S = 3.0

Change = tuple[float, Mode, Mode, str]


def _signals(row: list) -> Signals:
    _, workers, writable, unknown, c_latency_ms, lag_s, *_ = row
    return Signals(
        workers=workers, writable=writable, unknown=unknown,
        c_latency_s=None if c_latency_ms is None else c_latency_ms / 1000.0, lag_s=lag_s,
    )


def _replay(run: str) -> list[Change]:
    state, changes = PolicyState(), []
    for row in RUNS[run]["evaluations"]:
        decision = decide(_signals(row), state, 1_000.0 + row[0])
        if decision.changed:
            changes.append((row[0], decision.previous_mode, decision.mode,
                            decision.reason_code))
        state = decision.state
    return changes


def _c_viable_from(run: str, after_s: float) -> float:
    """The first evaluation after ``after_s`` from which C could write within its budget
    (quorum placeable, latency measured under the budget) for the rest of the streak."""
    for row in RUNS[run]["evaluations"]:
        signals = _signals(row)
        if row[0] > after_s and not signals.c_fails and (signals.c_latency_s or 0) <= 1.0:
            return float(row[0])
    raise AssertionError(f"C never viable after {after_s} in {run}")


def _assert_never_flaps(changes: list[Change]) -> None:
    for (t1, *_), (t2, _, to2, code2) in pairwise(changes):
        assert t2 - t1 >= COOLDOWN_S or (code2 == "emergency" and to2 is Mode.AVAILABLE)
    for (t1, from1, _, _), (t2, _, to2, _) in pairwise(changes):
        assert not (t2 - t1 < COOLDOWN_S and to2 is from1), f"reversal at {t2}: {changes}"


def test_after_recovered_and_healed_c_returns_within_the_stable_time() -> None:
    changes = _replay("sequential_0900")
    _assert_never_flaps(changes)
    # Emergencies exactly where the controller made them (two_slow, master_partition).
    recorded = [(row[0], row[7]) for row in RUNS["sequential_0900"]["evaluations"]
                if row[7] == "emergency"]
    assert [(t, code) for t, _, _, code in changes if code == "emergency"] == recorded
    returns = [t for t, _, to, _ in changes if to is Mode.STRONG]
    emergencies = [t for t, *_ in changes if t in dict(recorded)]
    assert len(returns) == 2
    for emergency_at, returned_at, was_at in zip(emergencies, returns, (125.37, 312.95),
                                                 strict=True):
        viable_at = _c_viable_from("sequential_0900", emergency_at)
        assert viable_at + RETURN_STABLE_S <= returned_at <= viable_at + RETURN_STABLE_S + SLACK_S
        assert returned_at < was_at


def test_the_paired_runs_flicker_after_recovery_is_not_reversed() -> None:
    changes = _replay("paired_0849")
    _assert_never_flaps(changes)
    # The flicker the 3-vote rule returned into (C failing again at t=122.6) keeps A.
    assert not any(115.0 <= t <= 125.0 and to is Mode.STRONG for t, _, to, _ in changes)
    assert [to for _, _, to, _ in changes] == [Mode.AVAILABLE, Mode.STRONG]


@pytest.mark.parametrize("run", sorted(RUNS))
def test_the_replay_leaves_c_only_where_c_could_not_place_its_quorum(run: str) -> None:
    """Both runs left C only by emergencies; a replay that left it for latency in a
    phase where C was placeable would be the one_slow flaw of issue 23 again."""
    for t, _, to, code in _replay(run):
        if to is Mode.AVAILABLE:
            assert code == "emergency", t


def test_the_replay_reproduces_a_run_made_with_this_policy() -> None:
    """The rerun of 10:10 ran this policy: replaying its recorded signals gives exactly
    the changes the controller made (so the replays above are of the decision, nothing
    else), and its returns came 8 s after C could write again."""
    evaluations = RUNS["rerun_1010"]["evaluations"]
    recorded = [(row[0], row[7]) for prev, row in pairwise(evaluations) if row[6] != prev[6]]
    replayed = [(t, code) for t, _, _, code in _replay("rerun_1010")]
    assert replayed == recorded and len(recorded) == 4
    for (emergency_at, _), (returned_at, code) in zip(recorded[::2], recorded[1::2],
                                                      strict=True):
        assert code == "threshold"
        viable_at = _c_viable_from("rerun_1010", emergency_at)
        assert viable_at + RETURN_STABLE_S <= returned_at <= viable_at + RETURN_STABLE_S + SLACK_S

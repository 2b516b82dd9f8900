"""The durability model: failure ledger and loss probability arithmetic (pure)."""

from __future__ import annotations

import math
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from common.quorum import Mode
from consistency_controller.durability import (
    DurabilityInputs,
    FailureLedger,
    WorkerState,
    estimate,
    loss_probability,
    poisson_upper_rate,
)

UP, DOWN, SUSPECT = WorkerState(True), WorkerState(False, down=True), WorkerState(False)


def test_ledger_counts_onsets_exposure_and_time_to_detect() -> None:
    ledger = FailureLedger()
    for t in range(11):  # two workers writable for 10 s
        ledger.observe(float(t), {"a": UP, "b": UP})
    assert ledger.onsets == 0 and ledger.exposure_s == 20.0
    ledger.observe(11.0, {"a": SUSPECT, "b": UP})  # a fails: one onset
    ledger.observe(12.0, {"a": SUSPECT, "b": UP})
    ledger.observe(17.0, {"a": DOWN, "b": UP})  # the masters declare it down 6 s later
    assert ledger.onsets == 1 and ledger.detections == 1 and ledger.detect_ewma_s == 6.0
    # a's time while failing is not exposure; b's is.
    assert ledger.exposure_s == 20.0 + 1.0 + 1.0 + 1.0 + 5.0
    # A worker not known yet (start-up) is neither exposure nor an onset.
    ledger.observe(18.0, {"a": DOWN, "b": UP, "c": WorkerState(False, known=False)})
    assert ledger.onsets == 1


def test_only_failures_lasting_the_repair_grace_count() -> None:
    """A flapping worker loses nothing; one unwritable for the grace is treated as gone
    (the cluster re-replicates its chunks), counted once, when it qualifies."""
    ledger = FailureLedger(permanent_after_s=5.0)
    t = 0.0
    for _ in range(5):  # down 3 s, up 3 s: never long enough
        for state in (UP, SUSPECT, SUSPECT, SUSPECT, UP, UP):
            ledger.observe(t, {"a": state})
            t += 1.0
    assert ledger.onsets == 0
    for _ in range(10):
        ledger.observe(t, {"a": SUSPECT if t < 1000 else UP})
        t += 1.0
    assert ledger.onsets == 1


def test_ledger_forgets_what_left_the_window() -> None:
    ledger = FailureLedger(window_s=10.0)
    ledger.observe(0.0, {"a": UP})
    ledger.observe(1.0, {"a": SUSPECT})
    ledger.observe(2.0, {"a": UP})
    assert ledger.onsets == 1
    for t in range(3, 20):
        ledger.observe(float(t), {"a": UP})
    assert ledger.onsets == 0 and ledger.exposure_s == 10.0


def test_poisson_upper_bound_is_the_rule_of_three_at_zero() -> None:
    assert abs(poisson_upper_rate(0, 1.0) - 3.0) < 0.05
    assert poisson_upper_rate(10, 1.0) > 10.0
    assert math.isinf(poisson_upper_rate(0, 0.0))


INPUTS = DurabilityInputs(
    replication_factor=3, failures=2, exposure_worker_s=3600.0, settle_s=0.5,
    repair_share=0.1, repair_window_s=20.0, detect_s=36.0, writable=3,
)


def test_loss_probability_by_hand() -> None:
    rate = 2 / 3600
    p1_a = -math.expm1(-rate * 0.5)
    p2 = (-math.expm1(-rate * 56.0)) ** 2  # waits with N-1 = 2 copies
    expected_a = 1 - (1 - p1_a) * (1 - 0.1 * p2)
    assert abs(loss_probability(INPUTS, 1, rate) - expected_a) < 1e-15
    expected_c = 1 - (1 - p1_a**2) * (1 - 0.1 * p2)
    assert abs(loss_probability(INPUTS, 2, rate) - expected_c) < 1e-15
    assert loss_probability(INPUTS, 3, rate) == 0.0
    assert loss_probability(replace(INPUTS, failures=0), 1, 0.0) == 0.0


def test_estimate_gives_each_mode_its_synchronous_copies_and_an_upper_bound() -> None:
    result = estimate(INPUTS)
    k_c, p_c, up_c = result.per_mode[Mode.STRONG]
    k_a, p_a, up_a = result.per_mode[Mode.AVAILABLE]
    assert (k_c, k_a) == (2, 1)
    assert 0 < p_c < p_a < 1 and up_c >= p_c and up_a >= p_a
    body = result.as_json()
    assert set(body["per_mode"]) == {"C", "A"}
    assert body["inputs"]["failure_rate_per_worker_hour"] == 2.0


fractions = st.floats(0.0, 1.0)
windows = st.floats(0.0, 1000.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 0.01), st.floats(0.0, 0.01), windows, windows, fractions,
       st.integers(1, 3), st.integers(1, 5))
def test_loss_grows_with_failures_and_windows_and_falls_with_copies(
    rate: float, more: float, settle: float, repair: float, share: float, k: int, writable: int
) -> None:
    inputs = replace(INPUTS, settle_s=settle, repair_window_s=repair, repair_share=share,
                     writable=writable)
    p = loss_probability(inputs, k, rate)
    assert 0.0 <= p <= 1.0
    assert loss_probability(inputs, k, rate + more) >= p - 1e-15
    assert loss_probability(replace(inputs, settle_s=settle + 1), k, rate) >= p - 1e-15
    assert loss_probability(replace(inputs, repair_window_s=repair + 1), k, rate) >= p - 1e-15
    assert loss_probability(inputs, k + 1, rate) <= p + 1e-15

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from common.quorum import Hint, Mode, effective_mode, write_quorum

n_values = st.integers(min_value=1, max_value=9)


@given(n_values)
def test_strong_quorum_is_a_majority_so_two_write_sets_always_overlap(n: int) -> None:
    w = write_quorum(Mode.STRONG, n)
    assert w == n // 2 + 1
    assert 2 * w > n


@given(n_values)
def test_available_mode_acknowledges_after_one_copy(n: int) -> None:
    assert write_quorum(Mode.AVAILABLE, n) == 1


@given(n_values, st.sampled_from(list(Hint)))
def test_hybrid_is_strong_only_when_hinted_strong(n: int, hint: Hint) -> None:
    expected = Mode.STRONG if hint is Hint.STRONG else Mode.AVAILABLE
    assert effective_mode(Mode.HYBRID, hint) is expected
    assert write_quorum(Mode.HYBRID, n, hint) == write_quorum(expected, n)


@given(st.sampled_from(list(Mode)), st.sampled_from(list(Hint)))
def test_critical_keys_are_always_strong(mode: Mode, hint: Hint) -> None:
    assert effective_mode(mode, hint, critical=True) is Mode.STRONG


@given(st.sampled_from(list(Mode)))
def test_a_strong_hint_is_never_weakened(mode: Mode) -> None:
    assert effective_mode(mode, Hint.STRONG) is Mode.STRONG


def test_an_available_hint_does_not_weaken_a_strong_decision() -> None:
    assert effective_mode(Mode.STRONG, Hint.AVAILABLE) is Mode.STRONG
    assert effective_mode(Mode.AVAILABLE, Hint.AVAILABLE) is Mode.AVAILABLE

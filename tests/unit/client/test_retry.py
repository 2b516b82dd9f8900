"""Retries only where safe: idempotent requests, 503 and connection errors, 429 with
Retry-After."""

from __future__ import annotations

from client.retry import Outcome, RetryPolicy

POLICY = RetryPolicy(attempts=4, base_delay_s=1.0, max_delay_s=8.0, jitter=lambda: 1.0)


def test_nothing_sent_is_retried_whatever_the_method() -> None:
    assert POLICY.delay_s(1, idempotent=False, outcome=Outcome.NOT_SENT) == 1.0


def test_a_lost_answer_is_retried_only_for_idempotent_requests() -> None:
    assert POLICY.delay_s(1, idempotent=True, outcome=Outcome.NO_ANSWER) == 1.0
    assert POLICY.delay_s(1, idempotent=False, outcome=Outcome.NO_ANSWER) is None


def test_503_is_retried_only_for_idempotent_requests_on_the_next_master() -> None:
    assert POLICY.delay_s(2, idempotent=True, outcome=Outcome.ANSWERED, status=503) == 2.0
    assert POLICY.delay_s(2, idempotent=False, outcome=Outcome.ANSWERED, status=503) is None
    assert POLICY.switches_master(Outcome.ANSWERED, 503)
    assert not POLICY.switches_master(Outcome.ANSWERED, 429)


def test_429_waits_what_retry_after_says_unless_that_is_too_long() -> None:
    assert POLICY.delay_s(1, idempotent=False, outcome=Outcome.ANSWERED, status=429,
                          retry_after="3") == 3.0
    assert POLICY.delay_s(1, idempotent=False, outcome=Outcome.ANSWERED, status=429,
                          retry_after="600") is None
    assert POLICY.delay_s(1, idempotent=True, outcome=Outcome.ANSWERED, status=429) is None


def test_other_answers_are_final_and_tries_are_capped() -> None:
    for status in (400, 401, 404, 409, 500):
        assert POLICY.delay_s(1, idempotent=True, outcome=Outcome.ANSWERED,
                              status=status) is None
    assert POLICY.delay_s(4, idempotent=True, outcome=Outcome.NOT_SENT) is None


def test_backoff_grows_and_is_capped() -> None:
    assert [POLICY.backoff_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert RetryPolicy(jitter=lambda: 0.5).backoff_s(1) == 0.125


def test_a_gateways_502_or_504_is_retried_like_503_but_a_masters_502_is_final() -> None:
    for status in (502, 504):
        assert POLICY.delay_s(1, idempotent=True, outcome=Outcome.ANSWERED, status=status,
                              gateway=True) == 1.0
        assert POLICY.delay_s(1, idempotent=False, outcome=Outcome.ANSWERED, status=status,
                              gateway=True) is None
        assert POLICY.switches_master(Outcome.ANSWERED, status, gateway=True)
    assert POLICY.delay_s(1, idempotent=True, outcome=Outcome.ANSWERED, status=502) is None
    assert not POLICY.switches_master(Outcome.ANSWERED, 502)

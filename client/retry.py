"""When to try a request again, and how long to wait first — pure, so it is unit-tested.

Rules (the send loops of both clients follow them):

- **Not sent** (connection refused, DNS, connect timeout): nothing reached a server, so
  any request is retried, on the next master URL.
- **Sent, no answer** (reset, read timeout): only idempotent requests (``ApiRequest.
  idempotent``) are retried — a repeated ``complete`` or ``login`` is not harmless.
- **503** (``unavailable``, ``quorum_not_reached``, ``dependency_down``): idempotent
  requests only, on the next master, with backoff. A **502 or 504 from a gateway** (a
  load balancer in front of the masters, answering without EchoFS's JSON envelope: the
  master behind it is down or slow) counts the same; a 502 with EchoFS's envelope
  (``chunk_corrupt``) is the master's final word.
- **429**: the server refused before doing anything, so any request is retried after
  ``Retry-After`` — when it sends one within ``max_delay_s``. A longer lockout is the
  caller's to see (``RateLimited.retry_after_s``), not a hang; a 429 without it (too
  many open upload sessions) does not clear by waiting, so it is final too.
- Everything else is final.

Backoff is exponential with full jitter, capped, for at most ``attempts`` tries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["GATEWAY_STATUSES", "Outcome", "RetryPolicy"]

# Statuses a gateway answers with when the master behind it is down (502) or slow (504).
GATEWAY_STATUSES = frozenset({502, 504})


class Outcome(Enum):
    NOT_SENT = "not_sent"          # connect failed: the server saw nothing
    NO_ANSWER = "no_answer"        # sent, then the connection broke or timed out
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.25
    max_delay_s: float = 15.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def backoff_s(self, attempt: int) -> float:
        """Delay before try ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return ceiling * self.jitter()

    def delay_s(
        self, attempt: int, *, idempotent: bool, outcome: Outcome,
        status: int | None = None, retry_after: str | None = None, gateway: bool = False,
    ) -> float | None:
        """Seconds to wait before trying again, or None: this result is final.
        ``gateway``: the answer came from an intermediary, not from a master."""
        if attempt >= self.attempts:
            return None
        if outcome is Outcome.NOT_SENT:
            return self.backoff_s(attempt)
        if outcome is Outcome.NO_ANSWER:
            return self.backoff_s(attempt) if idempotent else None
        if status == 503 or (gateway and status in GATEWAY_STATUSES):
            return self.backoff_s(attempt) if idempotent else None
        if status == 429:
            wait = _seconds(retry_after)
            return float(wait) if wait is not None and wait <= self.max_delay_s else None
        return None

    @staticmethod
    def switches_master(outcome: Outcome, status: int | None, gateway: bool = False) -> bool:
        """Whether the next try should go to the next master URL."""
        return (outcome is not Outcome.ANSWERED or status == 503
                or (gateway and status in GATEWAY_STATUSES))


def _seconds(retry_after: str | None) -> int | None:
    if retry_after is None:
        return None
    text = retry_after.strip()
    return int(text) if text.isdigit() else None

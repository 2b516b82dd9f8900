"""One runner for every background loop: ``run_once`` + interval + backoff, never dies.

Every service's background work (repair, GC, probes, scrubbing, heartbeats, the
controller's evaluation) is a ``step`` called again and again. The policy is the same
everywhere, so no loop can end for good on a surprise:

- a step that returns normally is followed by a pause of ``interval_s`` (or what
  ``delay_after`` says for its result: repair drains back to back while it has work);
- a step that raises is logged — an *expected* failure (``EchoError`` and whatever the
  loop names, e.g. an unreachable master) as one warning line, anything else with its
  traceback — counted through ``on_failure(name)``, and retried after a backoff that
  doubles from ``interval_s`` up to ``max_backoff_s``;
- cancellation always propagates: the owner stops the loop by cancelling its task.

*Model:* Swift's ``common/daemon.py`` (``run_once`` / ``run_forever``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from common.errors import EchoError

__all__ = ["run_loop"]

log = logging.getLogger(__name__)


async def run_loop(
    step: Callable[[], Awaitable[Any]],
    *,
    name: str,
    interval_s: float,
    max_backoff_s: float = 30.0,
    on_failure: Callable[[str], None] | None = None,
    delay_after: Callable[[Any], float] | None = None,
    expected: tuple[type[BaseException], ...] = (),
    fixed_rate: bool = False,
) -> NoReturn:
    """Run ``step`` forever under the policy above. Only cancellation ends it.

    ``fixed_rate`` subtracts the step's own duration from the pause (the controller's
    evaluation keeps its period); otherwise the pause follows the step.
    """
    quiet: tuple[type[BaseException], ...] = (EchoError, *expected)
    failures = 0
    while True:
        started = time.monotonic()
        try:
            result = await step()
        except asyncio.CancelledError:
            raise
        except quiet as exc:
            failures += 1
            log.warning("%s failed: %s", name, exc, extra={"loop": name})
        except Exception:
            failures += 1
            log.exception("%s failed unexpectedly; the loop goes on", name, extra={"loop": name})
        else:
            failures = 0
            pause_s = delay_after(result) if delay_after is not None else interval_s
        if failures:
            if on_failure is not None:
                on_failure(name)
            cap_s = max(max_backoff_s, interval_s)
            pause_s = min(cap_s, interval_s * 2 ** min(failures - 1, 16))
        if fixed_rate:
            pause_s = max(0.05, pause_s - (time.monotonic() - started))
        await asyncio.sleep(pause_s)

"""Live page parts over Server-Sent Events: a fragment re-rendered every interval and
sent when it changed (``static/app.js`` swaps it into the element that asked).

A stream ends at master shutdown (``CLOSING``), when the client leaves, or after
``MAX_STREAM_S`` (the browser's EventSource reconnects on its own), so no stream pins
a master forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from common.errors import EchoError
from master.ui.context import CLOSING

__all__ = ["MAX_STREAM_S", "stream_fragments"]

log = logging.getLogger(__name__)

MAX_STREAM_S = 600.0


def _event(html: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: fragment\n{lines}\n".encode()


async def stream_fragments(
    request: web.Request, render: Callable[[], Awaitable[str]], interval_s: float = 1.0
) -> web.StreamResponse:
    """Render first (so a refusal is an ordinary error page), then stream changes;
    ``?once=1`` sends the first fragment and ends (what a script or a probe wants)."""
    first = await render()
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    if request.method == "HEAD":  # the headers say it all; no stream to hold open
        return response
    closing = request.app[CLOSING]
    sent, started = first, time.monotonic()
    await response.write(_event(first))
    if request.query.get("once") == "1":  # one fragment, then close (scripts, probes)
        return response
    while not closing.is_set() and time.monotonic() - started < MAX_STREAM_S:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), interval_s)
        if closing.is_set():
            break
        try:
            html = await render()
        except EchoError as exc:  # e.g. the controller unreachable for a moment
            log.info("live fragment failed: %s", exc.code)
            continue
        if html != sent:
            try:
                await response.write(_event(html))
            except (ConnectionResetError, RuntimeError):
                break
            sent = html
    return response

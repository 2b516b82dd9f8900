"""``GET /api/v1/events``: the change feed as a long poll, or as Server-Sent Events.

The long poll answers ``{events: [...], last_id}`` once a matching event exists or
``wait_s`` passed; the next poll passes ``after=<last_id>``. With ``Accept:
text/event-stream`` the same feed streams: each event is ``id: <id>``, ``event:
<type>``, ``data: <json>``; a client reconnecting sends ``Last-Event-ID`` and resumes
after it. A stream also sends ``id:`` alone when it skipped events that did not match
(so a reconnect does not rescan them), a comment line as a keepalive, and an ``error``
event (then ends) if its cursor expires or its bucket goes.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from common.errors import EchoError, InvalidInput
from master.api.common import ok, principal_of, query_text, services_of
from master.services.events import EventCursor, parse_types

__all__ = ["routes"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

STREAM_WAIT_S = 15.0  # a keepalive at least this often
_PEER_GONE = (ConnectionResetError, BrokenPipeError)


def _int_param(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer") from None


def _wait_s(request: web.Request) -> float:
    raw = request.query.get("wait_s", "0")
    try:
        wait_s = float(raw)
    except ValueError:
        raise InvalidInput("wait_s must be a number of seconds") from None
    if not 0 <= wait_s <= 3600:
        raise InvalidInput("wait_s must be between 0 and 3600")
    return wait_s


def _wants_stream(request: web.Request) -> bool:
    accepted = (part.split(";")[0].strip().lower()
                for part in request.headers.get("Accept", "").split(","))
    return "text/event-stream" in accepted


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    caller = principal_of(request)
    service = services_of(request).events
    stream = _wants_stream(request)
    after = _int_param(request, "after", None)
    if stream and request.headers.get("Last-Event-ID", "").strip():
        try:
            after = int(request.headers["Last-Event-ID"].strip())
        except ValueError:
            raise InvalidInput("Last-Event-ID must be an event id") from None
    # open() refuses (as JSON, before any stream starts) a bucket the caller cannot
    # read and a cursor that expired or was never handed out.
    cursor = await service.open(
        caller, bucket=query_text(request, "bucket", max_len=63) or None,
        prefix=query_text(request, "prefix"), types=parse_types(query_text(request, "types")),
        after=after)
    limit = _int_param(request, "limit", 100)
    if limit is None or not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    if stream:
        return await _stream(request, cursor, limit)
    page = await service.next_page(caller, cursor, wait_s=_wait_s(request), limit=limit)
    return ok({"events": [e.public() for e in page.events], "last_id": page.last_id})


async def _stream(request: web.Request, cursor: EventCursor, limit: int) -> web.StreamResponse:
    caller = principal_of(request)
    service = services_of(request).events
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    try:
        await response.write(b"retry: 1000\n\n")
        while not service.closing:
            try:
                page = await service.next_page(caller, cursor, wait_s=STREAM_WAIT_S,
                                               limit=limit)
            except EchoError as exc:
                await response.write(_frame("error", {"code": exc.code,
                                                      "message": exc.message}))
                break
            if page.events:
                await response.write(b"".join(
                    _frame(e.type, e.public(), e.id) for e in page.events))
            elif page.last_id > cursor.after:
                await response.write(f"id: {page.last_id}\n\n".encode())
            else:
                await response.write(b": keepalive\n\n")
            cursor = service.advanced(cursor, page)
    except _PEER_GONE:
        log.info("event stream closed by the client")
    return response


def _frame(event_type: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_type}\ndata: {json.dumps(data)}\n\n".encode()

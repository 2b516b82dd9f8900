"""Admin pages: workers, the repair backlog, and the consistency controller explained.

The admin role is checked by the services (``ClusterService.overview``,
``ConsistencyService``), on every page view, stream tick and action.
"""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp_jinja2 import render_string, render_template

from common.errors import InvalidInput
from master.ui.context import field, principal_of, services_of
from master.ui.live import stream_fragments

__all__ = ["routes"]

routes = web.RouteTableDef()


async def _workers_context(request: web.Request) -> dict[str, object]:
    overview = await services_of(request).cluster.overview(principal_of(request))
    return {"overview": overview, "rendered_at": time.strftime("%H:%M:%S")}


@routes.get("/ui/admin/workers")
async def workers_page(request: web.Request) -> web.Response:
    return render_template("admin/workers.html", request, await _workers_context(request))


@routes.get("/ui/admin/workers/live")
async def workers_live(request: web.Request) -> web.StreamResponse:
    async def render() -> str:
        return render_string("admin/_workers.html", request, await _workers_context(request))
    return await stream_fragments(request, render)


@routes.post("/ui/admin/workers/{worker_id}/drain")
async def drain(request: web.Request) -> web.Response:
    if field(request, "confirm") != "yes":
        raise InvalidInput("tick the box to confirm draining this worker")
    await services_of(request).cluster.start_drain(principal_of(request),
                                                   request.match_info["worker_id"])
    raise web.HTTPSeeOther("/ui/admin/workers")


async def _controller_context(request: web.Request) -> dict[str, object]:
    view = await services_of(request).consistency.view(principal_of(request))
    return {"view": view}


@routes.get("/ui/admin/consistency")
async def consistency_page(request: web.Request) -> web.Response:
    return render_template("admin/consistency.html", request,
                           await _controller_context(request))


@routes.get("/ui/admin/consistency/live")
async def consistency_live(request: web.Request) -> web.StreamResponse:
    async def render() -> str:
        return render_string("admin/_consistency.html", request,
                             await _controller_context(request))
    return await stream_fragments(request, render)


@routes.post("/ui/admin/consistency/override")
async def override(request: web.Request) -> web.Response:
    if field(request, "confirm") != "yes":
        raise InvalidInput("tick the box to confirm the override")
    raw = field(request, "mode")
    await services_of(request).consistency.set_override(principal_of(request),
                                                        raw if raw in ("C", "A") else None)
    raise web.HTTPSeeOther("/ui/admin/consistency")

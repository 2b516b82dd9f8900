"""The REST edge counts client requests for background pacing (common.pacing): a client
request is in flight while its handler runs, ended when it returns or fails; the cluster's
own bookkeeping (heartbeats, health, metrics) is not client traffic."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from common.pacing import ForegroundActivity
from master.api.common import SERVICES
from master.api.middleware import FOREGROUND, request_context
from master.metrics import MasterMetrics


def _app(foreground: ForegroundActivity, seen: list[int]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.append(foreground.inflight)
        if request.path.endswith("/fail"):
            raise web.HTTPNotFound()
        return web.Response(text="ok")

    app = web.Application()
    app[FOREGROUND] = foreground
    app[SERVICES] = SimpleNamespace(metrics=MasterMetrics.create())  # type: ignore[assignment,misc]
    app.router.add_get("/api/v1/files", handler)
    app.router.add_get("/api/v1/files/fail", handler)
    app.router.add_post("/api/v1/workers/{worker_id}/heartbeat", handler)
    app.router.add_get("/api/v1/health", handler)
    return app


async def _call(app: web.Application, method: str, path: str) -> None:
    request = make_mocked_request(method, path, app=app)
    match_info = await app.router.resolve(request)
    match_info.add_app(app)
    request._match_info = match_info  # what aiohttp's own dispatch sets
    try:
        await request_context(request, match_info.handler)
    except web.HTTPException:
        pass


@pytest.mark.parametrize(("method", "path", "counted"), [
    ("GET", "/api/v1/files", 1),
    ("GET", "/api/v1/files/fail", 1),
    ("POST", "/api/v1/workers/worker-1/heartbeat", 0),
    ("GET", "/api/v1/health", 0),
])
async def test_client_requests_count_while_they_run_and_bookkeeping_does_not(
    method: str, path: str, counted: int,
) -> None:
    now = [100.0]
    foreground = ForegroundActivity(clock=lambda: now[0])
    seen: list[int] = []
    await _call(_app(foreground, seen), method, path)
    assert seen == [counted]
    assert foreground.inflight == 0
    assert foreground.busy(now[0], recent_s=1.0) is bool(counted)

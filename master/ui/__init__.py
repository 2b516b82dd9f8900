"""The web UI (DESIGN §18): server-rendered pages under ``/ui/``, an edge beside
``master.api`` that calls ``master.services`` only.

``setup_ui`` adds the routes, the templates and the static files to the master's app;
``session_middleware`` (master.ui.middleware) goes between the JSON error edge and the
REST auth gate. Permissions are the services' (``BucketAccess``), as for the REST API.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from master.services.container import Services
from master.ui import routes_admin, routes_auth, routes_files
from master.ui.context import CLOSING, SERVICES_KEY, csrf_token_of, maybe_principal
from master.ui.formatting import FILTERS
from master.ui.middleware import session_middleware

__all__ = ["PUBLIC_UI_ROUTES", "session_middleware", "setup_ui"]

STATIC_DIR = Path(__file__).parent / "static"
# Routes (templates) the REST auth gate lets through without a token.
PUBLIC_UI_ROUTES = {"/ui/login", "/ui/register", "/ui/static"}


async def _page_context(request: web.Request) -> dict[str, Any]:
    return {"csrf_token": csrf_token_of(request), "user": maybe_principal(request)}


async def _close_streams(app: web.Application) -> None:
    app[CLOSING].set()


def setup_ui(app: web.Application, services_key: web.AppKey[Services]) -> None:
    app[SERVICES_KEY] = services_key
    app[CLOSING] = asyncio.Event()
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("master.ui", "templates"), autoescape=True,
        context_processors=[_page_context],
    )
    env.filters.update(FILTERS)
    app.add_routes(routes_auth.routes)
    app.add_routes(routes_files.routes)
    app.add_routes(routes_admin.routes)
    app.router.add_static("/ui/static", STATIC_DIR, name="ui-static")
    app.on_shutdown.append(_close_streams)

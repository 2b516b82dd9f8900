"""What every UI handler shares: the services, the caller, the form, the CSRF token."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from master.services.auth import Principal
from master.services.container import Services
from master.services.web_sessions import CSRF_COOKIE

__all__ = [
    "CLOSING", "FORM", "NEW_NONCE", "SERVICES_KEY", "csrf_token_of", "field", "form_of",
    "principal_of", "services_of",
]

# The REST edge's AppKey for the services, handed over by ``setup_ui`` (the UI is an edge
# beside master.api and does not import it).
SERVICES_KEY: web.AppKey[web.AppKey[Services]] = web.AppKey("ui.services_key")
CLOSING = web.AppKey("ui.closing", asyncio.Event)  # set at shutdown: live streams end
FORM = "ui.form"  # the parsed form of a POST, read once by the session middleware
NEW_NONCE = "ui.new_nonce"  # a CSRF nonce issued on this response
_PRINCIPAL = "echofs.principal"  # set by master.api.middleware.auth_gate


def services_of(request: web.Request) -> Services:
    return request.app[request.app[SERVICES_KEY]]


def principal_of(request: web.Request) -> Principal:
    principal: Principal = request[_PRINCIPAL]
    return principal


def maybe_principal(request: web.Request) -> Principal | None:
    found: Principal | None = request.get(_PRINCIPAL)
    return found


def form_of(request: web.Request) -> MultiDictProxy[Any]:
    form: MultiDictProxy[Any] = request[FORM]
    return form


def field(request: web.Request, name: str, default: str = "", max_len: int = 4096) -> str:
    """A text form field, stripped; InvalidInput-free (the services validate meaning)."""
    value = form_of(request).get(name, default)
    return value.strip()[:max_len] if isinstance(value, str) else default


def csrf_token_of(request: web.Request) -> str:
    nonce = request.get(NEW_NONCE) or request.cookies.get(CSRF_COOKIE, "")
    return services_of(request).web_sessions.csrf_token(nonce) if nonce else ""


__all__ += ["maybe_principal"]

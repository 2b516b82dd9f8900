"""``/api/v1/webhooks``: register, list, show and delete webhooks (DESIGN §13).

A webhook's answer never contains its secret: it is shown by the client that chose it,
once, and stored sealed (``services/webhook_secrets.py``).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from common.errors import InvalidInput, NotFound
from master.api.common import ok, principal_of, read_json_object, require_str, services_of
from master.services.events import parse_types
from master.services.webhooks import NewWebhook, WebhookView

__all__ = ["routes"]

routes = web.RouteTableDef()

_FIELDS = {"url", "bucket", "prefix", "types", "secret"}


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _webhook_json(view: WebhookView) -> dict[str, Any]:
    hook = view.record
    return {
        "webhook_id": str(hook.id), "url": hook.url, "bucket": hook.bucket,
        "prefix": hook.prefix, "types": sorted(hook.types) if hook.types else None,
        "state": hook.state, "cursor": hook.cursor, "pending": view.pending,
        "delivered": hook.delivered, "failures": hook.attempts,
        "last_status": hook.last_status, "last_error": hook.last_error,
        "last_attempt_at": _when(hook.last_attempt_at),
        "last_delivered_at": _when(hook.last_delivered_at),
        "next_attempt_at": _when(hook.next_attempt_at),
        "created_at": hook.created_at.isoformat(),
    }


def _webhook_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info["webhook_id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no webhook {raw[:64]!r}") from None


@routes.post("/api/v1/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    unknown = set(body) - _FIELDS
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    prefix = body.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 1024:
        raise InvalidInput("prefix must be a string of at most 1024 characters")
    types = body.get("types")
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) for t in types)):
        raise InvalidInput("types must be a list of event types")
    hook = await services_of(request).webhooks.register(principal_of(request), NewWebhook(
        url=require_str(body, "url"), bucket=require_str(body, "bucket"),
        secret=require_str(body, "secret"), prefix=prefix,
        types=parse_types(",".join(types)) if types else None))
    return ok(_webhook_json(WebhookView(hook, 0)), "webhook registered", status=201)


@routes.get("/api/v1/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    found = await services_of(request).webhooks.list(principal_of(request))
    return ok({"webhooks": [_webhook_json(v) for v in found]})


@routes.get("/api/v1/webhooks/{webhook_id}")
async def get_webhook(request: web.Request) -> web.Response:
    view = await services_of(request).webhooks.get(principal_of(request), _webhook_id(request))
    return ok(_webhook_json(view))


@routes.delete("/api/v1/webhooks/{webhook_id}")
async def delete_webhook(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    await services_of(request).webhooks.delete(principal_of(request), webhook_id)
    return ok({"webhook_id": str(webhook_id)}, "webhook deleted")

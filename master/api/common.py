"""The HTTP edge's shared vocabulary: the JSON envelope, app keys, request parsing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

from common.errors import BadJson, InvalidInput, NotFound, PayloadTooLarge
from master.services.auth import Principal
from master.services.container import Services

__all__ = [
    "PRINCIPAL",
    "SERVICES",
    "ok",
    "parse_file_id",
    "principal_of",
    "read_json_object",
    "services_of",
]

SERVICES = web.AppKey("services", Services)
PRINCIPAL = "echofs.principal"
MAX_JSON_BYTES = 64 * 1024


def ok(data: Any = None, message: str = "ok", status: int = 200) -> web.Response:
    return web.json_response(
        {"success": True, "message": message, "data": data}, status=status, dumps=_dumps
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


def principal_of(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL]
    return principal


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or BadJson / PayloadTooLarge / InvalidInput."""
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    body = await request.content.read(MAX_JSON_BYTES + 1)
    if len(body) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"JSON bodies are limited to {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadJson(f"body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInput("body must be a JSON object")
    return value


def require_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"field {key!r} is required and must be a non-empty string")
    return value


def parse_file_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no file with id {raw[:64]!r}") from None


__all__ += ["require_str"]

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
    _reject_unstorable_text(value)
    return value


def _reject_unstorable_text(value: Any) -> None:
    """JSON may carry NUL and lone surrogates (``\\ud800``); PostgreSQL text and UTF-8
    cannot. Refuse them here, once, rather than fail deep inside a query."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadJson("strings must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadJson("strings must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_unstorable_text(key)
            _reject_unstorable_text(item)
    elif isinstance(value, list):
        for item in value:
            _reject_unstorable_text(item)


def require_str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"field {key!r} is required and must be a non-empty string")
    return value


def query_text(request: web.Request, name: str, default: str = "", max_len: int = 1024) -> str:
    """A query parameter as text PostgreSQL can store, or InvalidInput."""
    value = request.query.get(name, default)
    if len(value) > max_len:
        raise InvalidInput(f"query parameter {name!r} is longer than {max_len} characters")
    try:
        _reject_unstorable_text(value)
    except BadJson as exc:
        raise InvalidInput(f"query parameter {name!r}: {exc.message}") from None
    return value


def parse_file_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"no file with id {raw[:64]!r}") from None


__all__ += ["query_text", "require_str"]

"""Building blocks of the master's OpenAPI document, shared by its ``openapi_*`` parts:
the JSON envelope every answer wears, references, and error responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BEARER", "JSON", "envelope", "errors", "json_body", "ok", "ref"]

JSON = "application/json"
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """``{success, message, data}`` around ``data``'s schema."""
    return {"type": "object", "required": ["success", "message", "data"],
            "properties": {"success": {"type": "boolean"}, "message": {"type": "string"},
                           "data": data}}


def ok(name: str, status: str = "200", description: str = "OK") -> dict[str, Any]:
    """A successful answer whose ``data`` is the schema ``name``."""
    return {status: {"description": description,
                     "content": {JSON: {"schema": envelope(ref(name))}}}}


def errors(text: Mapping[int, str], *statuses: int) -> dict[str, Any]:
    """Error answers (the ``Error`` schema) for ``statuses``, described by ``text``."""
    return {str(s): {"description": text[s], "content": {JSON: {"schema": ref("Error")}}}
            for s in statuses}


def json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": ref(schema)}}}

"""OpenAPI description of DESIGN §12's download links (``/api/v1/links``, ``/d/{token}``).

Merged into the document by ``openapi.py``, like ``openapi_namespace``.
"""

from __future__ import annotations

from typing import Any

from master.api.openapi_parts import (
    BEARER as _BEARER,
)
from master.api.openapi_parts import (
    JSON as _JSON,
)
from master.api.openapi_parts import (
    errors,
)
from master.api.openapi_parts import (
    ok as _ok,
)
from master.api.openapi_parts import (
    ref as _ref,
)

__all__ = ["PATHS", "SCHEMAS"]

_TEXT = {400: "Invalid input or bad path", 401: "Missing or invalid credentials",
         403: "Permission too weak (all=true needs admin; bucket= needs owner)",
         404: "Not found: no such file or link, a bucket you cannot read, or a link that"
              " was revoked (or whose creator may no longer read the file)",
         410: "link_expired, link_used, or link_target_gone (the pinned version is gone)",
         413: "Body too large", 416: "Range not satisfiable",
         503: "Not enough healthy workers / dependency down"}
_BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(_TEXT, *statuses)









PATHS: dict[str, Any] = {
    "/api/v1/links": {
        "post": {
            "summary": "Make a download link to the current version of a file you can read",
            "security": _BEARER,
            "requestBody": {"required": True,
                            "content": {_JSON: {"schema": _ref("LinkRequest")}}},
            "responses": {**_ok("LinkCreated", "201", "Created; the url is shown only now"),
                          **_errors(400, 401, 404, 413)}},
        "get": {
            "summary": "Your links, newest first (bucket=: every link of a bucket you own;"
                       " all=true: every link, admins)",
            "security": _BEARER,
            "parameters": [
                {"name": "bucket", "in": "query", "required": False,
                 "schema": {"type": "string"}},
                {"name": "all", "in": "query", "required": False,
                 "schema": {"type": "boolean"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                {"name": "cursor", "in": "query", "required": False,
                 "schema": {"type": "string"}},
            ],
            "responses": {**_ok("LinkList"), **_errors(400, 401, 403, 404)}},
    },
    "/api/v1/links/{link_id}": {
        "parameters": [{"name": "link_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "delete": {"summary": "Revoke a link at once (its creator, the bucket's owner, admins)",
                   "security": _BEARER,
                   "responses": {**_ok("Link"), **_errors(401, 404)}},
    },
    "/d/{token}": {"get": {
        "summary": "Download through a link, no authentication (Range, If-Range, ETag, HEAD;"
                   " every GET that sends bytes takes one use, HEAD/304/416 take none)",
        "security": [],
        "parameters": [
            {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}},
            {"name": "If-Range", "in": "header", "required": False,
             "schema": {"type": "string"}},
        ],
        "responses": {
            "200": {"description": "The pinned version, verified", "content": _BYTES},
            "206": {"description": "The requested range", "content": _BYTES},
            "304": {"description": "Not modified (If-None-Match)"},
            **_errors(404, 410, 416, 503),
        }}},
}

_LINK_PROPERTIES: dict[str, Any] = {
    "link_id": {"type": "string", "format": "uuid"},
    "path": {"type": "string", "description": "bucket/path when the link was made"},
    "version_id": {"type": "string", "format": "uuid"},
    "expires_at": {"type": "string"},
    "max_uses": {"type": "integer", "nullable": True},
}

SCHEMAS: dict[str, Any] = {
    "LinkRequest": {
        "type": "object", "required": ["path", "expires_in_s"],
        "properties": {
            "path": {"type": "string", "description": "bucket/path of a file"},
            "expires_in_s": {"type": "integer", "minimum": 1,
                             "description": "at most LINK_MAX_EXPIRY_S (default 7 days)"},
            "max_uses": {"type": "integer", "minimum": 1, "nullable": True,
                         "description": "absent or null: unlimited until expiry"},
        },
    },
    "LinkCreated": {
        "type": "object", "required": ["link_id", "url", "expires_at", "max_uses"],
        "properties": {**_LINK_PROPERTIES,
                       "url": {"type": "string", "description": "/d/<token>, shown once"}},
    },
    "Link": {
        "type": "object",
        "required": ["link_id", "path", "version_id", "created_by", "created_at",
                     "expires_at", "max_uses", "uses", "last_used_at", "revoked_at", "state"],
        "properties": {**_LINK_PROPERTIES,
                       "created_by": {"type": "string"}, "created_at": {"type": "string"},
                       "uses": {"type": "integer"}, "last_used_at": _NULLABLE_STRING,
                       "revoked_at": _NULLABLE_STRING,
                       "state": {"type": "string",
                                 "enum": ["active", "expired", "used", "revoked"]}},
    },
    "LinkList": {
        "type": "object", "required": ["links", "next_cursor"],
        "properties": {"links": {"type": "array", "items": _ref("Link")},
                       "next_cursor": _NULLABLE_STRING},
    },
}

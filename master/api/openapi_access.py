"""OpenAPI description of DESIGN §12's access routes: groups, bucket shares, API keys.

Kept beside ``openapi.py`` (which merges ``PATHS`` and ``SCHEMAS`` into the document),
like ``openapi_namespace.py``.
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

_TEXT = {400: "Invalid input", 401: "Missing, invalid, revoked or expired credentials",
         403: "Permission too weak (or a read-only / bucket-limited API key)",
         404: "Not found (or a bucket you cannot read)", 409: "Conflict (name taken)",
         413: "Body too large", 503: "KEY_ENCRYPTION_KEY is not set on the master"}
_NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(_TEXT, *statuses)









def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": _ref(name)}}}


def _path(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string", **schema}}


_PAGING = [
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
]
_BUCKET = _path("bucket", minLength=3, maxLength=63)

PATHS: dict[str, Any] = {
    "/api/v1/groups": {
        "get": {"summary": "Groups the caller created or belongs to (every group for an"
                           " admin), with members", "security": _BEARER,
                "parameters": _PAGING,
                "responses": {**_ok("GroupList"), **_errors(400, 401)}},
        "post": {"summary": "Create a group (managed by its creator and admins)",
                 "security": _BEARER, "requestBody": _body("GroupCreate"),
                 "responses": {**_ok("Group", "201", "Created"),
                               **_errors(400, 401, 403, 409, 413)}},
    },
    "/api/v1/groups/{group}/members/{username}": {
        "parameters": [_path("group"), _path("username")],
        "put": {"summary": "Add a member (the group's creator or an admin)",
                "security": _BEARER,
                "responses": {**_ok("Membership"), **_errors(401, 403, 404)}},
        "delete": {"summary": "Remove a member (the creator or an admin; or the member"
                              " itself, leaving)", "security": _BEARER,
                   "responses": {**_ok("Membership"), **_errors(401, 403, 404)}},
    },
    "/api/v1/buckets/{bucket}/shares": {
        "parameters": [_BUCKET],
        "put": {"summary": "Share the bucket with a user or a group as ro, rw or rwd"
                           " (its owner or an admin)", "security": _BEARER,
                "requestBody": _body("SharePut"),
                "responses": {**_ok("Share"), **_errors(400, 401, 403, 404, 413)}},
        "get": {"summary": "The bucket's shares (its owner or an admin)", "security": _BEARER,
                "responses": {**_ok("ShareList"), **_errors(401, 403, 404)}},
    },
    "/api/v1/buckets/{bucket}/shares/{grantee}": {
        "parameters": [_BUCKET, _path("grantee", pattern="^(user|group):.+$")],
        "delete": {"summary": "Remove the share of user:<name> or group:<name>",
                   "security": _BEARER,
                   "responses": {**_ok("ShareDeleted"), **_errors(400, 401, 403, 404)}},
    },
    "/api/v1/keys": {
        "get": {"summary": "The caller's API keys (never a secret or token)",
                "security": _BEARER, "responses": {**_ok("ApiKeyList"), **_errors(401)}},
        "post": {"summary": "Create an API key: {key_id, secret, token} shown this once"
                            " (with a login token, not with another key)",
                 "security": _BEARER, "requestBody": _body("ApiKeyCreate"),
                 "responses": {**_ok("ApiKeyCreated", "201", "Created"),
                               **_errors(400, 401, 403, 404, 413, 503)}},
    },
    "/api/v1/keys/{key_id}": {
        "parameters": [_path("key_id")],
        "delete": {"summary": "Revoke an API key at once, on every master (its owner or"
                              " an admin, with a login token)", "security": _BEARER,
                   "responses": {**_ok("ApiKey"), **_errors(401, 403, 404)}},
    },
}

_MEMBERS = {"type": "array", "items": {"type": "string"}}
_PERMISSION = {"type": "string", "enum": ["ro", "rw", "rwd"]}

SCHEMAS: dict[str, Any] = {
    "GroupCreate": {"type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string",
                                            "pattern": "^[A-Za-z0-9_.-]{3,64}$"}}},
    "Group": {"type": "object", "required": ["name", "created_at"],
              "properties": {"name": {"type": "string"},
                             "created_by": {"type": "string", "nullable": True},
                             "created_at": {"type": "string", "format": "date-time"},
                             "members": _MEMBERS,
                             "usage": {"$ref": "#/components/schemas/Usage",
                                       "description": "The buckets charged to the group"}}},
    "GroupList": {"type": "object", "required": ["groups"],
                  "properties": {"groups": {"type": "array", "items": _ref("Group")},
                                 "next_after": {"type": "string", "nullable": True}}},
    "Membership": {"type": "object", "required": ["group", "username"],
                   "properties": {"group": {"type": "string"}, "username": {"type": "string"},
                                  "added": {"type": "boolean"}}},
    "SharePut": {"type": "object", "required": ["permission"], "additionalProperties": False,
                 "description": "Exactly one of user or group.",
                 "properties": {"user": {"type": "string"}, "group": {"type": "string"},
                                "permission": _PERMISSION}},
    "Share": {"type": "object", "required": ["permission"],
              "properties": {"bucket": {"type": "string"}, "user": {"type": "string"},
                             "group": {"type": "string"}, "permission": _PERMISSION,
                             "granted_by": {"type": "string", "nullable": True},
                             "created_at": {"type": "string", "format": "date-time"},
                             "updated_at": {"type": "string", "format": "date-time"}}},
    "ShareList": {"type": "object", "required": ["bucket", "shares"],
                  "properties": {"bucket": {"type": "string"},
                                 "shares": {"type": "array", "items": _ref("Share")}}},
    "ShareDeleted": {"type": "object", "required": ["bucket"],
                     "properties": {"bucket": {"type": "string"}, "user": {"type": "string"},
                                    "group": {"type": "string"}}},
    "ApiKeyCreate": {
        "type": "object", "required": ["name", "permission"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64},
            "permission": {"type": "string", "enum": ["ro", "rw", "admin"]},
            "buckets": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                        "maxItems": 100, "nullable": True},
            "expires_in_s": {"type": "integer", "minimum": 1, "maximum": 315360000,
                             "nullable": True}}},
    "ApiKey": {"type": "object", "required": ["key_id", "name", "permission", "state"],
               "properties": {
                   "key_id": {"type": "string"}, "name": {"type": "string"},
                   "permission": {"type": "string", "enum": ["ro", "rw", "admin"]},
                   "buckets": {"type": "array", "items": {"type": "string"},
                               "nullable": True},
                   "created_at": {"type": "string", "format": "date-time"},
                   "expires_at": _NULLABLE_TIME, "revoked_at": _NULLABLE_TIME,
                   "state": {"type": "string", "enum": ["active", "expired", "revoked"]}}},
    "ApiKeyCreated": {"allOf": [_ref("ApiKey"), {
        "type": "object", "required": ["secret", "token"],
        "properties": {"secret": {"type": "string",
                                  "description": "S3 secret key (with key_id); shown once"},
                       "token": {"type": "string",
                                 "description": "Authorization: Bearer <token>; shown once"}}}]},
    "ApiKeyList": {"type": "object", "required": ["keys"],
                   "properties": {"keys": {"type": "array", "items": _ref("ApiKey")}}},
}

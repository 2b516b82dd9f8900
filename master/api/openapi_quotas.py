"""OpenAPI description of quotas (DESIGN §12): the admin's user-quota route, the
profile's usage, and the 507 ``quota_exceeded`` every write that adds usage may answer.

``amend`` takes the other modules' paths and adds what quotas change in them, so the
routes' own descriptions stay where they are (``openapi.py``, ``openapi_namespace.py``).
"""

from __future__ import annotations

import copy
from typing import Any

from master.api.openapi_parts import BEARER as _BEARER
from master.api.openapi_parts import JSON as _JSON
from master.api.openapi_parts import envelope, ref

__all__ = ["PATHS", "SCHEMAS", "amend"]

_ERROR = {"content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
_QUOTA_EXCEEDED = {"description": "quota_exceeded: a bucket's, user's or group's quota would be"
                                  " exceeded; nothing was stored", **_ERROR}

# (path, method) of every route whose success adds usage, or that declares a size.
_ADDS_USAGE = (
    ("/api/v1/fs/{bucket}/{path}", "put"), ("/api/v1/files/upload", "post"),
    ("/api/v1/files/upload/init", "post"), ("/api/v1/files/upload/{session_id}/complete",
                                            "post"),
    ("/api/v1/ops/copy", "post"), ("/api/v1/ops/move", "post"),
    ("/api/v1/ops/restore", "post"),
    ("/api/v1/buckets/{bucket}", "patch"),  # charging a bucket to a group
)

_NULLABLE_QUOTA = {"type": "integer", "minimum": 0, "nullable": True}
_USAGE_PROPERTIES = {"used_bytes": {"type": "integer"}, "files": {"type": "integer"},
                     "quota_bytes": _NULLABLE_QUOTA, "quota_files": _NULLABLE_QUOTA}




def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Invalid input", 401: "Missing or invalid credentials",
            403: "Not an admin", 404: "No such user or group", 413: "Body too large"}
    return {str(s): {"description": text[s], **_ERROR} for s in statuses}


PATHS: dict[str, Any] = {
    "/api/v1/admin/users/{username}": {"patch": {
        "summary": "Set a user's quota over the buckets the user owns (admin; null: no"
                   " limit); audited as quota.set",
        "security": _BEARER,
        "parameters": [{"name": "username", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": {
            "$ref": "#/components/schemas/UserQuota"}}}},
        "responses": {"200": {"description": "Updated",
                              "content": {_JSON: {"schema": envelope(ref("UserUsage"))}}},
                      **_errors(400, 401, 403, 404, 413)}}},
    "/api/v1/admin/groups/{group}": {"patch": {
        "summary": "Set a group's quota over the buckets charged to it (admin; null: no"
                   " limit); audited as quota.set",
        "security": _BEARER,
        "parameters": [{"name": "group", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {_JSON: {"schema": {
            "$ref": "#/components/schemas/UserQuota"}}}},
        "responses": {"200": {"description": "Updated",
                              "content": {_JSON: {"schema": envelope(ref("GroupUsage"))}}},
                      **_errors(400, 401, 403, 404, 413)}}},
}

SCHEMAS: dict[str, Any] = {
    "UserQuota": {"type": "object", "additionalProperties": False, "minProperties": 1,
                  "properties": {"quota_bytes": _NULLABLE_QUOTA,
                                 "quota_files": _NULLABLE_QUOTA}},
    "Usage": {"type": "object", "required": list(_USAGE_PROPERTIES),
              "properties": _USAGE_PROPERTIES},
    "UserUsage": {"type": "object",
                  "required": ["username", "user_id", *_USAGE_PROPERTIES],
                  "properties": {"username": {"type": "string"},
                                 "user_id": {"type": "integer"}, **_USAGE_PROPERTIES}},
    "GroupUsage": {"type": "object", "required": ["group", *_USAGE_PROPERTIES],
                   "properties": {"group": {"type": "string"}, **_USAGE_PROPERTIES}},
    "Profile": {"type": "object",
                "required": ["user_id", "username", "is_admin", "home_bucket", "usage"],
                "properties": {"user_id": {"type": "integer"}, "username": {"type": "string"},
                               "is_admin": {"type": "boolean"},
                               "home_bucket": {"type": "string"},
                               "usage": {"$ref": "#/components/schemas/Usage"}}},
}


def amend(paths: dict[str, Any]) -> dict[str, Any]:
    """``paths`` plus quotas: 507 on the routes that add usage, the profile's usage,
    and ``PATHS``. The argument is not modified."""
    result = copy.deepcopy(paths)
    for path, method in _ADDS_USAGE:
        operation = result.get(path, {}).get(method)
        if operation is not None:
            operation["responses"]["507"] = _QUOTA_EXCEEDED
    profile = result.get("/api/v1/auth/profile", {}).get("get")
    if profile is not None:
        profile["responses"]["200"] = {
            "description": "The caller, with the usage and quota of the buckets it owns",
            "content": {_JSON: {"schema": envelope(ref("Profile"))}}}
    return {**result, **PATHS}

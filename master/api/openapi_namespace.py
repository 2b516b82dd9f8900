"""OpenAPI description of DESIGN §11's routes: buckets, paths in buckets, tasks, ops.

Kept beside ``openapi.py`` (which merges ``PATHS`` and ``SCHEMAS`` into the document)
so neither file grows past one screenful of routes.
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
    envelope as _envelope,
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
from master.api.openapi_schemas import WRITE_NEEDS_HEADERS

__all__ = ["PATHS", "SCHEMAS"]

_TEXT = {400: "Invalid input or bad path", 401: "Missing or invalid credentials",
         403: "Permission too weak", 404: "Not found (or a bucket you cannot read)",
         409: "Conflict",
         412: "Precondition failed (If-Match / If-None-Match, or the latency budget ran out:"
              " latency_budget_exceeded)",
         413: "Body too large", 416: "Range not satisfiable",
         503: "Not enough healthy workers / dependency down"}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(_TEXT, *statuses)











def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {_JSON: {"schema": _ref(name)}}}


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _header(name: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}


_BUCKET = {"name": "bucket", "in": "path", "required": True,
           "schema": {"type": "string", "minLength": 3, "maxLength": 63}}
_PATH = {"name": "path", "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 1024}}
_DIR = {"name": "dir", "in": "path", "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 1024}}
_BOOL = {"type": "string", "enum": ["true", "false"]}
_BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_LISTING_PARAMS = [
    _query("recursive", _BOOL), _query("max_depth", {"type": "integer", "minimum": 1}),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    _query("cursor", {"type": "string"}),
]
_DIRECTORY: dict[str, Any] = {
    "get": {"summary": "List a directory: {entries, next_cursor}", "security": _BEARER,
            "parameters": _LISTING_PARAMS,
            "responses": {**_ok("Listing"), **_errors(400, 401, 404)}},
    "post": {"summary": "Create a directory (and its parents)", "security": _BEARER,
             "responses": {**_ok("Directory", "201", "Created"),
                           **_ok("Directory", "200", "It existed"),
                           **_errors(400, 401, 403, 404, 409)}},
    "delete": {"summary": "Delete an empty directory, or with recursive=true a subtree"
                          " as a task (202 {task_id})", "security": _BEARER,
               "parameters": [_query("recursive", _BOOL)],
               "responses": {**_ok("DirectoryDeleted"), **_ok("TaskStarted", "202", "Task"),
                             **_errors(400, 401, 403, 404, 409)}},
}

PATHS: dict[str, Any] = {
    "/api/v1/buckets": {
        "get": {"summary": "Buckets the caller can reach, with permission and usage",
                "security": _BEARER,
                "parameters": [_query("limit", {"type": "integer", "minimum": 1,
                                                "maximum": 1000}),
                               _query("after", {"type": "string"})],
                "responses": {**_ok("BucketList"), **_errors(400, 401)}},
        "post": {"summary": "Create a bucket (409 bucket_exists; 404: no such group)",
                 "security": _BEARER,
                 "requestBody": _body("BucketCreate"),
                 "responses": {**_ok("Bucket", "201", "Created"),
                               **_errors(400, 401, 403, 404, 409, 413)}},
    },
    "/api/v1/buckets/{bucket}": {
        "parameters": [_BUCKET],
        "get": {"summary": "A bucket's usage and settings", "security": _BEARER,
                "responses": {**_ok("Bucket"), **_errors(401, 404, 409)}},
        "patch": {"summary": "Change versioning, retention, quotas", "security": _BEARER,
                  "requestBody": _body("BucketSettings"),
                  "responses": {**_ok("Bucket"), **_errors(400, 401, 403, 404, 409, 413)}},
        "delete": {"summary": "Delete (409 bucket_not_empty unless recursive=true: 202 task)",
                   "security": _BEARER, "parameters": [_query("recursive", _BOOL)],
                   "responses": {**_ok("BucketDeleted"), **_ok("TaskStarted", "202", "Task"),
                                 **_errors(400, 401, 403, 404, 409)}},
    },
    "/api/v1/fs/{bucket}/{path}": {
        "parameters": [_BUCKET, _PATH],
        "put": {"summary": "Upload a raw body to a path in a bucket (creates or replaces)",
                "security": _BEARER,
                "parameters": [_query("consistency", {"type": "string", "enum": [
                    "auto", "strong", "available"]}), _header("If-Match"),
                    _header("If-None-Match"), *WRITE_NEEDS_HEADERS],
                "requestBody": {"required": True, "content": _BYTES},
                "responses": {**_ok("Receipt", "201", "Uploaded"),
                              **_errors(400, 401, 403, 404, 409, 412, 413, 503)}},
        "get": {"summary": "Download (Range, If-Range, ETag, HEAD), ?version_id= an older"
                           " version, or ?versions=true the list of versions",
                "security": _BEARER,
                "parameters": [_header("Range"), _header("If-Range"),
                               _query("version_id", {"type": "string"}),
                               _query("versions", _BOOL)],
                "responses": {
                    "200": {"description": "The file's bytes, or (versions=true) its versions",
                            "content": {**_BYTES, _JSON: {"schema": _envelope(
                                _ref("VersionList"))}}},
                    "206": {"description": "The requested range", "content": _BYTES},
                    "304": {"description": "Not modified (If-None-Match)"},
                    **_errors(400, 401, 404, 416, 503)}},
        "delete": {"summary": "Delete a file (a delete marker in a versioned bucket)",
                   "security": _BEARER,
                   "responses": {**_ok("Deleted"), **_errors(400, 401, 403, 404, 409)}},
    },
    "/api/v1/fs/{bucket}/": {"parameters": [_BUCKET], **_DIRECTORY},
    "/api/v1/fs/{bucket}/{dir}/": {"parameters": [_BUCKET, _DIR], **_DIRECTORY},
    "/api/v1/tasks/{task_id}": {"get": {
        "summary": "A task's progress", "security": _BEARER,
        "parameters": [{"name": "task_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {**_ok("Task"), **_errors(401, 404)}}},
    "/api/v1/ops/move": {"post": {
        "summary": "Move a file or a directory in one transaction", "security": _BEARER,
        "parameters": [_header("If-Match"), _header("If-None-Match")],
        "requestBody": _body("MoveCopy"),
        "responses": {**_ok("OpResult"), **_errors(400, 401, 403, 404, 409, 412, 413)}}},
    "/api/v1/ops/copy": {"post": {
        "summary": "Copy a file or a directory sharing its chunks", "security": _BEARER,
        "parameters": [_header("If-Match"), _header("If-None-Match")],
        "requestBody": _body("MoveCopy"),
        "responses": {**_ok("OpResult", "201", "Copied"),
                      **_errors(400, 401, 403, 404, 409, 412, 413)}}},
    "/api/v1/ops/restore": {"post": {
        "summary": "Make a version's content current again (as a new version)",
        "security": _BEARER, "requestBody": _body("Restore"),
        "responses": {**_ok("Restored", "201", "Restored"),
                      **_errors(400, 401, 403, 404, 409, 413)}}},
}

_SETTINGS = {
    "versioning": {"type": "boolean"},
    "keep_versions": {"type": "integer", "minimum": 1, "maximum": 1000000, "nullable": True},
    "keep_days": {"type": "integer", "minimum": 1, "maximum": 1000000, "nullable": True},
    "quota_bytes": {"type": "integer", "minimum": 0, "nullable": True},
    "quota_files": {"type": "integer", "minimum": 0, "nullable": True},
    "group": {"type": "string", "nullable": True, "pattern": "^[A-Za-z0-9_.-]{3,64}$",
              "description": "The group the bucket is charged to (its usage counts toward"
                             " the group's quota); a member of the group or an admin"},
}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_INT = {"type": "integer", "nullable": True}

SCHEMAS: dict[str, Any] = {
    "BucketCreate": {"type": "object", "required": ["name"], "additionalProperties": False,
                     "properties": {"name": {"type": "string",
                                             "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                                    **_SETTINGS}},
    "BucketSettings": {"type": "object", "additionalProperties": False,
                       "properties": _SETTINGS},
    "Bucket": {"type": "object",
               "required": ["name", "permission", "used_bytes", "files", "versioning"],
               "properties": {"name": {"type": "string"}, "owner_id": {"type": "integer"},
                              "home": {"type": "boolean"}, "permission": {"type": "string"},
                              "used_bytes": {"type": "integer"}, "files": {"type": "integer"},
                              "state": {"type": "string"}, "created_at": {"type": "string"},
                              **_SETTINGS}},
    "BucketList": {"type": "object", "required": ["buckets"],
                   "properties": {"buckets": {"type": "array", "items": _ref("Bucket")},
                                  "next_after": _NULLABLE_STRING}},
    "BucketDeleted": {"type": "object", "required": ["name"],
                      "properties": {"name": {"type": "string"}}},
    "TaskStarted": {"type": "object", "required": ["task_id"],
                    "properties": {"task_id": {"type": "string"}, "total": {"type": "integer"}}},
    "Task": {"type": "object", "required": ["state", "done", "total", "error"],
             "properties": {"task_id": {"type": "string"}, "kind": {"type": "string"},
                            "state": {"type": "string", "enum": ["running", "done", "failed"]},
                            "done": {"type": "integer"}, "total": {"type": "integer"},
                            "error": _NULLABLE_STRING}},
    "Entry": {"type": "object", "required": ["name", "type", "size", "etag", "modified"],
              "properties": {"name": {"type": "string"},
                             "type": {"type": "string", "enum": ["file", "dir"]},
                             "size": _NULLABLE_INT, "etag": _NULLABLE_STRING,
                             "modified": {"type": "string"}}},
    "Listing": {"type": "object", "required": ["entries", "next_cursor"],
                "properties": {"bucket": {"type": "string"}, "path": {"type": "string"},
                               "entries": {"type": "array", "items": _ref("Entry")},
                               "next_cursor": _NULLABLE_STRING}},
    "Directory": {"type": "object", "required": ["bucket", "path", "created"],
                  "properties": {"bucket": {"type": "string"}, "path": {"type": "string"},
                                 "created": {"type": "boolean"}}},
    "DirectoryDeleted": {"type": "object", "required": ["bucket", "path"],
                         "properties": {"bucket": {"type": "string"},
                                        "path": {"type": "string"}}},
    "VersionList": {"type": "object", "required": ["versions"], "properties": {
        "versions": {"type": "array", "items": {
            "type": "object",
            "required": ["version_id", "size", "etag", "modified", "current", "deleted"],
            "properties": {"version_id": {"type": "string"}, "size": {"type": "integer"},
                           "etag": _NULLABLE_STRING, "modified": {"type": "string"},
                           "current": {"type": "boolean"}, "deleted": {"type": "boolean"}}}}}},
    "MoveCopy": {"type": "object", "required": ["from", "to"],
                 "properties": {"from": {"type": "string", "description": "bucket/path"},
                                "to": {"type": "string", "description": "bucket/path"},
                                "overwrite": {"type": "boolean"}}},
    "OpResult": {"type": "object", "required": ["from", "to", "files"],
                 "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                                "files": {"type": "integer"}}},
    "Restore": {"type": "object", "required": ["path", "version_id"],
                "properties": {"path": {"type": "string", "description": "bucket/path"},
                               "version_id": {"type": "string"}}},
    "Restored": {"type": "object", "required": ["bucket", "path", "version_id"],
                 "properties": {"bucket": {"type": "string"}, "path": {"type": "string"},
                                "version_id": {"type": "string"}}},
}

"""GET /api/v1/openapi.json: the OpenAPI 3.0 description of every master route.

Written as data next to the routes it describes; tests/integration/test_openapi.py runs
schemathesis against a live master with it, so a route and its description cannot
drift apart silently.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from master.api import (
    openapi_access,
    openapi_events,
    openapi_links,
    openapi_namespace,
    openapi_quotas,
)
from master.api.openapi_parts import BEARER as _BEARER
from master.api.openapi_parts import JSON as _JSON
from master.api.openapi_parts import errors
from master.api.openapi_parts import json_body as _json_body
from master.api.openapi_parts import ok as _ok
from master.api.openapi_parts import ref as _ref
from master.api.openapi_schemas import SCHEMAS, WRITE_NEEDS_HEADERS, WRITE_NEEDS_PROPERTIES

__all__ = ["OPENAPI", "routes"]

routes = web.RouteTableDef()

_SECRET: list[dict[str, list[str]]] = [{"clusterSecret": []}]








_ERROR_TEXT = {400: "Invalid input", 401: "Missing or invalid credentials", 403: "Forbidden",
            404: "Not found", 409: "Conflict", 413: "Body too large",
            412: "The request's latency budget ran out first (latency_budget_exceeded)",
            410: "Upload session expired", 416: "Range not satisfiable",
            429: "Too many open upload sessions",
            503: "Not enough healthy workers / dependency down"}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(_ERROR_TEXT, *statuses)




_FILE_ID = {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CONSISTENCY_Q = {"name": "consistency", "in": "query", "required": False,
                  "schema": {"type": "string", "enum": ["auto", "strong", "available"]}}
_RANGE_HEADERS = [
    {"name": "Range", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "If-Range", "in": "header", "required": False, "schema": {"type": "string"}},
]
_BYTES = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_DOWNLOAD_RESPONSES = {
    "200": {"description": "The whole file, verified", "content": _BYTES},
    "206": {"description": "The requested range", "content": _BYTES},
    "304": {"description": "Not modified (If-None-Match)"},
    **_errors(401, 404, 416, 503),
}

_PATHS: dict[str, Any] = {
    "/api/v1/auth/register": {"post": {
        "summary": "Create a user", "security": [], "requestBody": _json_body("Credentials"),
        "responses": {**_ok("User", "201", "Registered"), **_errors(400, 409, 413)}}},
    "/api/v1/auth/login": {"post": {
        "summary": "Get a JWT (429 rate_limited with Retry-After after too many failures)",
        "security": [], "requestBody": _json_body("Credentials"),
        "responses": {**_ok("Token"), **_errors(400, 401, 413), "429": {
            "description": "Too many failed logins for this username or client address;"
                           " refused before the password is checked",
            "headers": {"Retry-After": {"description": "Seconds until the lockout ends",
                                        "schema": {"type": "integer", "minimum": 1}}},
            "content": {_JSON: {"schema": _ref("Error")}}}}}},
    "/api/v1/auth/profile": {"get": {
        "summary": "The caller", "security": _BEARER,
        "responses": {**_ok("User"), **_errors(401)}}},
    "/api/v1/files/upload": {"post": {
        "summary": "Upload a file (multipart/form-data, streamed)", "security": _BEARER,
        "parameters": [{"name": "path", "in": "query", "required": False,
                        "schema": {"type": "string"}}, _CONSISTENCY_Q, *WRITE_NEEDS_HEADERS],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"path": {"type": "string"},
                           "consistency": {"type": "string",
                                           "enum": ["auto", "strong", "available"]},
                           **WRITE_NEEDS_PROPERTIES,
                           "file": {"type": "string", "format": "binary"}}}}}},
        "responses": {**_ok("Receipt", "201", "Uploaded"),
                      **_errors(400, 401, 412, 413, 503)}}},
    "/api/v1/files": {"get": {
        "summary": "List the caller's files", "security": _BEARER,
        "parameters": [
            {"name": "prefix", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {**_ok("FileList"), **_errors(400, 401)}}},
    "/api/v1/files/{file_id}": {
        "parameters": [_FILE_ID],
        "get": {"summary": "File metadata, chunks and replicas", "security": _BEARER,
                "responses": {**_ok("FileMetadata"), **_errors(401, 404)}},
        "delete": {"summary": "Delete a file (chunks go to GC)", "security": _BEARER,
                   "responses": {**_ok("Deleted"), **_errors(401, 404)}},
    },
    "/api/v1/files/{file_id}/download": {"get": {
        "summary": "Download (Range, If-Range, ETag, HEAD)", "security": _BEARER,
        "parameters": [_FILE_ID, *_RANGE_HEADERS], "responses": _DOWNLOAD_RESPONSES}},
    "/api/v1/health": {"get": {
        "summary": "Liveness and dependencies", "security": [],
        "responses": {
            "200": {"description": "Serving", "content": {_JSON: {"schema": _ref("Health")}}},
            "503": {"description": "Cannot serve", "content": {_JSON: {"schema": _ref("Health")}}},
        }}},
    "/api/v1/workers/health": {"get": {
        "summary": "Per-worker state, RTT, heartbeat, capacity", "security": _BEARER,
        "responses": {**_ok("WorkerHealth"), **_errors(401)}}},
    "/api/v1/workers/register": {"post": {
        "summary": "A worker joins (cluster secret)", "security": _SECRET,
        "requestBody": _json_body("WorkerRegistration"),
        "responses": {**_ok("WorkerAck"), **_errors(400, 401, 413)}}},
    "/api/v1/workers/{worker_id}/heartbeat": {"post": {
        "summary": "A worker's heartbeat (cluster secret)", "security": _SECRET,
        "parameters": [{"name": "worker_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": _json_body("Heartbeat"),
        "responses": {**_ok("WorkerAck"), **_errors(400, 401, 404, 413)}}},
    "/api/v1/admin/cluster": {"get": {
        "summary": "Cluster view: workers, counts, repair backlog, bytes at risk (admin)",
        "security": _BEARER, "responses": {**_ok("ClusterView"), **_errors(401, 403)}}},
    "/api/v1/admin/workers/{worker_id}/drain": {
        "parameters": [{"name": "worker_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "post": {"summary": "Drain a worker: move every chunk off it, then remove it (admin);"
                            " 409 when fewer than N other workers would be left",
                 "security": _BEARER,
                 "responses": {**_ok("DrainProgress", "202", "Drain started"),
                               **_errors(401, 403, 404, 409)}},
        "get": {"summary": "Drain progress (admin)", "security": _BEARER,
                "responses": {**_ok("DrainProgress"), **_errors(401, 403, 404)}},
    },
    "/api/v1/admin/audit": {"get": {
        "summary": "Audit log rows after an id, oldest first (admin)", "security": _BEARER,
        "parameters": [
            {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            {"name": "action", "in": "query", "schema": {"type": "string"}},
            {"name": "actor", "in": "query", "schema": {"type": "string"}}],
        "responses": {**_ok("AuditPage"), **_errors(400, 401, 403)}}},
    "/api/v1/files/upload/init": {"post": {
        "summary": "Start a resumable, parallel chunk session", "security": _BEARER,
        "requestBody": _json_body("SessionInit"),
        "responses": {**_ok("Session", "201", "Session created"),
                      **_errors(400, 401, 403, 404, 409, 413, 429)}}},
    "/api/v1/files/upload/{session_id}": {
        "parameters": [{"name": "session_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "get": {"summary": "Received and missing parts", "security": _BEARER,
                "responses": {**_ok("SessionStatus"), **_errors(401, 404, 410)}},
        "delete": {"summary": "Abort the session", "security": _BEARER,
                   "responses": {**_ok("SessionAborted"), **_errors(401, 404, 409, 410)}},
    },
    "/api/v1/files/upload/{session_id}/chunks/{index}": {"put": {
        "summary": "Send part `index` (raw body), or reference a held chunk by X-Chunk-Id",
        "security": _BEARER,
        "parameters": [
            {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "index", "in": "path", "required": True,
             "schema": {"type": "integer", "minimum": 0}},
            {"name": "X-Chunk-Id", "in": "header", "required": False,
             "schema": {"type": "string"}},
            *WRITE_NEEDS_HEADERS,
        ],
        "requestBody": {"required": False, "content": _BYTES},
        "responses": {**_ok("Part"), **_errors(400, 401, 404, 409, 410, 412, 413, 503)}}},
    "/api/v1/files/upload/{session_id}/complete": {"post": {
        "summary": "Verify and commit the file", "security": _BEARER,
        "parameters": [{"name": "session_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {**_ok("Receipt", "201", "Uploaded"),
                      **_errors(400, 401, 404, 409, 410, 503)}}},
    "/api/v1/chunks/has": {"post": {
        "summary": "Which chunk ids the cluster holds with enough copies to reference",
        "security": _BEARER, "requestBody": _json_body("ChunkIds"),
        "responses": {**_ok("ChunkPresence"), **_errors(400, 401, 413)}}},
    "/api/v1/openapi.json": {"get": {
        "summary": "This document", "security": [],
        "responses": {"200": {"description": "OpenAPI 3", "content": {_JSON: {"schema": {
            "type": "object"}}}}}}},
    "/metrics": {"get": {
        "summary": "Prometheus metrics", "security": [],
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "EchoFS master API", "version": "1.0.0",
             "description": "Distributed, chunked, content-addressed file store. Every"
                            " authenticated route may answer 429 rate_limited (with"
                            " Retry-After) past RATE_LIMIT_PER_USER / RATE_LIMIT_PER_KEY."},
    "security": _BEARER,
    "paths": openapi_quotas.amend({**_PATHS, **openapi_namespace.PATHS, **openapi_links.PATHS,
                                   **openapi_access.PATHS, **openapi_events.PATHS}),
    "components": {
        "schemas": {**SCHEMAS, **openapi_namespace.SCHEMAS, **openapi_links.SCHEMAS,
                    **openapi_access.SCHEMAS, **openapi_quotas.SCHEMAS,
                    **openapi_events.SCHEMAS},
        "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "bearerFormat": "JWT, or an API key token (efk_...)"},
            "clusterSecret": {"type": "apiKey", "in": "header", "name": "X-EchoFS-Cluster-Auth"},
        },
    },
}


@routes.get("/api/v1/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)

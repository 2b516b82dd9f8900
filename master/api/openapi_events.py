"""OpenAPI description of DESIGN §13's routes: the change feed and webhooks.

Kept beside ``openapi.py`` (which merges ``PATHS`` and ``SCHEMAS`` into the document).
The ``Event`` schema is the one event shape readers, SSE streams and webhook bodies
share.
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
from master.domain.events import EVENT_TYPES

__all__ = ["PATHS", "SCHEMAS"]

_TEXT = {400: "Invalid input (bad parameter, cursor never handed out, target refused:"
              " code target_not_allowed)",
         401: "Missing or invalid credentials",
         404: "Not found (or a bucket you cannot read)",
         410: "cursor_expired: events after the cursor were pruned (EVENTS_RETENTION_S)",
         413: "Body too large", 429: "Too many webhooks for this user",
         503: "Dependency down"}


def _errors(*statuses: int) -> dict[str, Any]:
    return errors(_TEXT, *statuses)











def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_STAMP = {"type": "string", "format": "date-time", "nullable": True}
_WEBHOOK_ID = {"name": "webhook_id", "in": "path", "required": True,
               "schema": {"type": "string"}}

PATHS: dict[str, Any] = {
    "/api/v1/events": {"get": {
        "summary": "The change feed: long poll, or SSE with Accept: text/event-stream",
        "description": (
            "Events of buckets the caller can read, oldest first. Ids only grow: resuming"
            " after id k misses nothing that commits later, even a change that began"
            " earlier. Without `after` the feed starts after every change that committed"
            " before the call. The answer's `last_id` is where the next poll starts (it"
            " also moves past events that did not match the filter). With `Accept:"
            " text/event-stream` the same events stream as SSE: `id:` is the event id,"
            " `event:` its type, `data:` the Event as JSON; reconnect with `Last-Event-ID`."
            " A stream also sends `id:` alone after skipping non-matching events, comment"
            " keepalives, and an `error` event (then ends) if its cursor expires."),
        "security": _BEARER,
        "parameters": [
            _query("bucket", {"type": "string"}, "Only this bucket's events"),
            _query("prefix", {"type": "string", "maxLength": 1024},
                   "Only paths (or a move's source path) starting with this"),
            _query("types", {"type": "string"},
                   f"Comma-separated event types, of: {', '.join(EVENT_TYPES)}"),
            _query("after", {"type": "integer", "minimum": 0},
                   "Resume after this event id (default: from now on)"),
            _query("wait_s", {"type": "number", "minimum": 0, "maximum": 3600},
                   "Wait up to this long for a matching event (capped by"
                   " EVENTS_MAX_WAIT_S); 0 answers at once"),
            _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                   "At most this many events (default 100)"),
            {"name": "Last-Event-ID", "in": "header", "required": False,
             "schema": {"type": "string"},
             "description": "SSE only: resume after this event id"},
        ],
        "responses": {
            "200": {"description": "Events after the cursor (or an SSE stream)", "content": {
                _JSON: {"schema": _envelope(_ref("EventPage"))},
                "text/event-stream": {"schema": {"type": "string"}}}},
            **_errors(400, 401, 404, 410),
        }}},
    "/api/v1/webhooks": {
        "get": {"summary": "The caller's webhooks (an admin's: everyone's), with delivery"
                           " state", "security": _BEARER,
                "responses": {**_ok("WebhookList"), **_errors(401)}},
        "post": {
            "summary": "Register a webhook: each matching event is POSTed to `url`",
            "description": (
                "Each event is POSTed alone as JSON (an Event) with `X-EchoFS-Event-Id`,"
                " `X-EchoFS-Webhook-Id` and `X-EchoFS-Signature: sha256=<hex HMAC-SHA256"
                " of the exact body, keyed with the UTF-8 bytes of `secret`>`. 2xx means"
                " delivered; anything else (redirects included) is retried with capped"
                " exponential backoff, in order, at least once, across master restarts."
                " The URL's host must be in WEBHOOK_ALLOWED_HOSTS (else 400"
                " target_not_allowed). The secret is never shown again."),
            "security": _BEARER,
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref(
                "WebhookRegistration")}}},
            "responses": {**_ok("Webhook", "201", "Registered"),
                          **_errors(400, 401, 404, 413, 429)}},
    },
    "/api/v1/webhooks/{webhook_id}": {
        "parameters": [_WEBHOOK_ID],
        "get": {"summary": "A webhook's delivery state: cursor, pending, last error",
                "security": _BEARER, "responses": {**_ok("Webhook"), **_errors(401, 404)}},
        "delete": {"summary": "Stop and remove a webhook", "security": _BEARER,
                   "responses": {**_ok("WebhookDeleted"), **_errors(401, 404)}},
    },
}

_EVENT_PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer", "description": "Grows with each event; resume after it"},
    "type": {"type": "string", "enum": list(EVENT_TYPES)},
    "bucket": {"type": "string"},
    "path": {"type": "string", "description": "'' for bucket.* events"},
    "from_bucket": {"type": "string",
                    "description": "A move or copy from another bucket (a move also"
                                   " raises file.deleted there)"},
    "from_path": {"type": "string", "description": "file.moved / file.copied: the source"},
    "version_id": {"type": "string", "description": "The version the change made current"
                                                    " (a delete marker's for a versioned"
                                                    " delete)"},
    "size": {"type": "integer"},
    "etag": {"type": "string", "description": "SHA-256 of the content"},
    "actor": {"type": "string", "description": "Username of who made the change"},
    "at": {"type": "string", "format": "date-time", "description": "When it changed"},
}

SCHEMAS: dict[str, Any] = {
    "Event": {"type": "object", "required": ["id", "type", "bucket", "path", "actor", "at"],
              "properties": _EVENT_PROPERTIES},
    "EventPage": {"type": "object", "required": ["events", "last_id"], "properties": {
        "events": {"type": "array", "items": _ref("Event")},
        "last_id": {"type": "integer", "description": "Pass as `after` next time"}}},
    "WebhookRegistration": {"type": "object", "required": ["url", "bucket", "secret"],
                            "properties": {
        "url": {"type": "string"}, "bucket": {"type": "string"},
        "prefix": {"type": "string", "maxLength": 1024},
        "types": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "secret": {"type": "string", "minLength": 16, "maxLength": 256}}},
    "Webhook": {"type": "object", "required": ["webhook_id", "url", "bucket", "state",
                                               "cursor", "pending"], "properties": {
        "webhook_id": {"type": "string"}, "url": {"type": "string"},
        "bucket": {"type": "string"}, "prefix": {"type": "string"},
        "types": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "state": {"type": "string", "enum": ["active", "cursor_expired"]},
        "cursor": {"type": "integer", "description": "Last event id examined"},
        "pending": {"type": "integer", "description": "Matching events after the cursor"
                                                      " (counted up to 10 000)"},
        "delivered": {"type": "integer"},
        "failures": {"type": "integer", "description": "Failed attempts in a row"},
        "last_status": {"type": "integer", "nullable": True},
        "last_error": {"type": "string", "nullable": True},
        "last_attempt_at": _STAMP, "last_delivered_at": _STAMP, "next_attempt_at": _STAMP,
        "created_at": {"type": "string", "format": "date-time"}}},
    "WebhookList": {"type": "object", "required": ["webhooks"], "properties": {
        "webhooks": {"type": "array", "items": _ref("Webhook")}}},
    "WebhookDeleted": {"type": "object", "required": ["webhook_id"], "properties": {
        "webhook_id": {"type": "string"}}},
}

"""Component schemas of the master's OpenAPI document (see openapi.py)."""

from __future__ import annotations

from typing import Any

from master.api.openapi_parts import ref as _ref

__all__ = ["SCHEMAS", "WRITE_NEEDS_HEADERS", "WRITE_NEEDS_PROPERTIES"]

# Per-request write needs (issue 23, master/domain/write_needs.py): headers on every route
# that writes chunks; the multipart upload also takes them as form fields.
_MIN_COPIES = {"type": "integer", "minimum": 1, "maximum": 9,
               "description": "Fewest synchronous copies before the upload is acknowledged:"
                              " W = max(the mode's W, this); at most the replication factor"
                              " (400 otherwise). A mode change never lowers W below it."}
_BUDGET = {"type": "integer", "minimum": 1, "maximum": 600000,
           "description": "Milliseconds from the start of the request within which every"
                          " chunk's write quorum must be met; otherwise 412"
                          " latency_budget_exceeded (nothing committed; retrying may"
                          " succeed). Never weakens the mode."}
WRITE_NEEDS_HEADERS: list[dict[str, Any]] = [
    {"name": "X-EchoFS-Min-Sync-Copies", "in": "header", "required": False,
     "schema": _MIN_COPIES},
    {"name": "X-EchoFS-Latency-Budget-Ms", "in": "header", "required": False,
     "schema": _BUDGET},
]
WRITE_NEEDS_PROPERTIES: dict[str, Any] = {"min_sync_copies": _MIN_COPIES,
                                          "latency_budget_ms": _BUDGET}




SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["success", "message", "code"],
        "properties": {"success": {"type": "boolean", "enum": [False]},
                       "message": {"type": "string"}, "code": {"type": "string"},
                       "data": {"nullable": True}, "details": {"type": "object"}},
    },
    "Credentials": {
        "type": "object", "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{3,64}$"},
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
        },
    },
    "User": {
        "type": "object", "required": ["user_id", "username", "is_admin", "home_bucket"],
        "properties": {"user_id": {"type": "integer"}, "username": {"type": "string"},
                       "is_admin": {"type": "boolean"}, "home_bucket": {"type": "string"}},
    },
    "Token": {
        "type": "object", "required": ["token", "token_type", "expires_in"],
        "properties": {"token": {"type": "string"}, "token_type": {"type": "string"},
                       "expires_in": {"type": "integer"}, "user_id": {"type": "integer"},
                       "username": {"type": "string"}, "home_bucket": {"type": "string"}},
    },
    "Receipt": {
        "type": "object",
        "required": ["file_id", "path", "size", "sha256", "chunks", "dedup_chunks", "mode",
                     "replicas"],
        "properties": {
            "file_id": {"type": "string", "format": "uuid"}, "bucket": {"type": "string"},
            "path": {"type": "string"},
            "size": {"type": "integer"}, "sha256": {"type": "string"},
            "chunks": {"type": "integer"}, "dedup_chunks": {"type": "integer"},
            "mode": {"type": "string", "enum": ["C", "A", "Hybrid"]},
            "replicas": {"type": "object", "required": ["target", "acked", "pending"],
                         "properties": {"target": {"type": "integer"},
                                        "acked": {"type": "integer"},
                                        "pending": {"type": "integer"}}},
            "sync": {"type": "object", "description":
                     "What the request needed and got: W applied (the stronger of the mode's"
                     " and min_sync_copies), copies at acknowledgement (smallest over the"
                     " chunks), time taken and whether it was within latency_budget_ms",
                     "required": ["required", "achieved", "elapsed_ms"],
                     "properties": {"required": {"type": "integer"},
                                    "achieved": {"type": "integer"},
                                    "min_sync_copies": {"type": "integer", "nullable": True},
                                    "latency_budget_ms": {"type": "integer", "nullable": True},
                                    "elapsed_ms": {"type": "number"},
                                    "within_budget": {"type": "boolean", "nullable": True}}},
        },
    },
    "FileSummary": {
        "type": "object", "required": ["file_id", "path", "size", "sha256", "mode"],
        "properties": {"file_id": {"type": "string"}, "path": {"type": "string"},
                       "size": {"type": "integer"}, "sha256": {"type": "string"},
                       "mode": {"type": "string"}, "updated_at": {"type": "string"}},
    },
    "FileList": {
        "type": "object", "required": ["files", "next_cursor"],
        "properties": {"files": {"type": "array", "items": _ref("FileSummary")},
                       "next_cursor": {"type": "string", "nullable": True}},
    },
    "FileMetadata": {
        "type": "object", "required": ["file_id", "path", "size", "sha256", "mode", "chunks"],
        "properties": {
            "file_id": {"type": "string"}, "path": {"type": "string"},
            "size": {"type": "integer"}, "sha256": {"type": "string"}, "mode": {"type": "string"},
            "chunk_size": {"type": "integer"}, "consistency_hint": {"type": "string"},
            "version_id": {"type": "string"}, "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "chunks": {"type": "array", "items": {
                "type": "object", "required": ["index", "chunk_id", "size", "replicas"],
                "properties": {
                    "index": {"type": "integer"}, "chunk_id": {"type": "string"},
                    "size": {"type": "integer"}, "stored_size": {"type": "integer"},
                    "codec": {"type": "string", "enum": ["raw", "zstd"]},
                    "replicas": {"type": "array", "items": {
                        "type": "object", "required": ["worker_id", "state"],
                        "properties": {"worker_id": {"type": "string"},
                                       "state": {"type": "string",
                                                 "enum": ["live", "corrupt", "missing"]}}}},
                }}},
        },
    },
    "Deleted": {
        "type": "object", "required": ["file_id", "path"],
        "properties": {"file_id": {"type": "string"}, "path": {"type": "string"}},
    },
    "Health": {
        "type": "object", "required": ["status", "service", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "service": {"type": "string"},
            "checks": {"type": "object",
                       "required": ["postgres", "redis", "workers_healthy", "workers_total"],
                       "properties": {"postgres": {"type": "boolean"},
                                      "redis": {"type": "boolean"},
                                      "workers_healthy": {"type": "integer"},
                                      "workers_total": {"type": "integer"}}},
        },
    },
    "WorkerHealth": {
        "type": "object", "required": ["workers"],
        "properties": {"workers": {"type": "array", "items": {
            "type": "object",
            "required": ["worker_id", "address", "state", "rtt_ms", "last_heartbeat",
                         "capacity_bytes", "used_bytes"],
            "properties": {
                "worker_id": {"type": "string"}, "address": {"type": "string"},
                "zone": {"type": "string"}, "state": {"type": "string"},
                "rtt_ms": {"type": "number", "nullable": True},
                "last_heartbeat": {"type": "string"}, "capacity_bytes": {"type": "integer"},
                "used_bytes": {"type": "integer"}, "chunk_count": {"type": "integer"},
                "metrics_url": {"type": "string"},
                "rtt_p99_ms": {"type": "number", "nullable": True}}}}},
    },
    "WorkerRegistration": {
        "type": "object", "required": ["worker_id", "address"],
        "properties": {"worker_id": {"type": "string"}, "address": {"type": "string"},
                       "zone": {"type": "string"}, "metrics_url": {"type": "string"},
                       "capacity_bytes": {"type": "integer", "minimum": 0},
                       "used_bytes": {"type": "integer", "minimum": 0},
                       "chunk_count": {"type": "integer", "minimum": 0}},
    },
    "Heartbeat": {
        "type": "object",
        "properties": {"capacity_bytes": {"type": "integer", "minimum": 0},
                       "used_bytes": {"type": "integer", "minimum": 0},
                       "chunk_count": {"type": "integer", "minimum": 0},
                       "draining": {"type": "boolean"},
                       "corrupt_chunk_ids": {"type": "array", "items": {"type": "string"}}},
    },
    "AuditPage": {
        "type": "object", "required": ["entries", "next_after"],
        "properties": {
            "next_after": {"type": "integer"},
            "entries": {"type": "array", "items": {
                "type": "object",
                "required": ["id", "at", "actor", "action", "target", "outcome"],
                "properties": {
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "actor": {"type": "string"}, "actor_id": {"type": "integer",
                                                             "nullable": True},
                    "via": {"type": "string"}, "action": {"type": "string"},
                    "target": {"type": "string"},
                    "outcome": {"type": "string", "enum": ["ok", "denied", "failed"]},
                    "client": {"type": "string"}, "details": {"type": "object"}}}},
        },
    },
    "ClusterView": {
        "type": "object",
        "required": ["workers", "files", "chunks", "stored_bytes", "under_replicated_chunks",
                     "oldest_repair_item_seconds", "bytes_at_risk"],
        "properties": {
            "workers": {"type": "array", "items": {"type": "object"}},
            "files": {"type": "integer"}, "chunks": {"type": "integer"},
            "stored_bytes": {"type": "integer"}, "raw_bytes": {"type": "integer"},
            "under_replicated_chunks": {"type": "integer"},
            "oldest_repair_item_seconds": {"type": "number"},
            "bytes_at_risk": {"type": "integer"}, "replication_factor": {"type": "integer"}},
    },
    "DrainProgress": {
        "type": "object", "required": ["worker_id", "state", "chunks_total", "chunks_remaining"],
        "properties": {"worker_id": {"type": "string"}, "state": {"type": "string"},
                       "done": {"type": "boolean"}, "queued": {"type": "integer"},
                       "chunks_total": {"type": "integer"},
                       "chunks_remaining": {"type": "integer"}},
    },
    "SessionInit": {
        "type": "object", "required": ["file_name", "file_size"],
        "properties": {"file_name": {"type": "string"}, "file_size": {"type": "integer"},
                       "bucket": {"type": "string", "description":
                                  "bucket to commit into; default the caller's home bucket"},
                       "path": {"type": "string"}, "chunk_size": {"type": "integer"},
                       "sha256": {"type": "string"},
                       "consistency": {"type": "string",
                                       "enum": ["auto", "strong", "available"]}},
    },
    "Session": {
        "type": "object", "required": ["session_id", "chunk_size", "total_chunks", "expires_at"],
        "properties": {"session_id": {"type": "string"}, "bucket": {"type": "string"},
                       "path": {"type": "string"},
                       "chunk_size": {"type": "integer"}, "total_chunks": {"type": "integer"},
                       "expires_at": {"type": "string"}},
    },
    "SessionStatus": {
        "type": "object", "required": ["session_id", "state", "received", "missing"],
        "properties": {"session_id": {"type": "string"}, "state": {"type": "string"},
                       "bucket": {"type": "string"}, "path": {"type": "string"},
                       "received": {"type": "array", "items": {"type": "integer"}},
                       "missing": {"type": "array", "items": {"type": "integer"}},
                       "bytes_received": {"type": "integer"}},
    },
    "SessionAborted": {
        "type": "object", "required": ["session_id", "state"],
        "properties": {"session_id": {"type": "string"}, "state": {"type": "string"}},
    },
    "Part": {
        "type": "object", "required": ["session_id", "index", "size"],
        "properties": {"session_id": {"type": "string"}, "index": {"type": "integer"},
                       "size": {"type": "integer"}, "already_present": {"type": "boolean"},
                       "referenced": {"type": "boolean"}},
    },
    "ChunkIds": {
        "type": "object", "required": ["chunk_ids"],
        "properties": {"chunk_ids": {"type": "array", "items": {"type": "string"}}},
    },
    "ChunkPresence": {
        "type": "object", "required": ["present"],
        "properties": {"present": {"type": "object"}, "live_copies": {"type": "object"},
                       "required_copies": {"type": "integer"}},
    },
    "WorkerAck": {
        "type": "object", "required": ["worker_id"],
        "properties": {"worker_id": {"type": "string"}, "state": {"type": "string"}},
    },
}

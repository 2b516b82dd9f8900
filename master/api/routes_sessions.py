"""Resumable chunk sessions and the content-aware chunk lookup."""

from __future__ import annotations

import uuid

from aiohttp import web

from common.chunks import CHUNK_ID_RE
from common.errors import InvalidInput, NotFound, PayloadTooLarge
from master.api.common import ok, principal_of, read_json_object, services_of
from master.api.request_needs import parse_write_needs
from master.domain.records import SessionRecord
from master.services.access import Permission
from master.services.paths import normalize_path

__all__ = ["routes"]

routes = web.RouteTableDef()

_MAX_HAS_IDS = 10_000


def _optional_int(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"field {key!r} must be an integer")
    return value


@routes.post("/api/v1/files/upload/init")
async def init_session(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    file_name = body.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise InvalidInput("field 'file_name' is required")
    file_size = _optional_int(body, "file_size")
    if file_size is None:
        raise InvalidInput("field 'file_size' is required")
    raw_path = body.get("path")
    if raw_path is not None and not isinstance(raw_path, str):
        raise InvalidInput("field 'path' must be a string")
    path = normalize_path(raw_path or file_name)
    sha256 = body.get("sha256")
    consistency = body.get("consistency", "auto")
    if sha256 is not None and not isinstance(sha256, str):
        raise InvalidInput("field 'sha256' must be a string")
    if not isinstance(consistency, str):
        raise InvalidInput("field 'consistency' must be a string")
    bucket = body.get("bucket")
    if bucket is not None and (not isinstance(bucket, str) or not bucket):
        raise InvalidInput("field 'bucket' must be a bucket name")
    session = await services_of(request).sessions.init(
        principal_of(request), bucket=bucket, path=path, file_name=file_name[:1024],
        file_size=file_size, chunk_size=_optional_int(body, "chunk_size"),
        sha256=sha256.lower() if sha256 else None, consistency=consistency.lower(),
    )
    return ok({"session_id": str(session.id), "bucket": session.bucket, "path": session.path,
               "chunk_size": session.chunk_size, "total_chunks": session.total_chunks,
               "expires_at": session.expires_at.isoformat()}, "session created", status=201)


async def _session(request: web.Request, need: Permission = Permission.WRITE
                   ) -> SessionRecord:
    """The caller's session, if it still holds ``need`` on the session's bucket."""
    try:
        session_id = uuid.UUID(request.match_info["session_id"])
    except ValueError:
        raise NotFound("no such upload session") from None
    return await services_of(request).sessions.open_session(
        principal_of(request), session_id, need=need
    )


def _index(request: web.Request) -> int:
    raw = request.match_info["index"]
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput("chunk index must be a non-negative integer")
    return int(raw)


@routes.put("/api/v1/files/upload/{session_id}/chunks/{index}")
async def put_part(request: web.Request) -> web.Response:
    """Raw body = the part's bytes. Idempotent. With ``X-Chunk-Id`` and an empty body,
    the part is a chunk a file the caller can read already references (see POST
    /api/v1/chunks/has); any other id is refused as unknown: send the bytes."""
    services = services_of(request)
    session = await _session(request)
    index = _index(request)
    needs = parse_write_needs(request, services.settings.replication_factor)
    expected = session.part_size(index)
    reference = request.headers.get("X-Chunk-Id")
    if reference is not None and not request.can_read_body:
        if not CHUNK_ID_RE.fullmatch(reference):
            raise InvalidInput("X-Chunk-Id must be a chunk id (64 lowercase hex digits)")
        await services.sessions.reference_part(principal_of(request), session, index,
                                               reference)
        return ok({"session_id": str(session.id), "index": index, "size": expected,
                   "referenced": True}, "part referenced")
    if request.content_length is not None and request.content_length != expected:
        raise InvalidInput(f"part {index} must be {expected} bytes, got {request.content_length}")
    data = bytearray()
    while len(data) <= expected:
        piece = await request.content.read(expected + 1 - len(data))
        if not piece:
            break
        data += piece
    if len(data) > expected:
        raise PayloadTooLarge(f"part {index} must be {expected} bytes")
    present = await services.sessions.put_part(session, index, bytes(data), needs)
    return ok({"session_id": str(session.id), "index": index, "size": len(data),
               "already_present": present}, "part stored")


@routes.get("/api/v1/files/upload/{session_id}")
async def session_status(request: web.Request) -> web.Response:
    status = await services_of(request).sessions.status(
        await _session(request, Permission.READ))
    return ok(status.to_json())


@routes.post("/api/v1/files/upload/{session_id}/complete")
async def complete_session(request: web.Request) -> web.Response:
    receipt = await services_of(request).sessions.complete(await _session(request))
    services_of(request).metrics.uploads.inc()
    return ok(receipt.to_json(), "uploaded", status=201)


@routes.delete("/api/v1/files/upload/{session_id}")
async def abort_session(request: web.Request) -> web.Response:
    session = await _session(request)
    await services_of(request).sessions.abort(session)
    return ok({"session_id": str(session.id), "state": "aborted"}, "aborted")


@routes.post("/api/v1/chunks/has")
async def chunks_has(request: web.Request) -> web.Response:
    """Which of these chunk ids the caller may reference: held with enough live copies
    and referenced by a file it can read. Any other id answers absent, stored or not."""
    body = await read_json_object(request)
    chunk_ids = body.get("chunk_ids")
    if (not isinstance(chunk_ids, list) or len(chunk_ids) > _MAX_HAS_IDS
            or not all(isinstance(c, str) and CHUNK_ID_RE.fullmatch(c) for c in chunk_ids)):
        raise InvalidInput(f"chunk_ids must be a list of at most {_MAX_HAS_IDS} chunk ids")
    presence = await services_of(request).sessions.chunk_presence(
        principal_of(request), chunk_ids
    )
    return ok(presence.to_json())

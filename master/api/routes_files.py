"""File routes by id and wave-1's multipart upload and flat listing (home bucket).

Path routes (``/api/v1/fs/{bucket}/{path}``) are in ``routes_fs``.
"""

from __future__ import annotations

import base64

from aiohttp import BodyPartReader, web

from common.errors import InvalidInput, PayloadTooLarge
from common.quorum import Hint
from master.api.common import ok, parse_file_id, principal_of, query_text, services_of
from master.api.file_responses import send_file
from master.api.request_needs import FORM_FIELDS, parse_write_needs
from master.services.files import FileSnapshot
from master.services.paths import normalize_path

__all__ = ["check_declared_length", "parse_hint", "routes"]

routes = web.RouteTableDef()

_HINTS = {"auto": Hint.AUTO, "strong": Hint.STRONG, "available": Hint.AVAILABLE}
_MAX_FIELD_BYTES = 4096


def parse_hint(raw: str | None) -> Hint:
    if raw is None or raw == "":
        return Hint.AUTO
    try:
        return _HINTS[raw.strip().lower()]
    except KeyError:
        raise InvalidInput("consistency must be one of auto, strong, available") from None


@routes.post("/api/v1/files/upload")
async def upload_multipart(request: web.Request) -> web.Response:
    """multipart/form-data: optional ``path`` and ``consistency`` fields, then ``file``.

    Fields must come before the file part (the write quorum depends on them and the
    file is streamed, never buffered); they may also be given as query parameters.
    ``min_sync_copies`` / ``latency_budget_ms`` fields (or their headers) state the
    request's needs (``request_needs``).
    """
    services = services_of(request)
    if not request.content_type.startswith("multipart/form-data"):
        raise InvalidInput("expected multipart/form-data with a 'file' part")
    check_declared_length(request, services.settings.max_upload_bytes)
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise InvalidInput(f"malformed multipart body: {exc}") from exc
    fields = {k: query_text(request, k) for k in ("path", "consistency") if k in request.query}
    while True:
        try:
            part = await reader.next()
        except ValueError as exc:
            raise InvalidInput(f"malformed multipart body: {exc}") from exc
        if part is None:
            raise InvalidInput("multipart body has no 'file' part")
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not supported")
        if part.name in {"path", "consistency", *FORM_FIELDS}:
            value = await part.read(decode=True)
            if len(value) > _MAX_FIELD_BYTES:
                raise InvalidInput(f"field {part.name!r} is too long")
            try:
                fields[part.name] = value.decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                raise InvalidInput(f"field {part.name!r} is not UTF-8") from None
            continue
        if part.name != "file":
            await part.release()
            continue
        path = normalize_path(fields.get("path") or part.filename or "")
        hint = parse_hint(fields.get("consistency"))
        needs = parse_write_needs(request, services.settings.replication_factor, fields)
        receipt = await services.uploads.upload(
            principal_of(request), None, path, hint, part.read_chunk, needs=needs
        )
        return ok(receipt.to_json(), "uploaded", status=201)


def check_declared_length(request: web.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"upload of {request.content_length} bytes exceeds {limit}")


@routes.get("/api/v1/files")
async def list_files(request: web.Request) -> web.Response:
    services = services_of(request)
    prefix = query_text(request, "prefix")
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise InvalidInput("limit must be an integer") from None
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    cursor = query_text(request, "cursor", max_len=4096)
    try:
        after = base64.urlsafe_b64decode(cursor.encode()).decode() if cursor else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not one this server issued") from None
    if "\x00" in after:
        raise InvalidInput("cursor is not one this server issued")
    rows = await services.files.list_files(principal_of(request), prefix, after, limit)
    next_cursor = (
        base64.urlsafe_b64encode(rows[-1].path.encode()).decode() if len(rows) == limit else None
    )
    return ok({
        "files": [
            {"file_id": str(r.id), "path": r.path, "size": r.size, "sha256": r.sha256,
             "mode": r.mode, "updated_at": r.updated_at.isoformat()}
            for r in rows
        ],
        "next_cursor": next_cursor,
    })


@routes.get("/api/v1/files/{file_id}")
async def file_metadata(request: web.Request) -> web.Response:
    file_id = parse_file_id(request.match_info["file_id"])
    details = await services_of(request).files.details(principal_of(request), file_id)
    record, chunks, states = details.record, details.chunks, details.replica_states
    return ok({
        "file_id": str(record.id), "bucket": record.bucket, "path": record.path,
        "size": record.size, "sha256": record.sha256, "mode": record.mode,
        "chunk_size": record.chunk_size,
        "consistency_hint": record.consistency_hint, "version_id": str(record.version_id),
        "created_at": record.created_at.isoformat(), "updated_at": record.updated_at.isoformat(),
        "chunks": [
            {"index": c.idx, "chunk_id": c.chunk_id, "size": c.raw_size,
             "stored_size": c.stored_size, "codec": c.codec.value,
             "replicas": [{"worker_id": w, "state": s} for w, s in states.get(c.chunk_id, [])]}
            for c in chunks
        ],
    })


@routes.get("/api/v1/files/{file_id}/download")
async def download_by_id(request: web.Request) -> web.StreamResponse:
    files, caller = services_of(request).files, principal_of(request)
    file_id = parse_file_id(request.match_info["file_id"])
    if request.method == "HEAD":
        return await send_file(request, FileSnapshot(await files.by_id(caller, file_id), []))
    return await send_file(request, await files.snapshot(caller, file_id))


@routes.delete("/api/v1/files/{file_id}")
async def delete_by_id(request: web.Request) -> web.Response:
    file_id = parse_file_id(request.match_info["file_id"])
    record = await services_of(request).files.delete(principal_of(request), file_id)
    return ok({"file_id": str(record.id), "path": record.path}, "deleted")



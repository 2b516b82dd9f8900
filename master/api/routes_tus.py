"""tus 1.0.0 at /api/v1/tus/ (creation, termination, checksum, expiration)."""

from __future__ import annotations

import uuid
from datetime import UTC
from email.utils import format_datetime

from aiohttp import web

from common.errors import (
    ChecksumMismatch,
    EchoError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    http_status_of,
)
from common.http_edge import error_body
from master.api.common import principal_of, services_of
from master.domain.records import SessionRecord
from master.services.access import Permission
from master.services.paths import normalize_path
from master.services.tus import CHECKSUM_ALGORITHMS, parse_checksum, parse_metadata

__all__ = ["routes"]

routes = web.RouteTableDef()

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,checksum,expiration"


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **(extra or {})}


def _tus_error(error: EchoError) -> web.Response:
    """The shared error envelope (``common.http_edge``) with tus's headers; 460 is
    tus's "Checksum Mismatch"."""
    status = 460 if isinstance(error, ChecksumMismatch) else http_status_of(error)
    return web.json_response(error_body(error.code, error.message, error.details),
                             status=status, headers=_tus_headers())


def _version_refused(request: web.Request) -> web.Response | None:
    """412 with ``Tus-Version`` (what a tus client negotiates with) unless the request
    speaks tus 1.0.0. Returned, not raised: the generic error edge would drop the tus
    headers."""
    if request.headers.get("Tus-Resumable") == TUS_VERSION:
        return None
    response = _tus_error(PreconditionFailed(f"Tus-Resumable: {TUS_VERSION} is required"))
    response.headers["Tus-Version"] = TUS_VERSION
    return response


async def _session(request: web.Request, need: Permission = Permission.WRITE
                   ) -> SessionRecord:
    """The caller's tus upload, if it still holds ``need`` on the upload's bucket."""
    try:
        session_id = uuid.UUID(request.match_info["upload_id"])
    except ValueError:
        raise NotFound("no such tus upload") from None
    return await services_of(request).sessions.open_session(
        principal_of(request), session_id, "tus", need
    )


def _expires(session: SessionRecord) -> str:
    return format_datetime(session.expires_at.astimezone(UTC), usegmt=True)


@routes.options("/api/v1/tus/")
async def options(request: web.Request) -> web.Response:
    settings = services_of(request).settings
    return web.Response(status=204, headers=_tus_headers({
        "Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS,
        "Tus-Max-Size": str(settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }))


@routes.post("/api/v1/tus/")
async def create(request: web.Request) -> web.Response:
    if (refused := _version_refused(request)) is not None:
        return refused
    services = services_of(request)
    try:
        if "Upload-Defer-Length" in request.headers:
            raise InvalidInput("Upload-Defer-Length is not supported; send Upload-Length")
        raw_length = request.headers.get("Upload-Length", "")
        if not raw_length.isdigit():
            raise InvalidInput("Upload-Length must be a non-negative integer")
        metadata = parse_metadata(request.headers.get("Upload-Metadata"))
        name = metadata.get("filename") or metadata.get("name") or ""
        # No name given: the file still needs a path; it can be renamed by re-upload.
        path = normalize_path(metadata.get("path") or name or f"tus/{uuid.uuid4()}")
        session = await services.sessions.init(
            principal_of(request), bucket=None, path=path, file_name=(name or path)[:1024],
            file_size=int(raw_length), chunk_size=None, sha256=None,
            consistency=metadata.get("consistency", "auto").lower(), protocol="tus",
            metadata=metadata,
        )
        headers = {"Location": f"{request.url.origin()}/api/v1/tus/{session.id}",
                   "Upload-Expires": _expires(session), "Upload-Offset": "0"}
        if session.file_size == 0:
            receipt = await services.sessions.complete(session)
            headers["X-Echofs-File-Id"] = str(receipt.file_id)
    except EchoError as exc:
        return _tus_error(exc)
    return web.Response(status=201, headers=_tus_headers(headers))


@routes.head("/api/v1/tus/{upload_id}")
async def head(request: web.Request) -> web.Response:
    if (refused := _version_refused(request)) is not None:
        return refused
    services = services_of(request)
    try:
        session = await _session(request, Permission.READ)
        offset = await services.tus.offset(session) if session.state != "completed" \
            else session.file_size
    except EchoError as exc:
        return web.Response(status=http_status_of(exc), headers=_tus_headers())
    return web.Response(status=200, headers=_tus_headers({
        "Upload-Offset": str(offset), "Upload-Length": str(session.file_size),
        "Upload-Expires": _expires(session), "Cache-Control": "no-store",
    }))


@routes.patch("/api/v1/tus/{upload_id}")
async def patch(request: web.Request) -> web.Response:
    if (refused := _version_refused(request)) is not None:
        return refused
    services = services_of(request)
    try:
        if request.content_type != "application/offset+octet-stream":
            return web.Response(status=415, headers=_tus_headers())
        raw_offset = request.headers.get("Upload-Offset", "")
        if not raw_offset.isdigit():
            raise InvalidInput("Upload-Offset must be a non-negative integer")
        checksum = parse_checksum(request.headers.get("Upload-Checksum"))
        session = await _session(request)
        result = await services.tus.patch(session, int(raw_offset), request.content.read, checksum)
    except EchoError as exc:
        return _tus_error(exc)
    headers = {"Upload-Offset": str(result.offset), "Upload-Expires": _expires(session)}
    if result.receipt is not None:
        services.metrics.uploads.inc()
        headers["X-Echofs-File-Id"] = str(result.receipt.file_id)
    return web.Response(status=204, headers=_tus_headers(headers))


@routes.delete("/api/v1/tus/{upload_id}")
async def terminate(request: web.Request) -> web.Response:
    if (refused := _version_refused(request)) is not None:
        return refused
    try:
        session = await _session(request)
        await services_of(request).sessions.abort(session)
    except EchoError as exc:
        return _tus_error(exc)
    return web.Response(status=204, headers=_tus_headers())

"""Send a file version: headers from its record, verified bytes for GET, none for HEAD.

A caller that must account for each download (a link's uses) passes a ``use``: it is
claimed only when bytes are about to be sent (not for HEAD, 304 or 416) and released
if the download fails before its first byte.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from common.errors import EchoError
from master.api.common import services_of
from master.api.http_range import parse_range
from master.services.files import FileSnapshot

__all__ = ["DownloadUse", "send_file"]

log = logging.getLogger(__name__)


class DownloadUse(Protocol):
    """Something one download takes (a link's use): ``claim`` raises to refuse it."""

    async def claim(self) -> None: ...

    async def release(self) -> None: ...


async def send_file(
    request: web.Request, snapshot: FileSnapshot, *, use: DownloadUse | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Headers from the snapshot's version; for GET, its verified bytes (HEAD: none)."""
    services = services_of(request)
    record = snapshot.record
    etag = f'"{record.sha256}"'
    if request.headers.get("If-None-Match") in {etag, "*"}:
        return web.Response(status=304, headers={"ETag": etag, **(extra_headers or {})})
    byte_range = parse_range(
        request.headers.get("Range"), record.size, request.headers.get("If-Range"), etag
    )
    name = record.path.rsplit("/", 1)[-1]
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}",
        "Last-Modified": record.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        # Names the file for /api/v1/files/{id} (chunks, replicas): what `echofs stat` shows.
        "X-Echofs-File-Id": str(record.id),
        **(extra_headers or {}),
    }
    if byte_range is None:
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = record.size
    else:
        response = web.StreamResponse(status=206, headers=headers)
        response.headers["Content-Range"] = (
            f"bytes {byte_range.start}-{byte_range.end}/{record.size}"
        )
        response.content_length = byte_range.length
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    if use is not None:
        await use.claim()
    stream = services.downloads.stream(record, snapshot.chunks, byte_range)
    # Fetch the first chunk before committing to a status, so an unreadable file is
    # a JSON 503, not a truncated 200.
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except Exception:
        if use is not None:  # nothing was sent: the download did not happen
            await use.release()
        raise
    await response.prepare(request)
    try:
        # As memoryviews: asyncio's transport (3.11) slices off what the socket took at
        # once, and slicing bytes would copy the rest of each piece first.
        if first:
            await response.write(memoryview(first))
        async for piece in stream:
            await response.write(memoryview(piece))
    except EchoError as exc:
        services.metrics.file_errors.labels("download", exc.code).inc()
        log.error("download failed mid-stream; closing the connection",
                  extra={"file_id": str(record.id), "error": str(exc)})
        if request.transport is not None:
            request.transport.close()
        return response
    finally:
        await stream.aclose()
    await response.write_eof()
    return response

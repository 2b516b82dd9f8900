"""GET and HEAD answers: S3's headers, conditional requests, one byte range, streaming.

Conditions follow S3 (RFC 9110's order): If-Match, else If-Unmodified-Since, may fail
with 412; If-None-Match, else If-Modified-Since, may answer 304. One range
(``bytes=a-b``, ``a-``, ``-n``); a malformed or multi-range header is ignored (the
whole object), one that cannot be satisfied is 416 InvalidRange with ``Content-Range:
bytes */<size>``. The bytes are the verified chunks, streamed with the download
read-ahead; a failure after the status is sent closes the connection.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from common.errors import EchoError
from master.s3.context import S3Call
from master.s3.errors import S3Error
from master.services.downloads import ByteRange
from master.services.objects import ObjectView

__all__ = ["check_conditions", "object_headers", "parse_range", "send_object"]

log = logging.getLogger(__name__)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Query parameters that override an answer's headers (presigned GETs use them).
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def _http_date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _etags(raw: str) -> set[str]:
    return {part.strip().removeprefix("W/").strip('"') for part in raw.split(",")}


def check_conditions(view: ObjectView, headers: Mapping[str, str | None],
                     for_copy: bool = False) -> bool:
    """Raise PreconditionFailed (412) for a failed If-Match / If-Unmodified-Since;
    return False when If-None-Match / If-Modified-Since say "not modified" (a copy
    source answers 412 for those too)."""
    modified = view.record.updated_at.replace(microsecond=0)
    if_match = headers.get("If-Match")
    if if_match is not None:
        if not (_etags(if_match) & {view.etag, "*"}):
            raise S3Error("PreconditionFailed", "the object's ETag is not If-Match's", 412)
    else:
        since = _http_date(headers.get("If-Unmodified-Since"))
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", "the object was modified since", 412)
    if_none_match = headers.get("If-None-Match")
    unchanged = False
    if if_none_match is not None:
        unchanged = bool(_etags(if_none_match) & {view.etag, "*"})
    else:
        since = _http_date(headers.get("If-Modified-Since"))
        unchanged = since is not None and modified <= since
    if unchanged and for_copy:
        raise S3Error("PreconditionFailed", "the copy source was not modified", 412)
    return not unchanged


def parse_range(header: str | None, size: int) -> ByteRange | None:
    if not header:
        return None
    match = _RANGE_RE.match(header.strip().replace(" ", ""))
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(header: str, size: int) -> S3Error:
    return S3Error("InvalidRange", f"range {header[:64]!r} is not satisfiable for"
                   f" {size} bytes", 416, {"Content-Range": f"bytes */{size}"})


def object_headers(view: ObjectView) -> dict[str, str]:
    """The headers describing the version (everything but length and range)."""
    attributes = view.attributes
    headers = {
        "ETag": f'"{view.etag}"',
        "Last-Modified": format_datetime(view.record.updated_at.astimezone(UTC),
                                         usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Type": attributes.content_type or "binary/octet-stream",
        **attributes.headers,
    }
    for name, value in attributes.metadata.items():
        headers[f"x-amz-meta-{name}"] = value
    if view.versioned:
        headers["x-amz-version-id"] = str(view.record.version_id)
    return headers


async def send_object(call: S3Call, view: ObjectView) -> web.StreamResponse:
    request = call.request
    headers = {**call.extra_headers, **object_headers(view)}
    if not check_conditions(view, request.headers):
        return web.Response(status=304, headers={
            k: v for k, v in headers.items()
            if k in {"ETag", "Last-Modified", "x-amz-request-id", "x-amz-version-id"}})
    for parameter, header in _OVERRIDES.items():
        if call.has_query(parameter):
            headers[header] = call.query(parameter)
    size = view.record.size
    byte_range = parse_range(request.headers.get("Range"), size)
    if byte_range is None:
        response = web.StreamResponse(status=200, headers=headers)
        response.content_length = size
    else:
        response = web.StreamResponse(status=206, headers=headers)
        response.headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
        response.content_length = byte_range.length
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    stream = call.services.downloads.stream(view.record, view.chunks, byte_range)
    try:
        # The first chunk before the status: an unreadable object is a 503, not a
        # truncated 200.
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = b""
        await response.prepare(request)
        try:
            if first:
                await response.write(memoryview(first))
            async for piece in stream:
                await response.write(memoryview(piece))
        except EchoError as exc:
            call.services.metrics.file_errors.labels("download", exc.code).inc()
            log.error("s3 download failed mid-stream; closing the connection",
                      extra={"file_id": str(view.record.id), "error": str(exc)})
            if request.transport is not None:
                request.transport.close()
            return response
    finally:
        await stream.aclose()
    await response.write_eof()
    return response

"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts.

CompleteMultipartUpload reads every part back for the object's SHA-256 (verified
reads), which takes a while for a large object: after the part list is checked (its
errors keep their own status), the answer starts as a 200 and whitespace is sent every
few seconds until the result (or an ``<Error>`` document, which S3 clients look for in
a 200 answer to this operation) follows, as S3 itself does.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime

from aiohttp import web

from common.errors import EchoError
from master.domain.records import SessionRecord
from master.s3.context import S3Call
from master.s3.errors import S3Error, Subject, s3_error_for
from master.s3.handlers_object import copy_source, object_write
from master.s3.xml import S3_NS, XML_DECLARATION, child_text, children, element, iso_time
from master.services.downloads import ByteRange

__all__ = ["HANDLERS", "KEEPALIVE_S"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 5.0
_COPY_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d+)$")


def _upload_id(call: S3Call) -> uuid.UUID:
    call.subject = Subject.UPLOAD
    try:
        return uuid.UUID(call.query("uploadId"))
    except ValueError:
        raise S3Error("NoSuchUpload", "the upload id is not one we issued", 404) from None


async def _session(call: S3Call) -> SessionRecord:
    upload_id = _upload_id(call)
    return await call.gateway.multipart.session(call.caller, call.bucket, call.path,
                                                 upload_id)


def _part_number(call: S3Call) -> int:
    return call.int_query("partNumber", 0, 1, 10_000)


async def create_multipart_upload(call: S3Call) -> web.StreamResponse:
    call.subject = Subject.KEY
    if call.key.endswith("/"):
        raise S3Error("InvalidArgument", "a key ending in '/' is a folder")
    write = object_write(call, conditional=False)
    upload_id = await call.gateway.multipart.create(call.caller, call.bucket, call.path,
                                                     write)
    return call.xml("InitiateMultipartUploadResult", [
        element("Bucket", call.bucket), element("Key", call.key),
        element("UploadId", upload_id.hex)])


async def upload_part(call: S3Call) -> web.StreamResponse:
    number = _part_number(call)
    session = await _session(call)
    etag = await call.gateway.multipart.upload_part(session, number, call.body(),
                                                     call.content_md5())
    return call.empty(headers={"ETag": f'"{etag}"'})


async def upload_part_copy(call: S3Call) -> web.StreamResponse:
    number = _part_number(call)
    session = await _session(call)
    source = await copy_source(call)
    byte_range = None
    raw_range = call.header("x-amz-copy-source-range")
    if raw_range is not None:
        match = _COPY_RANGE_RE.match(raw_range.strip())
        if match is None or int(match[2]) < int(match[1]):
            raise S3Error("InvalidArgument", "x-amz-copy-source-range must be bytes=first-last")
        byte_range = ByteRange(int(match[1]), int(match[2]))
    call.subject = Subject.UPLOAD
    etag = await call.gateway.multipart.upload_part_copy(session, number, source,
                                                          byte_range)
    return call.xml("CopyPartResult", [
        element("LastModified", iso_time(datetime.now(UTC))),
        element("ETag", f'"{etag}"')])


def _listed_parts(body) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    listed: list[tuple[int, str]] = []
    for part in children(body, "Part"):
        number, etag = child_text(part, "PartNumber"), child_text(part, "ETag")
        if number is None or etag is None:
            raise S3Error("MalformedXML", "every Part needs a PartNumber and an ETag")
        try:
            listed.append((int(number), etag.strip()))
        except ValueError:
            raise S3Error("MalformedXML", "PartNumber must be an integer") from None
    return listed


async def complete_multipart_upload(call: S3Call) -> web.StreamResponse:
    session = await _session(call)
    body = await call.read_xml()
    multipart = call.gateway.multipart
    plan = await multipart.plan(call.caller, session, _listed_parts(body))
    finishing = asyncio.create_task(multipart.finish(plan))
    # If the client goes away while we wait, the completion still runs to its end (and
    # commits); its outcome is then only logged.
    finishing.add_done_callback(_log_unheard)
    response: web.StreamResponse | None = None
    while True:
        done, _ = await asyncio.wait({finishing}, timeout=KEEPALIVE_S)
        if done:
            break
        if response is None:  # from here on the status is 200, whatever follows
            headers = {**call.extra_headers, "Content-Type": "application/xml"}
            if plan.versioned:
                headers["x-amz-version-id"] = str(plan.version_id)
            response = web.StreamResponse(status=200, headers=headers)
            await response.prepare(call.request)
            await response.write(XML_DECLARATION.encode())
        await response.write(b" ")
    if response is None:
        stored = finishing.result()  # raises: an ordinary error answer
        if stored.version_id is not None:
            call.extra_headers["x-amz-version-id"] = str(stored.version_id)
        return call.xml("CompleteMultipartUploadResult", _result(call, stored.etag))
    try:
        stored = finishing.result()
        text = (f'<CompleteMultipartUploadResult xmlns="{S3_NS}">'
                f'{"".join(_result(call, stored.etag))}</CompleteMultipartUploadResult>')
    except EchoError as exc:
        error = s3_error_for(exc, Subject.UPLOAD)
        text = element("Error", children_xml=[
            element("Code", error.code), element("Message", error.message),
            element("RequestId", call.request_id)])
    await response.write(text.encode())
    await response.write_eof()
    return response


def _log_unheard(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.info("multipart completion failed: %r", task.exception())


def _result(call: S3Call, etag: str) -> list[str]:
    return [element("Location", f"/{call.bucket}/{call.key}"),
            element("Bucket", call.bucket), element("Key", call.key),
            element("ETag", f'"{etag}"')]


async def abort_multipart_upload(call: S3Call) -> web.StreamResponse:
    session = await _session(call)
    await call.gateway.multipart.abort(session)
    return call.empty(204)


async def list_parts(call: S3Call) -> web.StreamResponse:
    session = await _session(call)
    after = call.int_query("part-number-marker", 0, 0, 10_000)
    limit = call.int_query("max-parts", 1000, 1, 1000)
    parts, truncated = await call.gateway.multipart.list_parts(session, after, limit)
    owner = element("Owner", children_xml=[element("ID", call.caller.user_id),
                                           element("DisplayName", call.caller.username)])
    head = [element("Bucket", call.bucket), element("Key", call.key),
            element("UploadId", session.id.hex), element("PartNumberMarker", after),
            element("MaxParts", limit), element("IsTruncated", "true" if truncated else "false"),
            element("Initiator", children_xml=[element("ID", session.owner_id)]), owner,
            element("StorageClass", "STANDARD")]
    if parts:
        head.append(element("NextPartNumberMarker", parts[-1].part_number))
    return call.xml("ListPartsResult", head + [element("Part", children_xml=[
        element("PartNumber", p.part_number), element("LastModified", iso_time(p.updated_at)),
        element("ETag", f'"{p.etag}"'), element("Size", p.size)]) for p in parts])


HANDLERS = {
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "UploadPartCopy": upload_part_copy,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
}

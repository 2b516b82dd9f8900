"""Object operations: Put/Get/Head/Delete/CopyObject and DeleteObjects.

The request's metadata headers become an ``ObjectWrite``; bodies arrive through
``S3Call.body`` (verified, streamed) and GETs stream verified chunks out
(``responses.send_object``). A key ending in '/' is a folder: a zero-byte PUT creates
the directory, GET/HEAD answer it as an empty object, DELETE is a no-op.
"""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import UTC, datetime

from aiohttp import web

from common.errors import Conflict, EchoError, NotFound
from master.s3.addressing import object_path
from master.s3.context import S3Call
from master.s3.errors import S3Error, Subject, s3_error_for
from master.s3.responses import check_conditions, send_object
from master.s3.xml import child_text, children, element, iso_time
from master.services.access import Permission
from master.services.objects import ObjectView, ObjectWrite

__all__ = ["HANDLERS", "copy_source", "object_write"]

# Representation headers S3 stores with an object and answers with it.
STORED_HEADERS = ("Content-Disposition", "Content-Encoding", "Content-Language",
                  "Cache-Control", "Expires")
MAX_METADATA_BYTES = 2048
MAX_DELETE_KEYS = 1000
_MD5_OF_NOTHING = "d41d8cd98f00b204e9800998ecf8427e"


def object_write(call: S3Call, *, conditional: bool = True) -> ObjectWrite:
    """What the request's headers declare for the object it writes."""
    headers: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = call.header(name)
        if value is None:
            continue
        if name == "Content-Encoding":  # the transfer form is not the content's
            value = ",".join(v.strip() for v in value.split(",")
                             if v.strip().lower() != "aws-chunked")
            if not value:
                continue
        headers[name] = value
    metadata = {name.lower()[len("x-amz-meta-"):]: value
                for name, value in call.request.headers.items()
                if name.lower().startswith("x-amz-meta-")}
    if sum(len(k) + len(v) for k, v in metadata.items()) > MAX_METADATA_BYTES:
        raise S3Error("MetadataTooLarge",
                      f"user metadata is limited to {MAX_METADATA_BYTES} bytes")
    if_match = call.header("If-Match") if conditional else None
    none_match = call.header("If-None-Match") if conditional else None
    if none_match is not None and none_match.strip() != "*":
        raise S3Error("NotImplemented", "on PUT, If-None-Match takes only '*'", 501)
    return ObjectWrite(
        content_type=call.header("Content-Type") or "", headers=headers, metadata=metadata,
        content_md5=call.content_md5(),
        if_match=if_match.strip().strip('"') if if_match is not None else None,
        if_none_match=none_match is not None,
    )


def _version_headers(version_id: uuid.UUID | None) -> dict[str, str]:
    return {"x-amz-version-id": str(version_id)} if version_id is not None else {}


async def put_object(call: S3Call) -> web.StreamResponse:
    call.subject = Subject.KEY
    write = object_write(call)
    path = call.path
    if call.key.endswith("/"):
        if await call.body()(1):
            raise S3Error("InvalidArgument", "a key ending in '/' is a folder: no body")
        await call.gateway.objects.make_directory(call.caller, call.bucket, path)
        return call.empty(headers={"ETag": f'"{_MD5_OF_NOTHING}"'})
    stored = await call.gateway.objects.put(call.caller, call.bucket, path, call.body(),
                                             write)
    return call.empty(headers={"ETag": f'"{stored.etag}"',
                               **_version_headers(stored.version_id)})


async def get_object(call: S3Call) -> web.StreamResponse:
    call.subject = Subject.KEY
    version_id = call.version_id()
    if call.key.endswith("/") and version_id is None:
        return await _folder(call)
    view = await call.gateway.objects.get(call.caller, call.bucket, call.path, version_id)
    return await send_object(call, view)


async def _folder(call: S3Call) -> web.StreamResponse:
    if not await call.gateway.objects.directory_exists(call.caller, call.bucket, call.path):
        raise S3Error("NoSuchKey", f"no folder {call.key!r}", 404)
    return call.empty(headers={"ETag": f'"{_MD5_OF_NOTHING}"', "Content-Length": "0",
                               "Content-Type": "application/x-directory"})


async def _delete_folder(call: S3Call) -> None:
    """DeleteObject of a 'folder/' key: the directory goes when it is empty (as the
    folder object would in S3). One that holds objects stays, implied by them, and one
    that is not there is fine: S3's delete is idempotent."""
    await call.gateway.objects.bucket(call.caller, call.bucket, Permission.DELETE)
    try:
        folder = object_path(call.key.rstrip("/"))
    except S3Error:
        return
    try:
        await call.services.namespace.delete_empty_dir(call.caller, call.bucket, folder)
    except (NotFound, Conflict):
        pass


async def delete_object(call: S3Call) -> web.StreamResponse:
    call.subject = Subject.KEY
    version_id = call.version_id()
    if call.key.endswith("/"):
        await _delete_folder(call)
        return call.empty(204)
    try:
        path = object_path(call.key)
    except S3Error:  # a key that cannot be a path was never stored: deleting it succeeds
        await call.gateway.objects.bucket(call.caller, call.bucket, Permission.DELETE)
        return call.empty(204)
    deleted = await call.gateway.objects.delete(call.caller, call.bucket, path, version_id)
    headers = _version_headers(deleted.version_id)
    if deleted.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return call.empty(204, headers)


def _copy_source(call: S3Call) -> tuple[str, str, uuid.UUID | None]:
    raw = call.header("x-amz-copy-source") or ""
    source, _, query = raw.partition("?")
    decoded = urllib.parse.unquote(source).lstrip("/")
    bucket, _, key = decoded.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "x-amz-copy-source must be <bucket>/<key>")
    version: uuid.UUID | None = None
    version_raw = urllib.parse.parse_qs(query).get("versionId", [""])[0]
    if version_raw and version_raw != "null":
        try:
            version = uuid.UUID(version_raw)
        except ValueError:
            raise S3Error("InvalidArgument", "invalid source version id") from None
    return bucket, object_path(key), version


async def copy_source(call: S3Call) -> ObjectView:
    """The object x-amz-copy-source names, checked against the copy-source conditions."""
    bucket, path, version = _copy_source(call)
    call.subject = Subject.VERSION if version is not None else Subject.KEY
    view = await call.gateway.objects.get(call.caller, bucket, path, version)
    check_conditions(view, {
        "If-Match": call.header("x-amz-copy-source-if-match"),
        "If-None-Match": call.header("x-amz-copy-source-if-none-match"),
        "If-Modified-Since": call.header("x-amz-copy-source-if-modified-since"),
        "If-Unmodified-Since": call.header("x-amz-copy-source-if-unmodified-since"),
    }, for_copy=True)
    return view


async def copy_object(call: S3Call) -> web.StreamResponse:
    source = await copy_source(call)
    call.subject = Subject.KEY
    directive = (call.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in {"COPY", "REPLACE"}:
        raise S3Error("InvalidArgument", "x-amz-metadata-directive must be COPY or REPLACE")
    path = call.path
    if (source.record.bucket, source.record.path) == (call.bucket, path) and (
        directive == "COPY"
    ):
        raise S3Error("InvalidRequest",
                      "copying an object to itself needs x-amz-metadata-directive: REPLACE")
    replacement = object_write(call) if directive == "REPLACE" else None
    stored = await call.gateway.objects.copy(call.caller, source, call.bucket, path,
                                              replacement)
    headers = _version_headers(stored.version_id)
    if source.versioned:
        headers["x-amz-copy-source-version-id"] = str(source.record.version_id)
    call.extra_headers.update(headers)
    return call.xml("CopyObjectResult", [
        element("LastModified", iso_time(datetime.now(UTC))), element("ETag", f'"{stored.etag}"')])


async def delete_objects(call: S3Call) -> web.StreamResponse:
    call.subject = Subject.BUCKET
    await call.gateway.objects.bucket(call.caller, call.bucket, Permission.DELETE)
    body = await call.read_xml()
    quiet = (child_text(body, "Quiet") or "").strip().lower() == "true"
    entries = children(body, "Object")
    if len(entries) > MAX_DELETE_KEYS:
        raise S3Error("MalformedXML", f"at most {MAX_DELETE_KEYS} keys per request")
    results: list[str] = []
    for entry in entries:
        key = child_text(entry, "Key") or ""
        raw_version = child_text(entry, "VersionId")
        results.append(await _delete_one(call, key, raw_version, quiet))
    return call.xml("DeleteResult", [r for r in results if r])


async def _delete_one(call: S3Call, key: str, raw_version: str | None, quiet: bool) -> str:
    version_xml = [element("VersionId", raw_version)] if raw_version else []
    try:
        version = uuid.UUID(raw_version) if raw_version and raw_version != "null" else None
    except ValueError:
        return _delete_error(key, version_xml, "NoSuchVersion", "invalid version id")
    try:
        path = object_path(key) if key and not key.endswith("/") else None
        if path is None:
            return "" if quiet else element("Deleted", children_xml=[element("Key", key)])
        deleted = await call.gateway.objects.delete(call.caller, call.bucket, path, version)
    except S3Error:
        return "" if quiet else element("Deleted", children_xml=[element("Key", key)])
    except EchoError as exc:
        error = s3_error_for(exc, Subject.VERSION if version else Subject.KEY)
        return _delete_error(key, version_xml, error.code, error.message)
    if quiet:
        return ""
    marker = [element("DeleteMarker", "true")] if deleted.delete_marker else []
    if deleted.delete_marker and deleted.version_id is not None:
        marker.append(element("DeleteMarkerVersionId", str(deleted.version_id)))
    return element("Deleted", children_xml=[element("Key", key), *version_xml, *marker])


def _delete_error(key: str, version_xml: list[str], code: str, message: str) -> str:
    return element("Error", children_xml=[element("Key", key), *version_xml,
                                          element("Code", code), element("Message", message)])


async def head_object(call: S3Call) -> web.StreamResponse:
    return await get_object(call)


HANDLERS = {
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "CopyObject": copy_object,
    "DeleteObjects": delete_objects,
}

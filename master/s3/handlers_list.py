"""Listings: ListObjects (V1), ListObjectsV2, ListObjectVersions, ListMultipartUploads.

V2's continuation token is opaque to clients: the last key or common prefix of the
page, base64url-encoded. With ``encoding-type=url`` keys and prefixes are
percent-encoded in the answer (the AWS CLI asks for it).
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
import urllib.parse
import uuid

from aiohttp import web

from master.s3.context import S3Call
from master.s3.errors import S3Error, Subject
from master.s3.xml import element, iso_time
from master.services.object_listing import ListQuery, ObjectPage

__all__ = ["HANDLERS"]


def _encoder(call: S3Call):  # type: ignore[no-untyped-def]
    encoding = call.query("encoding-type")
    if encoding not in {"", "url"}:
        raise S3Error("InvalidArgument", "encoding-type must be url")
    if encoding == "url":
        return lambda value: urllib.parse.quote(value, safe="/")
    return lambda value: value


def _text(call: S3Call, name: str) -> str:
    value = call.query(name)
    if len(value.encode()) > 2048 or "\x00" in value:
        raise S3Error("InvalidArgument", f"{name} is too long or holds NUL")
    return unicodedata.normalize("NFC", value)


def _owner(call: S3Call) -> str:
    return element("Owner", children_xml=[element("ID", call.caller.user_id),
                                          element("DisplayName", call.caller.username)])


def _page_xml(call: S3Call, page: ObjectPage, encode) -> list[str]:  # type: ignore[no-untyped-def]
    owner = _owner(call)
    contents = [element("Contents", children_xml=[
        element("Key", encode(o.key)), element("LastModified", iso_time(o.modified)),
        element("ETag", f'"{o.etag}"'), element("Size", o.size),
        element("StorageClass", "STANDARD"), owner]) for o in page.objects]
    prefixes = [element("CommonPrefixes", children_xml=[element("Prefix", encode(p))])
                for p in page.common_prefixes]
    return contents + prefixes


def _common(call: S3Call, query: ListQuery, encode, truncated: bool) -> list[str]:  # type: ignore[no-untyped-def]
    out = [element("Name", call.bucket), element("Prefix", encode(query.prefix)),
           element("MaxKeys", query.max_keys)]
    if query.delimiter:
        out.append(element("Delimiter", encode(query.delimiter)))
    if call.query("encoding-type"):
        out.append(element("EncodingType", "url"))
    out.append(element("IsTruncated", "true" if truncated else "false"))
    return out


async def list_objects(call: S3Call) -> web.StreamResponse:
    encode = _encoder(call)
    query = ListQuery(prefix=_text(call, "prefix"), delimiter=_text(call, "delimiter"),
                      start=_text(call, "marker"),
                      max_keys=call.int_query("max-keys", 1000, 0, 2**31))
    page = await call.gateway.listing.keys(call.caller, call.bucket, query)
    head = _common(call, query, encode, page.truncated)
    head.insert(2, element("Marker", encode(query.start)))
    if page.truncated and page.last is not None:
        head.append(element("NextMarker", encode(page.last)))
    return call.xml("ListBucketResult", head + _page_xml(call, page, encode))


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise S3Error("InvalidArgument", "the continuation token is not one we issued") from None


async def list_objects_v2(call: S3Call) -> web.StreamResponse:
    encode = _encoder(call)
    token = call.query("continuation-token")
    start_after = _text(call, "start-after")
    query = ListQuery(prefix=_text(call, "prefix"), delimiter=_text(call, "delimiter"),
                      start=_decode_token(token) if token else start_after,
                      max_keys=call.int_query("max-keys", 1000, 0, 2**31))
    page = await call.gateway.listing.keys(call.caller, call.bucket, query)
    head = _common(call, query, encode, page.truncated)
    head.append(element("KeyCount", len(page.objects) + len(page.common_prefixes)))
    if token:
        head.append(element("ContinuationToken", token))
    if start_after:
        head.append(element("StartAfter", encode(start_after)))
    if page.truncated and page.last is not None:
        next_token = base64.urlsafe_b64encode(page.last.encode()).decode()
        head.append(element("NextContinuationToken", next_token))
    return call.xml("ListBucketResult", head + _page_xml(call, page, encode))


async def list_object_versions(call: S3Call) -> web.StreamResponse:
    encode = _encoder(call)
    marker_raw = call.query("version-id-marker")
    try:
        marker = uuid.UUID(marker_raw) if marker_raw and marker_raw != "null" else None
    except ValueError:
        raise S3Error("InvalidArgument", "invalid version-id-marker") from None
    query = ListQuery(prefix=_text(call, "prefix"), delimiter=_text(call, "delimiter"),
                      start=_text(call, "key-marker"),
                      max_keys=call.int_query("max-keys", 1000, 0, 2**31))
    page = await call.gateway.listing.versions(call.caller, call.bucket, query, marker)
    head = _common(call, query, encode, page.truncated)
    head.insert(2, element("KeyMarker", encode(query.start)))
    head.insert(3, element("VersionIdMarker", marker_raw))
    if page.truncated and page.next_key is not None:
        head.append(element("NextKeyMarker", encode(page.next_key)))
        if page.next_version is not None:
            head.append(element("NextVersionIdMarker", page.next_version))
    owner = _owner(call)
    body = []
    for v in page.versions:
        common = [element("Key", encode(v.key)), element("VersionId", v.version_id),
                  element("IsLatest", "true" if v.latest else "false"),
                  element("LastModified", iso_time(v.modified))]
        if v.delete_marker:
            body.append(element("DeleteMarker", children_xml=[*common, owner]))
        else:
            body.append(element("Version", children_xml=[
                *common, element("ETag", f'"{v.etag}"'), element("Size", v.size),
                element("StorageClass", "STANDARD"), owner]))
    body += [element("CommonPrefixes", children_xml=[element("Prefix", encode(p))])
             for p in page.common_prefixes]
    return call.xml("ListVersionsResult", head + body)


async def list_multipart_uploads(call: S3Call) -> web.StreamResponse:
    encode = _encoder(call)
    key_marker = _text(call, "key-marker")
    id_raw = call.query("upload-id-marker")
    try:
        id_marker = uuid.UUID(id_raw) if id_raw else None
    except ValueError:
        raise S3Error("InvalidArgument", "invalid upload-id-marker") from None
    limit = call.int_query("max-uploads", 1000, 1, 1000)
    prefix = _text(call, "prefix")
    rows, truncated = await call.gateway.multipart.list_uploads(
        call.caller, call.bucket, prefix, (key_marker, id_marker), limit)
    owner = _owner(call)
    head = [element("Bucket", call.bucket), element("KeyMarker", encode(key_marker)),
            element("UploadIdMarker", id_raw), element("Prefix", encode(prefix)),
            element("MaxUploads", limit),
            element("IsTruncated", "true" if truncated else "false")]
    if truncated and rows:
        head += [element("NextKeyMarker", encode(rows[-1].key)),
                 element("NextUploadIdMarker", rows[-1].upload_id.hex)]
    uploads = [element("Upload", children_xml=[
        element("Key", encode(r.key)), element("UploadId", r.upload_id.hex),
        element("Initiator", children_xml=[element("ID", r.owner_id)]), owner,
        element("StorageClass", "STANDARD"), element("Initiated", iso_time(r.created_at))])
        for r in rows]
    return call.xml("ListMultipartUploadsResult", head + uploads)


def _bucket_level(handler):  # type: ignore[no-untyped-def]
    async def run(call: S3Call) -> web.StreamResponse:
        call.subject = Subject.BUCKET
        return await handler(call)
    return run


HANDLERS = {name: _bucket_level(handler) for name, handler in {
    "ListObjects": list_objects,
    "ListObjectsV2": list_objects_v2,
    "ListObjectVersions": list_object_versions,
    "ListMultipartUploads": list_multipart_uploads,
}.items()}

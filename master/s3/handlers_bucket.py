"""Bucket operations: ListBuckets, Create/Delete/HeadBucket, location, versioning.

Buckets are DESIGN §11's buckets, through ``BucketService`` (audit rows included).
Versioning maps onto the bucket's ``versioning`` setting: ``Enabled`` turns it on,
``Suspended`` off (EchoFS has no "suspended" state: while off, an overwrite replaces
the current version and older ones fall out at the next write, as in any unversioned
bucket).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from common.errors import BucketExists, EchoError
from master.s3.context import S3Call
from master.s3.errors import S3Error, Subject
from master.s3.xml import child_text, element, iso_time
from master.services.access import Permission

__all__ = ["HANDLERS"]

MAX_BUCKETS = 1000


async def list_buckets(call: S3Call) -> web.StreamResponse:
    buckets = await call.services.buckets.list(call.caller, "", MAX_BUCKETS)
    caller = call.caller
    return call.xml("ListAllMyBucketsResult", [
        element("Owner", children_xml=[element("ID", caller.user_id),
                                       element("DisplayName", caller.username)]),
        element("Buckets", children_xml=[
            element("Bucket", children_xml=[
                element("Name", view.bucket.name),
                element("CreationDate", iso_time(view.bucket.created_at))])
            for view in buckets]),
    ])


async def create_bucket(call: S3Call) -> web.StreamResponse:
    if call.request.can_read_body:
        await call.read_xml()  # CreateBucketConfiguration: whatever region, it is ours
    try:
        await call.services.buckets.create(call.caller, call.bucket, {})
    except BucketExists:
        if await _owned(call):
            raise S3Error("BucketAlreadyOwnedByYou",
                          f"you already own bucket {call.bucket!r}", 409) from None
        raise
    return call.empty(headers={"Location": f"/{call.bucket}"})


async def _owned(call: S3Call) -> bool:
    try:
        bucket = await call.gateway.objects.bucket(call.caller, call.bucket, Permission.OWNER)
    except EchoError:  # any refusal: not the caller's bucket
        return False
    return bucket.owner_id == call.caller.user_id


async def delete_bucket(call: S3Call) -> web.StreamResponse:
    await call.gateway.objects.delete_bucket(call.caller, call.bucket)
    return call.empty(204)


async def head_bucket(call: S3Call) -> web.StreamResponse:
    await call.gateway.objects.bucket(call.caller, call.bucket, Permission.READ)
    return call.empty(headers={"x-amz-bucket-region": call.services.settings.s3_gateway_region})


async def get_bucket_location(call: S3Call) -> web.StreamResponse:
    await call.gateway.objects.bucket(call.caller, call.bucket, Permission.READ)
    region = call.services.settings.s3_gateway_region
    # S3 answers an empty constraint for us-east-1.
    body = f'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' \
           f'{"" if region == "us-east-1" else region}</LocationConstraint>'
    return web.Response(body=('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode(),
                        content_type="application/xml", headers=call.extra_headers)


async def get_bucket_versioning(call: S3Call) -> web.StreamResponse:
    bucket = await call.gateway.objects.bucket(call.caller, call.bucket, Permission.READ)
    return call.xml("VersioningConfiguration",
                    [element("Status", "Enabled")] if bucket.versioning else [])


async def put_bucket_versioning(call: S3Call) -> web.StreamResponse:
    await call.gateway.objects.bucket(call.caller, call.bucket, Permission.OWNER)
    body = await call.read_xml()
    status = child_text(body, "Status")
    if status not in {"Enabled", "Suspended"}:
        raise S3Error("MalformedXML", "Status must be Enabled or Suspended")
    if child_text(body, "MfaDelete") == "Enabled":
        raise S3Error("NotImplemented", "MFA delete is not implemented", 501)
    await call.services.buckets.update(call.caller, call.bucket,
                                       {"versioning": status == "Enabled"})
    return call.empty()


def _bucket_subject(handler: Callable[[S3Call], Awaitable[web.StreamResponse]]
                    ) -> Callable[[S3Call], Awaitable[web.StreamResponse]]:
    async def run(call: S3Call) -> web.StreamResponse:
        call.subject = Subject.BUCKET
        return await handler(call)
    return run


HANDLERS = {name: _bucket_subject(handler) for name, handler in {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "DeleteBucket": delete_bucket,
    "HeadBucket": head_bucket,
    "GetBucketLocation": get_bucket_location,
    "GetBucketVersioning": get_bucket_versioning,
    "PutBucketVersioning": put_bucket_versioning,
}.items()}

"""Which S3 operation a request is: pure, from its method, bucket, key, query and headers.

Like Garage's router (``src/api/s3/router.rs``): the method and whether a key is present
pick a family, the sub-resource query keyword (``?uploads``, ``?versioning``, ...) or a
header (``x-amz-copy-source``) picks the operation. Everything S3 has that the gateway
does not implement is named, so it answers 501 NotImplemented in XML, never 404 or 500.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["IMPLEMENTED", "route"]

IMPLEMENTED = frozenset({
    "ListBuckets", "CreateBucket", "DeleteBucket", "HeadBucket", "GetBucketLocation",
    "GetBucketVersioning", "PutBucketVersioning", "ListObjects", "ListObjectsV2",
    "ListObjectVersions", "ListMultipartUploads", "DeleteObjects",
    "PutObject", "CopyObject", "GetObject", "HeadObject", "DeleteObject",
    "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
    "AbortMultipartUpload", "ListParts",
})

# Sub-resources of a bucket and of an object that name an operation of their own.
_BUCKET_SUBRESOURCES = (
    "accelerate", "acl", "analytics", "cors", "encryption", "intelligent-tiering",
    "inventory", "lifecycle", "location", "logging", "metrics", "notification",
    "object-lock", "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
    "replication", "requestPayment", "tagging", "uploads", "versioning", "versions",
    "website", "delete",
)
_OBJECT_SUBRESOURCES = (
    "acl", "legal-hold", "retention", "tagging", "torrent", "restore", "select",
    "attributes", "uploads",
)


def _keyword(query: Mapping[str, str], names: tuple[str, ...]) -> str:
    for name in names:
        if name in query:
            return name
    return ""


def route(
    method: str, bucket: str | None, key: str | None, query: Mapping[str, str],
    headers: Mapping[str, str],
) -> str:
    """The operation's S3 name (``IMPLEMENTED`` holds the ones the gateway serves)."""
    method = method.upper()
    if bucket is None:
        return "ListBuckets" if method in {"GET", "HEAD"} else "NotImplemented"
    if key:
        return _object_route(method, _keyword(query, _OBJECT_SUBRESOURCES), query, headers)
    return _bucket_route(method, _keyword(query, _BUCKET_SUBRESOURCES), query)


def _bucket_route(method: str, keyword: str, query: Mapping[str, str]) -> str:
    if method == "GET":
        if keyword == "":
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
        return {
            "location": "GetBucketLocation", "versioning": "GetBucketVersioning",
            "versions": "ListObjectVersions", "uploads": "ListMultipartUploads",
        }.get(keyword, f"GetBucket:{keyword}")
    if method == "HEAD":
        return "HeadBucket"
    if method == "PUT":
        if keyword == "":
            return "CreateBucket"
        return "PutBucketVersioning" if keyword == "versioning" else f"PutBucket:{keyword}"
    if method == "DELETE":
        return "DeleteBucket" if keyword == "" else f"DeleteBucket:{keyword}"
    if method == "POST":
        return "DeleteObjects" if keyword == "delete" else "PostObject"
    return "NotImplemented"


def _object_route(
    method: str, keyword: str, query: Mapping[str, str], headers: Mapping[str, str]
) -> str:
    copying = "x-amz-copy-source" in headers
    if method == "GET":
        if keyword == "":
            return "ListParts" if "uploadId" in query else "GetObject"
        return f"GetObject:{keyword}"
    if method == "HEAD":
        return "HeadObject"
    if method == "PUT":
        if keyword:
            return f"PutObject:{keyword}"
        if "partNumber" in query and "uploadId" in query:
            return "UploadPartCopy" if copying else "UploadPart"
        return "CopyObject" if copying else "PutObject"
    if method == "DELETE":
        if keyword:
            return f"DeleteObject:{keyword}"
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    if method == "POST":
        if keyword == "uploads":
            return "CreateMultipartUpload"
        if keyword == "" and "uploadId" in query:
            return "CompleteMultipartUpload"
        return f"PostObject:{keyword}"
    return "NotImplemented"

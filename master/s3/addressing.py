"""Where an S3 request points: bucket and key, path-style or virtual-hosted-style.

``Host: <bucket>.<S3_DOMAIN>`` names the bucket and the whole path is the key; any
other host is path-style, ``/<bucket>/<key>``. The key is the rest of the path,
percent-decoded once. A key becomes a namespace path only if it is one (no empty,
``.`` or ``..`` segments, no control characters, at most 1024 bytes; see
``master.services.paths``): S3 allows more, EchoFS stores keys as paths that every
client can map to a filesystem. A key ending in '/' is a folder marker.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from common.errors import BadPath
from master.s3.errors import S3Error
from master.services.paths import MAX_PATH_BYTES, is_bucket_name, normalize_key

__all__ = ["Target", "object_path", "parse_target"]


@dataclass(frozen=True, slots=True)
class Target:
    bucket: str | None
    key: str | None  # decoded, as the client wrote it; None or '' at a bucket

    @property
    def resource(self) -> str:
        """The ``<Resource>`` of an error answer."""
        if self.bucket is None:
            return "/"
        return f"/{self.bucket}/{self.key or ''}"


def _host_bucket(host: str, domain: str) -> str | None:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    suffix = "." + domain.lower().strip(".") if domain else ""
    if suffix and name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)]
    return None


def parse_target(host: str, raw_path: str, domain: str) -> Target:
    """The bucket and key of a request (raw path still percent-encoded)."""
    try:
        path = urllib.parse.unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise S3Error("InvalidURI", "the path is not valid percent-encoded UTF-8") from None
    virtual = _host_bucket(host, domain)
    if virtual is not None:
        bucket, key = virtual, path[1:] if path.startswith("/") else path
    else:
        rest = path[1:] if path.startswith("/") else path
        if rest == "":
            return Target(None, None)
        bucket, _, key = rest.partition("/")
    if not is_bucket_name(bucket):
        raise S3Error("InvalidBucketName", f"{bucket[:80]!r} is not a valid bucket name")
    return Target(bucket, key)


def object_path(key: str) -> str:
    """The namespace path of an object key (a folder marker's path without its '/')."""
    if len(key.encode()) > MAX_PATH_BYTES:
        raise S3Error("KeyTooLongError", f"keys are at most {MAX_PATH_BYTES} bytes")
    try:
        return normalize_key(key[:-1] if key.endswith("/") else key)
    except BadPath as exc:
        raise S3Error(
            "InvalidArgument",
            f"EchoFS keys are paths: {exc.message} (no empty, '.' or '..' segments, no"
            " control characters)") from None

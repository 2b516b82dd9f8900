"""One S3 request as the handlers see it: target, operation, caller, body, answers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from master.s3.addressing import Target, object_path
from master.s3.body import AwsChunkedBody, PlainBody
from master.s3.errors import S3Error, Subject
from master.s3.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    Authenticated,
)
from master.s3.xml import document, parse_xml
from master.services.auth import Principal
from master.services.chunking import ReadFn
from master.services.container import Services
from master.services.gateway import GatewayServices

__all__ = ["MAX_XML_BYTES", "S3_SERVICES", "S3Call"]

ServicesGetter = Callable[[], Services]
S3_SERVICES: web.AppKey[ServicesGetter] = web.AppKey("s3_services")
MAX_XML_BYTES = 2 * 1024 * 1024  # a CompleteMultipartUpload of 10 000 parts fits
_CHECKED_HEADERS = ("x-amz-checksum-crc32", "x-amz-checksum-sha1", "x-amz-checksum-sha256")


@dataclass
class S3Call:
    request: web.Request
    services: Services
    target: Target
    operation: str
    request_id: str
    auth: Authenticated | None = None
    # What a NotFound of this request is about (handlers narrow it as they go).
    subject: Subject = Subject.BUCKET
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> GatewayServices:
        return self.services.gateway

    @property
    def caller(self) -> Principal:
        assert self.auth is not None
        return self.auth.principal

    @property
    def bucket(self) -> str:
        assert self.target.bucket is not None
        return self.target.bucket

    @property
    def key(self) -> str:
        return self.target.key or ""

    @property
    def path(self) -> str:
        """The object's namespace path (S3Error for a key that cannot be one)."""
        return object_path(self.key)

    def query(self, name: str, default: str = "") -> str:
        return self.request.rel_url.query.get(name, default)

    def has_query(self, name: str) -> bool:
        return name in self.request.rel_url.query

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def int_query(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query(name)
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise S3Error("InvalidArgument", f"{name} must be an integer") from None
        if not low <= value <= high:
            raise S3Error("InvalidArgument", f"{name} must be between {low} and {high}")
        return min(value, high)

    def version_id(self) -> uuid.UUID | None:
        """``?versionId=`` (``null``: the unversioned one, i.e. the current)."""
        raw = self.query("versionId")
        if raw in {"", "null"}:
            return None
        self.subject = Subject.VERSION
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise S3Error("InvalidArgument", "invalid version id") from None

    def content_md5(self) -> bytes | None:
        raw = self.header("Content-MD5")
        if raw is None:
            return None
        try:
            digest = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            digest = b""
        if len(digest) != 16:
            raise S3Error("InvalidDigest", "Content-MD5 is not a base64 MD5")
        return digest

    def body(self) -> ReadFn:
        """The request body as verified bytes, whatever its transfer form."""
        assert self.auth is not None
        payload = self.auth.payload_hash
        content = self.request.content
        if payload == STREAMING_SIGNED:
            return AwsChunkedBody(content, self.auth.chunks, self._decoded_length()).read
        if payload == STREAMING_UNSIGNED_TRAILER:
            return AwsChunkedBody(content, None, self._decoded_length(),
                                  self.header("x-amz-trailer")).read
        if payload == STREAMING_SIGNED_TRAILER:
            raise S3Error("NotImplemented",
                          "signed trailers are not supported; sign the chunks only", 501)
        if payload != UNSIGNED_PAYLOAD and not _is_sha256(payload):
            raise S3Error("InvalidArgument", "x-amz-content-sha256 is not a valid value")
        checksum = next(((name, value) for name in _CHECKED_HEADERS
                         if (value := self.header(name)) is not None), None)
        return PlainBody(content, payload, checksum).read

    def _decoded_length(self) -> int | None:
        raw = self.header("x-amz-decoded-content-length")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise S3Error("InvalidArgument", "x-amz-decoded-content-length") from None

    async def read_xml(self) -> ElementTree.Element:
        """The body as XML (at most MAX_XML_BYTES), checked like any body."""
        read = self.body()
        pieces: list[bytes] = []
        held = 0
        while True:
            piece = await read(64 * 1024)
            if not piece:
                break
            held += len(piece)
            if held > MAX_XML_BYTES:
                raise S3Error("MaxMessageLengthExceeded",
                              f"XML bodies are limited to {MAX_XML_BYTES} bytes")
            pieces.append(piece)
        body = b"".join(pieces)
        md5 = self.content_md5()
        if md5 is not None and hashlib.md5(body, usedforsecurity=False).digest() != md5:
            raise S3Error("BadDigest", "the body does not match its Content-MD5")
        return parse_xml(body)

    def xml(self, root: str, children_xml: list[str], status: int = 200) -> web.Response:
        return web.Response(status=status, body=document(root, children_xml).encode(),
                            content_type="application/xml", headers=self.extra_headers)

    def empty(self, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, headers={**self.extra_headers, **(headers or {})})


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)

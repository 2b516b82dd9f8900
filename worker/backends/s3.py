"""S3 backend: one object per blob, header in the object's metadata.

Works against any S3 API (AWS, MinIO, SeaweedFS, moto): bucket, prefix, endpoint,
region and credentials come from settings. One long-lived boto3 client (thread-safe)
is shared by every call, and every call runs in a worker thread so the event loop
never blocks. A PUT is atomic in S3 (the object appears whole or not at all), which
gives the same crash guarantee as the local backend's temp-and-rename.

Keys: ``<prefix><chunk_id>``; quarantined blobs move to ``<prefix>-quarantine/``
(outside the listing). S3 has no fixed size, so the capacity reported is
WORKER_CAPACITY_BYTES or, unset, a nominal 1 PiB.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from common.chunks import CHUNK_ID_RE, Codec
from common.config import WorkerSettings
from common.errors import (
    ChunkCorrupt,
    ChunkNotFound,
    RangeNotSatisfiable,
    StorageFull,
    Unavailable,
)
from worker.backends.base import BlobMeta, ChunkBackend, ChunkEntry, StoredBlob, Usage
from worker.metrics import WorkerMetrics

__all__ = ["S3Backend", "S3Config"]

log = logging.getLogger(__name__)

NOMINAL_CAPACITY_BYTES = 1024**5
EXISTS_FAN_OUT = 16
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_FULL_CODES = {"QuotaExceeded", "XMinioStorageFull", "EntityTooLarge"}


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = "chunks/"
    endpoint_url: str = ""
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    capacity_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: WorkerSettings) -> S3Config:
        return cls(
            bucket=settings.s3_bucket, prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url, region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            capacity_bytes=settings.worker_capacity_bytes,
        )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Backend(ChunkBackend):
    name = "s3"

    def __init__(self, config: S3Config, metrics: WorkerMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or WorkerMetrics()
        self.prefix = config.prefix
        self.quarantine_prefix = (config.prefix.rstrip("/") or "echofs") + "-quarantine/"
        self._client = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            region_name=config.region,
            aws_access_key_id=config.access_key_id or None,
            aws_secret_access_key=config.secret_access_key or None,
            config=BotoConfig(
                max_pool_connections=32, connect_timeout=5, read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._used_bytes = 0
        self._chunk_count = 0

    def key(self, chunk_id: str) -> str:
        return self.prefix + chunk_id

    async def _call(self, operation: str, **kwargs: Any) -> Any:
        """Run one client call in a thread, counted and timed; translate failures.

        A missing key or bucket raises ChunkNotFound (not counted as an S3 error:
        it is an answer); full → StorageFull; anything else → Unavailable.
        """
        method: Callable[..., Any] = getattr(self._client, operation)
        m = self.metrics

        def run() -> Any:
            m.s3_operations.labels(operation).inc()
            started = time.perf_counter()
            try:
                return method(**kwargs)
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND_CODES:
                    m.s3_errors.labels(operation).inc()
                raise
            except BotoCoreError:
                m.s3_errors.labels(operation).inc()
                raise
            finally:
                m.s3_duration.labels(operation).observe(time.perf_counter() - started)

        try:
            return await asyncio.to_thread(run)
        except ClientError as exc:
            code = _error_code(exc)
            what = kwargs.get("Key", kwargs.get("Bucket", ""))
            if code in _NOT_FOUND_CODES:
                raise ChunkNotFound(f"s3 object {what} not found") from exc
            if code in _FULL_CODES:
                raise StorageFull(f"s3 refused {what}: {code}") from exc
            raise Unavailable(f"s3 {operation} failed: {code or exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"s3 {operation} failed: {exc}") from exc

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        bucket = self.config.bucket
        try:
            await self._call("head_bucket", Bucket=bucket)
        except ChunkNotFound:
            create: dict[str, Any] = {"Bucket": bucket}
            if self.config.region != "us-east-1":
                create["CreateBucketConfiguration"] = {"LocationConstraint": self.config.region}
            await self._call("create_bucket", **create)
            log.info("created bucket", extra={"bucket": bucket})
        used = count = 0
        after = ""
        while True:
            entries = await self.list(after, 1000)
            used += sum(e.stored_size for e in entries)
            count += len(entries)
            if len(entries) < 1000:
                break
            after = entries[-1].chunk_id
        self._used_bytes, self._chunk_count = used, count
        log.info("s3 store open", extra={"bucket": bucket, "chunks": count, "bytes": used})

    async def check(self) -> None:
        try:
            await self._call("head_bucket", Bucket=self.config.bucket)
        except ChunkNotFound as exc:
            raise Unavailable(f"bucket {self.config.bucket} is gone") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    # -- writes ------------------------------------------------------------------------

    async def _size_or_none(self, key: str) -> int | None:
        try:
            head = await self._call("head_object", Bucket=self.config.bucket, Key=key)
        except ChunkNotFound:
            return None
        return int(head["ContentLength"])

    async def put(self, meta: BlobMeta, payload: bytes) -> bool:
        key = self.key(meta.chunk_id)
        previous = await self._size_or_none(key)
        await self._call(
            "put_object", Bucket=self.config.bucket, Key=key, Body=payload,
            ContentLength=len(payload),
            Metadata={
                "codec": meta.codec.value, "raw-size": str(meta.raw_size),
                "blob-sha256": meta.blob_sha256,
            },
        )
        if previous is None:
            self._chunk_count += 1
            self._used_bytes += len(payload)
        else:
            self._used_bytes += len(payload) - previous
        return previous is None

    async def delete(self, chunk_id: str) -> bool:
        key = self.key(chunk_id)
        size = await self._size_or_none(key)
        if size is None:
            return False
        await self._call("delete_object", Bucket=self.config.bucket, Key=key)
        self._chunk_count -= 1
        self._used_bytes -= size
        return True

    async def quarantine(self, chunk_id: str) -> bool:
        key = self.key(chunk_id)
        size = await self._size_or_none(key)
        if size is None:
            return False
        target = f"{self.quarantine_prefix}{chunk_id}.{time.time_ns()}"
        await self._call(
            "copy_object", Bucket=self.config.bucket, Key=target,
            CopySource={"Bucket": self.config.bucket, "Key": key}, MetadataDirective="COPY",
        )
        await self._call("delete_object", Bucket=self.config.bucket, Key=key)
        self._chunk_count -= 1
        self._used_bytes -= size
        return True

    # -- reads -------------------------------------------------------------------------

    def _meta_of(self, chunk_id: str, head: dict[str, Any], stored_size: int) -> BlobMeta:
        metadata = head.get("Metadata", {})
        try:
            return BlobMeta(
                chunk_id, Codec(metadata["codec"]), int(metadata["raw-size"]), stored_size,
                str(metadata["blob-sha256"]), head["LastModified"].timestamp(),
            )
        except (KeyError, ValueError) as exc:
            raise ChunkCorrupt(f"chunk {chunk_id}: s3 object lacks its header metadata") from exc

    async def head(self, chunk_id: str) -> BlobMeta:
        head = await self._call("head_object", Bucket=self.config.bucket, Key=self.key(chunk_id))
        return self._meta_of(chunk_id, head, int(head["ContentLength"]))

    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        request: dict[str, Any] = {"Bucket": self.config.bucket, "Key": self.key(chunk_id)}
        if offset or length:
            meta = await self.head(chunk_id)
            if offset > meta.stored_size:
                raise RangeNotSatisfiable(
                    f"range offset {offset} beyond blob of {meta.stored_size} bytes"
                )
            end = meta.stored_size if length == 0 else min(meta.stored_size, offset + length)
            if end == offset:
                return StoredBlob(meta, b"")
            request["Range"] = f"bytes={offset}-{end - 1}"

        def fetch() -> tuple[dict[str, Any], bytes]:
            response = self._client.get_object(**request)
            with response["Body"] as body:
                return response, body.read()

        self.metrics.s3_operations.labels("get_object").inc()
        started = time.perf_counter()
        try:
            response, data = await asyncio.to_thread(fetch)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise ChunkNotFound(f"chunk {chunk_id} is not stored here") from exc
            self.metrics.s3_errors.labels("get_object").inc()
            raise Unavailable(f"s3 get_object failed: {_error_code(exc)}") from exc
        except BotoCoreError as exc:
            self.metrics.s3_errors.labels("get_object").inc()
            raise Unavailable(f"s3 get_object failed: {exc}") from exc
        finally:
            self.metrics.s3_duration.labels("get_object").observe(time.perf_counter() - started)
        if "Range" in request:
            total = int(str(response["ContentRange"]).rsplit("/", 1)[1])
        else:
            total = int(response["ContentLength"])
        return StoredBlob(self._meta_of(chunk_id, response, total), data)

    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        """One HEAD per id, at most EXISTS_FAN_OUT at a time."""
        slots = asyncio.Semaphore(EXISTS_FAN_OUT)

        async def present(chunk_id: str) -> bool:
            async with slots:
                return await self._size_or_none(self.key(chunk_id)) is not None

        return list(await asyncio.gather(*(present(c) for c in chunk_ids)))

    async def _list_keys(self, prefix: str, after_key: str, limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token: str | None = None
        while len(found) < limit:
            request: dict[str, Any] = {
                "Bucket": self.config.bucket, "Prefix": prefix,
                "MaxKeys": min(1000, limit - len(found)),
            }
            if token:
                request["ContinuationToken"] = token
            elif after_key:
                request["StartAfter"] = after_key
            page = await self._call("list_objects_v2", **request)
            found.extend(page.get("Contents", []))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
        return found

    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        after_key = self.key(after_chunk_id) if after_chunk_id else ""
        entries: list[ChunkEntry] = []
        while len(entries) < limit:  # foreign keys under the prefix are skipped, not counted
            wanted = limit - len(entries)
            items = await self._list_keys(self.prefix, after_key, wanted)
            for item in items:
                chunk_id = item["Key"][len(self.prefix):]
                if CHUNK_ID_RE.fullmatch(chunk_id):
                    entries.append(
                        ChunkEntry(chunk_id, int(item["Size"]), item["LastModified"].timestamp())
                    )
            if len(items) < wanted:
                break
            after_key = items[-1]["Key"]
        return entries

    async def list_quarantined(self) -> builtins.list[str]:
        items = await self._list_keys(self.quarantine_prefix, "", 10_000)
        return sorted(item["Key"][len(self.quarantine_prefix):].split(".", 1)[0] for item in items)

    def usage(self) -> Usage:
        return Usage(self._used_bytes, self._chunk_count)

    def capacity_bytes(self) -> int:
        return self.config.capacity_bytes or NOMINAL_CAPACITY_BYTES

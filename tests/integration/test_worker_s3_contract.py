"""The backend contract bound to the S3 backend, against a real moto S3 server.

moto runs as its own process (``python -m moto.server``) on loopback, started once
per session; each test gets a fresh bucket. A worker process on the S3 backend is
exercised end to end over gRPC as well.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import boto3
import pytest

from common.chunkwire import codec_to_pb, put_chunk_frames, read_chunk_stream
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import start_worker
from tests.unit.worker.backend_contract import BackendContract, blob
from tools.moto_server import moto_server
from worker.backends.base import ChunkBackend
from worker.backends.s3 import S3Backend, S3Config

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(log_path, {"AWS_ACCESS_KEY_ID": "testing",
                                "AWS_SECRET_ACCESS_KEY": "testing"}) as url:
        yield url


def _config(moto_url: str, bucket: str) -> S3Config:
    return S3Config(bucket=bucket, prefix="chunks/", endpoint_url=moto_url, **CREDENTIALS)


class TestS3Backend(BackendContract):
    @pytest.fixture
    def bucket(self) -> str:
        return f"echofs-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    async def backend(self, moto_url: str, bucket: str) -> AsyncIterator[S3Backend]:
        backend = S3Backend(_config(moto_url, bucket))
        await backend.open()  # creates the bucket
        yield backend
        await backend.close()

    @pytest.fixture
    def corrupt(self, backend: S3Backend, bucket: str) -> Callable[[str, int], Awaitable[None]]:
        client = boto3.client(
            "s3", endpoint_url=backend.config.endpoint_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

        def flip(chunk_id: str, position: int) -> None:
            key = backend.key(chunk_id)
            current = client.get_object(Bucket=bucket, Key=key)
            data = bytearray(current["Body"].read())
            data[position] ^= 0x01
            client.put_object(
                Bucket=bucket, Key=key, Body=bytes(data), Metadata=current["Metadata"]
            )

        async def run(chunk_id: str, position: int) -> None:
            await asyncio.to_thread(flip, chunk_id, position)

        return run

    @pytest.fixture
    def reopen(self, moto_url: str, bucket: str) -> Callable[[], Awaitable[ChunkBackend | None]]:
        async def fresh() -> ChunkBackend:
            backend = S3Backend(_config(moto_url, bucket))
            await backend.open()
            return backend

        return fresh

    async def test_s3_calls_are_counted_in_metrics(self, backend: S3Backend):
        meta, payload = blob(100)
        await backend.put(meta, payload)
        await backend.get(meta.chunk_id)
        put_count = backend.metrics.s3_operations.labels("put_object")._value.get()
        get_count = backend.metrics.s3_operations.labels("get_object")._value.get()
        assert put_count == 1 and get_count == 1


async def test_worker_process_on_s3_stores_and_serves_chunks(moto_url: str, tmp_path: Path):
    bucket = f"echofs-{uuid.uuid4().hex[:12]}"
    proc, address = start_worker(tmp_path, "s3-worker", backend="s3", extra_env={
        "S3_ENDPOINT_URL": moto_url, "S3_BUCKET": bucket,
        "S3_ACCESS_KEY_ID": "testing", "S3_SECRET_ACCESS_KEY": "testing",
    })
    try:
        meta, payload = blob(3 * 1024 * 1024 + 17)
        header = pb.ChunkHeader(
            chunk_id=meta.chunk_id, codec=codec_to_pb(meta.codec), raw_size=meta.raw_size,
            stored_size=meta.stored_size, blob_sha256=meta.blob_sha256,
        )
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            reply = await stub.PutChunk(put_chunk_frames(header, payload), timeout=30)
            assert reply.already_present is False
            got_header, data = await read_chunk_stream(
                stub.GetChunk(pb.GetChunkRequest(chunk_id=meta.chunk_id), timeout=30),
                max_bytes=len(payload),
            )
            assert data == payload and got_header.blob_sha256 == meta.blob_sha256
            status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
            assert (status.backend, status.chunk_count, status.used_bytes) == (
                "s3", 1, len(payload),
            )
        keys = boto3.client(
            "s3", endpoint_url=moto_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ).list_objects_v2(Bucket=bucket)["Contents"]
        assert [k["Key"] for k in keys] == [f"chunks/{meta.chunk_id}"]
    finally:
        proc.stop()

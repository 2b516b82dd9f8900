"""The worker's gRPC service, as the master sees it: a real worker process on local disk.

Covers every RPC of DESIGN.md §9, every malformed PutChunk stream and its status, and
worker-to-worker replication between two real processes.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.chunkwire import FRAME_SIZE, put_chunk_frames
from common.embedded import free_port
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.procs import ManagedProcess
from tests.support.services import scratch_dir as shared_var_dir
from tests.support.workers import fresh_channel, start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import (
    get_blob,
    header_of,
    metric_value,
    put_blob,
    rpc_error,
    stream_of,
)
from worker.store import MAX_STORED_SIZE

MiB = 1024 * 1024
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    path = shared_var_dir() / f"worker-grpc-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def worker(base_dir: Path) -> Iterator[tuple[ManagedProcess, str]]:
    proc, address = start_worker(base_dir, "w-grpc")
    yield proc, address
    proc.stop()


@pytest.fixture
async def stub(worker: tuple[ManagedProcess, str]) -> AsyncIterator[pb_grpc.WorkerStub]:
    async with identity.channel(worker[1]) as channel:
        yield pb_grpc.WorkerStub(channel)


def metrics_url(proc: ManagedProcess) -> str:
    return f"http://127.0.0.1:{proc.env['WORKER_METRICS_PORT']}/metrics"


async def test_health_check_answers_serving_for_the_server_and_the_worker_service(worker):
    async with identity.channel(worker[1]) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "echofs.v1.Worker"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_multi_frame_chunk_round_trips_with_its_header(stub, worker):
    meta, payload = blob(4 * MiB + 123)
    received_before = metric_value(metrics_url(worker[0]), "echofs_worker_bytes_received_total")
    reply = await put_blob(stub, meta, payload)
    assert (reply.chunk_id, reply.stored_size, reply.already_present) == (
        meta.chunk_id, len(payload), False,
    )
    header, data = await get_blob(stub, meta.chunk_id)
    assert data == payload
    assert header == header_of(meta)
    received = metric_value(metrics_url(worker[0]), "echofs_worker_bytes_received_total")
    assert received - received_before == len(payload)


async def test_putting_a_chunk_twice_reports_already_present(stub):
    meta, payload = blob(1000, compressible=True)
    assert (await put_blob(stub, meta, payload)).already_present is False
    assert (await put_blob(stub, meta, payload)).already_present is True


async def test_byte_range_reads_return_that_slice_of_the_blob(stub):
    meta, payload = blob(3 * MiB)
    await put_blob(stub, meta, payload)
    header, data = await get_blob(stub, meta.chunk_id, offset=MiB - 5, length=MiB + 10)
    assert data == payload[MiB - 5 : 2 * MiB + 5]
    assert header.stored_size == len(payload)
    _, tail = await get_blob(stub, meta.chunk_id, offset=3 * MiB - 7)
    assert tail == payload[-7:]


async def test_a_range_starting_past_the_end_is_out_of_range(stub):
    meta, payload = blob(100)
    await put_blob(stub, meta, payload)
    error = await rpc_error(get_blob(stub, meta.chunk_id, offset=101))
    assert error.code() == grpc.StatusCode.OUT_OF_RANGE
    assert error.details().startswith("range_not_satisfiable: ")


async def test_an_unknown_chunk_is_not_found(stub):
    error = await rpc_error(get_blob(stub, "ab" * 32))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details().startswith("chunk_not_found: ")


def _malformed_streams() -> dict[str, tuple[list[pb.PutChunkRequest], str]]:
    meta, payload = blob(2 * MiB + 10)
    good = list(put_chunk_frames(header_of(meta), payload))
    flipped = bytearray(payload)
    flipped[MiB + 3] ^= 0x40
    return {
        "no header": (good[1:2] * 0, "without a header"),
        "data before header": (good[1:] + good[:1], "data before its header"),
        "two headers": (good[:1] + good, "second header"),
        "fewer bytes than stored_size": (good[:-1], "header declared stored_size"),
        "more bytes than stored_size": ([*good, pb.PutChunkRequest(data=b"x")], "more data"),
        "checksum mismatch": (list(put_chunk_frames(header_of(meta), bytes(flipped))), "sha256"),
        "chunk id not hex": (
            list(put_chunk_frames(header_of(meta, chunk_id="Z" * 64), payload)), "chunk id",
        ),
        "chunk id upper case": (
            list(put_chunk_frames(header_of(meta, chunk_id=meta.chunk_id.upper()), payload)),
            "chunk id",
        ),
        "chunk id too short": (
            list(put_chunk_frames(header_of(meta, chunk_id=meta.chunk_id[:63]), payload)),
            "chunk id",
        ),
        "oversize stored_size": (
            [pb.PutChunkRequest(header=header_of(meta, stored_size=66 * MiB))], "exceeds",
        ),
        "unknown codec": (
            list(put_chunk_frames(header_of(meta, codec=pb.CODEC_UNSPECIFIED), payload)), "codec",
        ),
        "frame over 1 MiB": (
            [good[0], pb.PutChunkRequest(data=payload[: FRAME_SIZE + 1])], "data frame",
        ),
        "empty frame": ([good[0], pb.PutChunkRequest()], "empty frame"),
    }


@pytest.mark.parametrize("case", list(_malformed_streams()))
async def test_malformed_put_streams_are_invalid_argument_and_store_nothing(stub, case):
    frames, hint = _malformed_streams()[case]
    error = await rpc_error(stub.PutChunk(stream_of(frames), timeout=30))
    assert error.code() == INVALID, error.details()
    assert error.details().startswith(("invalid_input: ", "checksum_mismatch: "))
    assert hint in error.details()
    header = next((f.header for f in frames if f.HasField("header")), None)
    if header is not None and len(header.chunk_id) == 64 and header.chunk_id.islower():
        present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=[header.chunk_id]))
        assert list(present.present) == [False]


async def test_a_failed_rpc_is_logged_under_the_callers_request_id(stub, worker):
    meta, payload = blob(100)
    frames = put_chunk_frames(header_of(meta, blob_sha256="0" * 64), payload)
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    error = await rpc_error(
        stub.PutChunk(frames, timeout=10, metadata=(("x-request-id", request_id),))
    )
    assert error.code() == INVALID
    lines: list[str] = []
    for _ in range(50):  # the worker logs just after it answered
        lines = [line for line in worker[0].log_path.read_text().splitlines() if request_id in line]
        if lines:
            break
        await asyncio.sleep(0.1)
    assert lines and all('"request_id": "' + request_id in line for line in lines)
    assert any("PutChunk failed with INVALID_ARGUMENT" in line for line in lines)


async def test_has_chunks_answers_in_request_order_and_rejects_bad_ids(stub):
    stored = [blob(10), blob(20)]
    for meta, payload in stored:
        await put_blob(stub, meta, payload)
    ids = [stored[1][0].chunk_id, "0" * 64, stored[0][0].chunk_id]
    reply = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=ids), timeout=5)
    assert list(reply.present) == [True, False, True]
    error = await rpc_error(stub.HasChunks(pb.HasChunksRequest(chunk_ids=["nope"]), timeout=5))
    assert error.code() == INVALID


async def test_delete_chunk_removes_it_and_says_whether_it_was_there(stub):
    meta, payload = blob(500)
    await put_blob(stub, meta, payload)
    first = await stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=meta.chunk_id), timeout=5)
    second = await stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=meta.chunk_id), timeout=5)
    assert (first.deleted, second.deleted) == (True, False)
    error = await rpc_error(get_blob(stub, meta.chunk_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_list_chunks_streams_the_inventory_in_order_and_resumes(stub):
    async def inventory(after: str = "", batch_size: int = 0) -> list[list[str]]:
        request = pb.ListChunksRequest(after_chunk_id=after, batch_size=batch_size)
        return [[c.chunk_id for c in batch.chunks] async for batch in stub.ListChunks(request)]

    for _ in range(5):
        await put_blob(stub, *blob(64))
    everything = [cid for batch in await inventory() for cid in batch]
    assert everything == sorted(everything) and len(everything) >= 5
    batches = await inventory(batch_size=2)
    assert all(len(batch) <= 2 for batch in batches)
    assert [cid for batch in batches for cid in batch] == everything
    resumed = [cid for batch in await inventory(after=everything[2]) for cid in batch]
    assert resumed == everything[3:]


async def test_get_status_reports_identity_usage_and_backend(stub):
    meta, payload = blob(777)
    await put_blob(stub, meta, payload)
    status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
    assert (status.worker_id, status.backend, status.draining) == ("w-grpc", "local", False)
    assert status.chunk_count >= 1 and status.used_bytes >= 777
    assert status.capacity_bytes > status.used_bytes


async def test_metrics_page_has_the_promised_series(stub, worker):
    await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
    stored = blob(10)
    await put_blob(stub, *stored)
    # Read one back so bytes_sent counts this test's own reply, whatever ran before.
    assert (await get_blob(stub, stored[0].chunk_id))[1] == stored[1]
    meta, payload = blob(10)
    await rpc_error(stub.PutChunk(put_chunk_frames(header_of(meta, raw_size=1), payload[:5])))
    await rpc_error(get_blob(stub, "e" * 64))
    url = metrics_url(worker[0])
    assert metric_value(url, "echofs_grpc_requests_total", '{code="OK",method="GetStatus"}') >= 1
    assert metric_value(url, "echofs_worker_chunks") >= 1
    assert metric_value(url, "echofs_storage_usage_bytes") > 0
    invalid_puts = '{code="INVALID_ARGUMENT",method="PutChunk"}'
    assert metric_value(url, "echofs_grpc_errors_total", invalid_puts) >= 1
    missing_gets = '{code="NOT_FOUND",method="GetChunk"}'
    assert metric_value(url, "echofs_grpc_errors_total", missing_gets) >= 1
    put_count = "echofs_grpc_request_duration_seconds_count"
    assert metric_value(url, put_count, '{method="PutChunk"}') >= 2
    assert metric_value(url, "echofs_worker_bytes_sent_total") > 0


# ReplicateChunk needs registered peers: tests/integration/test_attacks.py runs it in a
# real cluster (copies to a registered worker, refuses any other address).


async def test_sigterm_stops_the_worker_cleanly(base_dir):
    proc, _ = start_worker(base_dir, "w-stop")
    assert proc.stop() == 0


async def _health_status(address: str) -> int:
    async with identity.channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return int(reply.status)


async def _wait_health(address: str, wanted: int, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while await _health_status(address) != wanted:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.1)


async def test_health_is_not_serving_while_the_store_is_unusable(base_dir):
    proc, address = start_worker(base_dir, "w-unusable")
    data_dir = base_dir / "w-unusable"
    try:
        shutil.rmtree(data_dir / "blobs")
        shutil.rmtree(data_dir / "tmp")
        await _wait_health(address, health_pb2.HealthCheckResponse.NOT_SERVING)
        (data_dir / "blobs").mkdir()
        (data_dir / "tmp").mkdir()
        await _wait_health(address, health_pb2.HealthCheckResponse.SERVING)
    finally:
        proc.stop()


async def test_sigterm_lets_an_in_flight_put_finish_before_stopping(base_dir):
    proc, address = start_worker(base_dir, "w-drain")
    port = int(address.rsplit(":", 1)[1])
    meta, payload = blob(3 * MiB)
    frames = list(put_chunk_frames(header_of(meta), payload))
    signalled = asyncio.Event()

    async def slow_frames() -> AsyncIterator[pb.PutChunkRequest]:
        yield frames[0]
        yield frames[1]
        await signalled.wait()
        await asyncio.sleep(0.5)  # the worker is draining now
        for frame in frames[2:]:
            yield frame

    try:
        async with identity.channel(address) as channel:
            call = pb_grpc.WorkerStub(channel).PutChunk(slow_frames(), timeout=30)
            await asyncio.sleep(0.3)
            proc.signal(signal.SIGTERM)
            signalled.set()
            reply = await call
            assert reply.already_present is False
        assert proc.process is not None and proc.process.wait(timeout=15) == 0
    finally:
        proc.stop()
    proc, address = start_worker(base_dir, "w-drain", port=port)
    try:
        async with fresh_channel(address) as channel:
            assert (await get_blob(pb_grpc.WorkerStub(channel), meta.chunk_id))[1] == payload
    finally:
        proc.stop()


async def test_the_largest_chunk_round_trips_and_one_byte_more_than_allowed_is_refused(stub):
    meta, payload = blob(64 * MiB)
    reply = await put_blob(stub, meta, payload)
    assert reply.stored_size == 64 * MiB
    assert (await get_blob(stub, meta.chunk_id))[1] == payload
    too_big = [pb.PutChunkRequest(header=header_of(meta, stored_size=MAX_STORED_SIZE + 1))]
    error = await rpc_error(stub.PutChunk(stream_of(too_big), timeout=10))
    assert error.code() == INVALID and "exceeds" in error.details()


async def test_concurrent_puts_of_one_chunk_store_it_once(stub):
    meta, payload = blob(2 * MiB)
    replies = await asyncio.gather(*(put_blob(stub, meta, payload) for _ in range(6)))
    assert sorted(r.already_present for r in replies) == [False] + [True] * 5
    assert (await get_blob(stub, meta.chunk_id))[1] == payload


async def test_metrics_port_defaults_to_the_grpc_port_plus_100(base_dir):
    port = free_port()
    proc, _ = start_worker(base_dir, "w-metrics", port=port, extra_env={"WORKER_METRICS_PORT": "0"})
    try:
        url = f"http://127.0.0.1:{port + 100}/metrics"
        assert metric_value(url, "echofs_worker_capacity_bytes") > 0
    finally:
        proc.stop()

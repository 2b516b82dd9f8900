"""Bit rot on a worker's disk: a flipped byte is caught on read and by the scrubber.

The blob files are real files of a real worker process (or of a local store opened
in-process for the scrubber's ``run_once``); the test flips one byte behind the
worker's back, as a failing disk would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, metric_value, put_blob, rpc_error
from worker.backends.local import LocalBackend
from worker.scrubber import Scrubber
from worker.store import ChunkStore

MiB = 1024 * 1024


def flip_byte_on_disk(data_dir: Path, chunk_id: str, position_from_end: int = 1000) -> Path:
    """Find the chunk's file by name wherever the worker put it and flip one byte."""
    (path,) = [p for p in data_dir.rglob(chunk_id) if "quarantine" not in p.parts]
    raw = bytearray(path.read_bytes())
    raw[-position_from_end] ^= 0x10
    path.write_bytes(bytes(raw))
    return path


async def test_a_flipped_byte_fails_the_read_with_data_loss_and_is_quarantined(tmp_path: Path):
    proc, address = start_worker(tmp_path, "w-rot")
    metrics = f"http://127.0.0.1:{proc.env['WORKER_METRICS_PORT']}/metrics"
    try:
        meta, payload = blob(2 * MiB)
        healthy = blob(1000)
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            await put_blob(stub, meta, payload)
            await put_blob(stub, *healthy)
            flip_byte_on_disk(tmp_path / "w-rot", meta.chunk_id)

            error = await rpc_error(get_blob(stub, meta.chunk_id, offset=0, length=100))
            assert error.code() == grpc.StatusCode.DATA_LOSS
            assert error.details().startswith("chunk_corrupt: ")

            assert metric_value(metrics, "echofs_corrupt_blobs_total") == 1
            present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=[meta.chunk_id]))
            assert list(present.present) == [False]  # no longer offered as a replica
            again = await rpc_error(get_blob(stub, meta.chunk_id))
            assert again.code() == grpc.StatusCode.NOT_FOUND
            status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
            assert status.corrupt_blobs_found == 1 and status.chunk_count == 1
            assert (await get_blob(stub, healthy[0].chunk_id))[1] == healthy[1]
        quarantined = list((tmp_path / "w-rot" / "quarantine").iterdir())
        assert [p.name.split(".")[0] for p in quarantined] == [meta.chunk_id]
        assert quarantined[0].stat().st_size > len(payload)  # kept whole, for forensics
    finally:
        proc.stop()


async def test_the_scrubber_finds_a_flipped_byte_nobody_reads(tmp_path: Path):
    backend = LocalBackend(tmp_path / "data")
    store = ChunkStore(backend)
    await store.open()
    chunks = [blob(300_000) for _ in range(4)]
    for meta, payload in chunks:
        await store.put(meta, payload)
    victim = chunks[2][0].chunk_id
    flip_byte_on_disk(tmp_path / "data", victim, position_from_end=7)

    report = await Scrubber(store, bytes_per_second=0).run_once()

    assert report.corrupt_chunk_ids == [victim]
    assert report.chunks_checked == 4
    assert report.bytes_checked == 4 * 300_000
    assert await backend.list_quarantined() == [victim]
    assert store.take_corrupt_reports() == [victim]
    assert store.metrics.corrupt_blobs._value.get() == 1
    assert store.metrics.scrub_passes._value.get() == 1
    assert store.metrics.scrub_last_pass._value.get() > 0
    assert [e.chunk_id for e in await store.list()] == sorted(
        m.chunk_id for m, _ in chunks if m.chunk_id != victim
    )
    await store.close()


async def test_a_restarted_worker_scrubs_at_start_and_reports_rot(tmp_path: Path):
    proc, address = start_worker(tmp_path, "w-scrub")
    meta, payload = blob(500_000)
    async with identity.channel(address) as channel:
        await put_blob(pb_grpc.WorkerStub(channel), meta, payload)
    proc.stop()
    flip_byte_on_disk(tmp_path / "w-scrub", meta.chunk_id)
    proc, address = start_worker(tmp_path, "w-scrub", port=int(address.rsplit(":", 1)[1]))
    metrics = f"http://127.0.0.1:{proc.env['WORKER_METRICS_PORT']}/metrics"
    try:
        for _ in range(100):
            if metric_value(metrics, "echofs_scrub_passes_total") >= 1:
                break
            await asyncio.sleep(0.1)
        assert metric_value(metrics, "echofs_corrupt_blobs_total") == 1
        assert metric_value(metrics, "echofs_scrub_bytes_total") >= len(payload)
    finally:
        proc.stop()

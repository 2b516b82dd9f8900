"""Put/get throughput and CPU of one worker process, per backend.

For each backend (``local``: one file per blob; ``volumes``: the local disk with small
blobs as needles in volume files, ``WORKER_VOLUMES=1``; ``s3``: against a moto server
started here on loopback) one real worker process is started and driven over gRPC by
``--streams`` concurrent clients, for chunks of random (incompressible) data of each of
``--sizes``: PutChunk of fresh chunks (or, with ``--batch N``, PutChunks of N blobs per
call for chunks up to 256 KiB — the master's path for small blobs), then GetChunk of
those chunks, each phase bounded by ``--seconds``. The worker's CPU seconds per
operation (user + system, from /proc) are reported beside the rates. Prints a table and
then one JSON document.

    .venv/bin/python -m bench.worker_bench [--seconds 4] [--streams 4]
        [--backends local,volumes,s3] [--sizes 4MiB,64KiB,4KiB] [--batch 16]

Never run as a test. Client and worker share the machine, so the figures are a
floor for what the worker does on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.proc_stats import cpu_seconds
from common.chunks import Codec
from common.chunkwire import (
    SMALL_BLOB_MAX_BYTES,
    codec_to_pb,
    put_chunk_frames,
    read_chunk_stream,
)
from common.cluster_auth import ClusterIdentity, ClusterTls
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tools.certs import ClusterCa, ClusterSecrets
from tools.moto_server import moto_server
from tools.workers import start_worker

__all__ = ["main"]

KiB = 1024
MiB = 1024 * KiB
SIZES = {"4MiB": 4 * MiB, "64KiB": 64 * KiB, "4KiB": 4 * KiB}
# Enough distinct chunks that a put phase never runs out before its time is up.
POOL_BYTES = 384 * MiB
POOL_MAX_CHUNKS = 40_000
# What each --backends name starts: (WORKER_BACKEND, extra environment).
BACKENDS = {
    "local": ("local", {"WORKER_VOLUMES": "0"}),
    "volumes": ("local", {"WORKER_VOLUMES": "1"}),
    "s3": ("s3", {}),
}


@dataclass
class Result:
    backend: str
    chunk: str
    op: str
    ops: int
    seconds: float
    mb_per_s: float
    ops_per_s: float
    worker_cpu_ms_per_op: float


def _chunk_pool(size: int) -> list[tuple[pb.ChunkHeader, bytes]]:
    """Distinct random chunks with their headers (hashed before timing starts)."""
    base = os.urandom(size)
    pool = []
    for index in range(max(8, min(POOL_MAX_CHUNKS, POOL_BYTES // size))):
        payload = index.to_bytes(8, "big") + base[8:]
        digest = hashlib.sha256(payload).hexdigest()
        header = pb.ChunkHeader(
            chunk_id=digest, codec=codec_to_pb(Codec.RAW), raw_size=size,  # type: ignore[arg-type]
            stored_size=size, blob_sha256=digest,
        )
        pool.append((header, payload))
    return pool


async def _phase(
    address: str, streams: int, seconds: float, work: list[tuple[pb.ChunkHeader, bytes]],
    op: str, batch: int = 0,
) -> tuple[int, int, float, list[tuple[pb.ChunkHeader, bytes]]]:
    """Run ``op`` over ``work`` from ``streams`` clients until done or out of time."""
    done: list[tuple[pb.ChunkHeader, bytes]] = []
    cursor = iter(work)
    moved = 0
    deadline = time.monotonic() + seconds

    async def client(stub: pb_grpc.WorkerStub) -> None:
        nonlocal moved
        while time.monotonic() < deadline:
            if op == "put" and batch:
                items = [item for _, item in zip(range(batch), cursor, strict=False)]
                if not items:
                    return
                reply = await stub.PutChunks(pb.PutChunksRequest(blobs=[
                    pb.SmallBlob(header=header, data=payload) for header, payload in items
                ]), timeout=60)
                assert all(outcome.status_code == 0 for outcome in reply.outcomes)
                moved += sum(len(payload) for _, payload in items)
                done.extend(items)
                continue
            try:
                header, payload = next(cursor)
            except StopIteration:
                return
            if op == "put":
                await stub.PutChunk(put_chunk_frames(header, payload), timeout=60)
            else:
                request = pb.GetChunkRequest(chunk_id=header.chunk_id)
                _, data = await read_chunk_stream(
                    stub.GetChunk(request, timeout=60), max_bytes=len(payload)
                )
                assert len(data) == len(payload)
            moved += len(payload)
            done.append((header, payload))

    options = [("grpc.max_receive_message_length", 2 * MiB),
               ("grpc.max_send_message_length", 2 * MiB)]
    channels = [_CLUSTER["identity"].signed_channel(address, _CLUSTER["worker_id"], options)
                for _ in range(streams)]
    started = time.monotonic()
    try:
        await asyncio.gather(*(client(pb_grpc.WorkerStub(ch)) for ch in channels))
    finally:
        for channel in channels:
            await channel.close()
    return len(done), moved, time.monotonic() - started, done


async def _bench_backend(
    backend: str, address: str, worker_pid: int, options: argparse.Namespace,
) -> list[Result]:
    results = []
    for label in options.sizes.split(","):
        size = SIZES[label]
        pool = _chunk_pool(size)
        stored: list[tuple[pb.ChunkHeader, bytes]] = []
        for op in ("put", "get"):
            work = pool
            if op == "get":  # cycle over what was stored until the time is up
                work = stored * (1 + 8 * len(pool) // max(1, len(stored)))
            batch = options.batch if size <= SMALL_BLOB_MAX_BYTES else 0
            cpu_before = cpu_seconds(worker_pid)
            ops, moved, elapsed, done = await _phase(
                address, options.streams, options.seconds, work, op, batch
            )
            cpu_ms = (cpu_seconds(worker_pid) - cpu_before) * 1000 / max(1, ops)
            if op == "put":
                stored = done
            name = f"{op}x{batch}" if op == "put" and batch else op
            results.append(Result(
                backend, label, name, ops, round(elapsed, 2),
                round(moved / MiB / elapsed, 1), round(ops / elapsed, 1), round(cpu_ms, 3),
            ))
            print(f"  {backend:7} {label:6} {name:6}: {results[-1].mb_per_s:8.1f} MB/s "
                  f"{results[-1].ops_per_s:8.1f} ops/s {cpu_ms:7.3f} worker CPU ms/op",
                  flush=True)
        del pool
    return results


def _moto_server(log_dir: Path) -> AbstractContextManager[str]:
    return moto_server(log_dir / "moto.log")


# The bench's own cluster identity (a CA and a secret under its temporary folder), and the
# worker being measured: set by _run, read by _phase.
_CLUSTER: dict[str, Any] = {}


def _cluster_member(base: Path, worker_id: str) -> dict[str, str]:
    """The env that makes the benched worker a cluster member; the client's identity."""
    secrets = ClusterSecrets.load_or_create(base / "cluster")
    ca = ClusterCa(base / "cluster" / "tls")
    client = ca.issue("bench-client")
    _CLUSTER["identity"] = ClusterIdentity(secrets.cluster_secret, ClusterTls.from_files(
        client.ca_file, client.cert_file, client.key_file))
    _CLUSTER["worker_id"] = worker_id
    return {"CLUSTER_SECRET": secrets.cluster_secret, **ca.issue(worker_id).env()}


async def _run(options: argparse.Namespace, base: Path) -> list[Result]:
    results: list[Result] = []
    for backend in options.backends.split(","):
        worker_backend, backend_env = BACKENDS[backend]
        env = {"WORKER_SCRUB_BYTES_PER_SECOND": "0", **backend_env}
        moto = _moto_server(base) if worker_backend == "s3" else None
        endpoint = moto.__enter__() if moto is not None else ""
        if endpoint:
            env.update({"S3_ENDPOINT_URL": endpoint, "S3_BUCKET": "bench",
                        "S3_ACCESS_KEY_ID": "bench", "S3_SECRET_ACCESS_KEY": "bench"})
        try:
            worker_id = f"bench-{backend}"
            proc, address = start_worker(base, worker_id, backend=worker_backend, extra_env=env,
                                         cluster_env=_cluster_member(base, worker_id))
            try:
                results += await _bench_backend(backend, address, proc.pid, options)
            finally:
                proc.stop()
        finally:
            if moto is not None:
                moto.__exit__(None, None, None)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="time limit per phase")
    parser.add_argument("--streams", type=int, default=4, help="concurrent client streams")
    parser.add_argument("--backends", default="local,volumes,s3",
                        help=f"any of {', '.join(BACKENDS)}")
    parser.add_argument("--sizes", default="4MiB,64KiB,4KiB", help=f"any of {', '.join(SIZES)}")
    parser.add_argument("--batch", type=int, default=0,
                        help="PutChunks of this many blobs per call for small chunks (0: PutChunk)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="echofs-worker-bench-"))
    try:
        print(f"worker bench: {args.streams} streams, {args.seconds:g}s per phase", flush=True)
        results = asyncio.run(_run(args, base))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'backend':8}{'chunk':8}{'op':7}{'ops':>7}{'MB/s':>9}{'ops/s':>9}{'CPU ms/op':>11}")
    for r in results:
        print(f"{r.backend:8}{r.chunk:8}{r.op:7}{r.ops:7d}{r.mb_per_s:9.1f}{r.ops_per_s:9.1f}"
              f"{r.worker_cpu_ms_per_op:11.3f}")
    print(json.dumps({
        "streams": args.streams, "seconds_per_phase": args.seconds, "batch": args.batch,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": [asdict(r) for r in results],
    }, indent=2))


if __name__ == "__main__":
    main()

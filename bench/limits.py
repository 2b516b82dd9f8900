"""This machine's ceilings, measured in the same run as the benchmarks.

- disk: new data written in 4 MiB files, each fsync'd and renamed into place with the folder
  fsync'd (what a worker does per chunk), from one writer and from three (three workers
  on one disk), and the same bytes as one streamed file with
  one fsync at the end; small files: 4 KiB create + fsync + rename + folder fsync per second,
  from one thread and from 16;
- loopback TCP: one connection on 127.0.0.1, 1 MiB sends, ``recv_into`` a reused buffer;
- zstd level 1 compress and decompress on one core (the benchmark's compressible data);
- SHA-256 on one core.

Run alone: ``.venv/bin/python -m bench.limits`` (prints JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zstandard

from worker.backends.group_sync import fsync_path

__all__ = ["machine_description", "measure_limits", "pressure"]

MiB = 1024 * 1024


def disk_chunk_files_mb_s(folder: Path, total_mib: int, threads: int = 1,
                          file_mib: int = 4) -> float:
    """Fresh random 4 MiB files: write temp, fsync, rename, fsync folder. MiB/s in total.

    ``threads`` writers share the work, each in its own folder, as three workers on one
    disk do.
    """
    blocks = [os.urandom(file_mib * MiB) for _ in range(4)]
    files = total_mib // file_mib

    def write(writer: int) -> None:
        where = folder / f"w{writer}"
        where.mkdir(parents=True, exist_ok=True)
        for i in range(writer, files, threads):
            tmp = where / f".tmp-{i}"
            with tmp.open("wb") as handle:
                handle.write(blocks[i % len(blocks)])
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, where / f"chunk-{i}")
            fsync_path(where)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(threads)))
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return files * file_mib / elapsed


def disk_stream_mb_s(folder: Path, total_mib: int) -> float:
    """One file, 4 MiB writes, one fsync at the end. MiB/s."""
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(4 * MiB)
    path = folder / "stream.bin"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(total_mib // 4):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return total_mib / elapsed


def disk_small_files_ops_s(folder: Path, count: int, threads: int = 1) -> float:
    """4 KiB files, each: write temp, fsync, rename, fsync folder. Files per second.

    With ``threads`` > 1 the fsyncs of concurrent writers share journal commits, as the
    benchmark's 16 concurrent small-file writers do.
    """
    folder.mkdir(parents=True, exist_ok=True)
    payload = os.urandom(4096)

    def write(i: int) -> None:
        tmp = folder / f".tmp-{i}"
        with tmp.open("wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, folder / f"f-{i}")
        fsync_path(folder)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(write, range(count)))
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return count / elapsed


def loopback_tcp_mb_s(total_mib: int) -> float:
    """One TCP connection over 127.0.0.1, a sender thread and a receiving thread. MiB/s."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    payload = os.urandom(MiB)
    received = 0

    def receive() -> None:
        nonlocal received
        conn, _ = server.accept()
        buffer = bytearray(MiB)
        with conn:
            while True:
                n = conn.recv_into(buffer)
                if not n:
                    return
                received += n

    receiver = threading.Thread(target=receive)
    receiver.start()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as client:
        for _ in range(total_mib):
            client.sendall(payload)
    receiver.join()
    elapsed = time.perf_counter() - started
    server.close()
    assert received == total_mib * MiB
    return total_mib / elapsed


def zstd_mb_s(data: bytes, level: int = 1, piece: int = 4 * MiB) -> dict[str, float]:
    """Compress and decompress ``data`` in 4 MiB chunks on one core: MiB/s and ratio."""
    compressor = zstandard.ZstdCompressor(level=level)
    decompressor = zstandard.ZstdDecompressor()
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
    started = time.perf_counter()
    packed = [compressor.compress(p) for p in pieces]
    compress_s = time.perf_counter() - started
    started = time.perf_counter()
    for blob in packed:
        decompressor.decompress(blob)
    decompress_s = time.perf_counter() - started
    size_mib = len(data) / MiB
    return {
        "compress_mb_s": size_mib / compress_s,
        "decompress_mb_s": size_mib / decompress_s,
        "ratio": len(data) / sum(len(b) for b in packed),
    }


def sha256_mb_s(data: bytes, piece: int = 4 * MiB) -> float:
    view = memoryview(data)
    started = time.perf_counter()
    for i in range(0, len(view), piece):
        hashlib.sha256(view[i : i + piece]).digest()
    return len(data) / MiB / (time.perf_counter() - started)


def _best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """The best of a few tries: ceilings are what the machine can do when left alone."""
    return max(fn() for _ in range(repeats))


def measure_limits(work_dir: Path, compressible: bytes, scale: str = "full") -> dict[str, float]:
    """All ceilings; ``compressible`` is the benchmark's compressible data set (≥ 64 MiB)."""
    full = scale != "small"
    disk_mib = 1024 if full else 128
    repeats = 2 if full else 1
    random_data = os.urandom(256 * MiB if full else 64 * MiB)
    sample = compressible[: 256 * MiB if full else 64 * MiB]
    zstd_random = zstd_mb_s(random_data)
    zstd_text = max((zstd_mb_s(sample) for _ in range(repeats)),
                    key=lambda r: r["compress_mb_s"])
    return {
        "disk_chunk_files_fsync_mb_s": _best(
            lambda: disk_chunk_files_mb_s(work_dir / "chunks", disk_mib), repeats),
        "disk_chunk_files_fsync_3_writers_mb_s": _best(
            lambda: disk_chunk_files_mb_s(work_dir / "chunks3", disk_mib, threads=3), repeats),
        "disk_stream_fsync_mb_s": _best(
            lambda: disk_stream_mb_s(work_dir / "stream", disk_mib), repeats),
        "disk_small_files_fsync_ops_s": _best(
            lambda: disk_small_files_ops_s(work_dir / "small", 1000 if full else 200), repeats),
        "disk_small_files_fsync_16_threads_ops_s": _best(
            lambda: disk_small_files_ops_s(work_dir / "small16", 2000 if full else 400, 16),
            repeats),
        "loopback_tcp_mb_s": _best(lambda: loopback_tcp_mb_s(4096 if full else 1024), repeats),
        "zstd1_compress_mb_s_per_core": zstd_text["compress_mb_s"],
        "zstd1_decompress_mb_s_per_core": zstd_text["decompress_mb_s"],
        "zstd1_ratio_compressible": zstd_text["ratio"],
        "zstd1_compress_random_mb_s_per_core": zstd_random["compress_mb_s"],
        "sha256_mb_s_per_core": _best(lambda: sha256_mb_s(random_data), repeats),
    }


def _disk_of(path: Path) -> str:
    try:
        device = subprocess.run(["df", "--output=source", str(path)], capture_output=True,
                                text=True, check=True).stdout.split()[-1]
        name = Path(device).name
        rotational = Path(f"/sys/block/{name}/queue/rotational").read_text().strip()
        size = int(Path(f"/sys/block/{name}/size").read_text()) * 512
        kind = "rotational" if rotational == "1" else "non-rotational"
        virtio = ", virtio" if name.startswith("vd") else ""
        return f"{device}, {size / 2**30:.0f} GiB{virtio}, the kernel reports it {kind}"
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return "unknown"


def pressure() -> dict[str, float]:
    """Linux PSI: % of the last 60 s some task waited for CPU / for I/O (other load)."""
    out: dict[str, float] = {}
    for resource in ("cpu", "io"):
        try:
            first = Path(f"/proc/pressure/{resource}").read_text().splitlines()[0]
            fields = dict(item.split("=") for item in first.split()[1:])
            out[f"{resource}_some_avg60"] = float(fields["avg60"])
        except (OSError, IndexError, KeyError, ValueError):
            continue
    return out


def machine_description(work_dir: Path) -> dict[str, object]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "disk": _disk_of(work_dir if work_dir.exists() else Path.cwd()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "pressure_at_start": pressure(),
    }


if __name__ == "__main__":
    from bench.workloads import compressible_block

    where = Path(__file__).resolve().parent.parent / "var" / "bench" / "limits"
    data = b"".join(compressible_block(i) for i in range(64))
    print(json.dumps({"machine": machine_description(where),
                      "limits": measure_limits(where, data,
                                               os.environ.get("BENCH_SCALE", "full"))},
                     indent=2))

"""What proving a blob's content id costs a worker, next to the checksum it already checks.

For 4 MiB chunks of (a) random data, stored raw, and (b) the benchmarks' compressible
text-like data (``bench.workloads.compressible_block``), stored zstd level 1 (both
encoded by ``common.chunks.encode_chunk`` as the master does),
measures on one core, in CPU seconds (``time.process_time``):

- the outer checksum: SHA-256 of the stored blob, compared with the declared one;
- the content-id check: ``common.chunks.check_content_id`` (nothing more for a raw blob;
  streaming decompression and SHA-256 of the content for a zstd blob).

Figures are per GB (10^9 bytes) of chunk content, and per GB of stored blob bytes.

Run: ``.venv/bin/python -m bench.content_id_cost [--total-mib 1024]`` (prints a table).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable

from bench.workloads import compressible_block
from common.chunks import Codec, EncodedChunk, check_content_id, encode_chunk

__all__ = ["measure"]

MiB = 1024 * 1024
GB = 1e9
CHUNK_BYTES = 4 * MiB
def _cpu_seconds(work: Callable[[], None], rounds: int) -> float:
    started = time.process_time()
    for _ in range(rounds):
        work()
    return time.process_time() - started


def measure(chunks: list[EncodedChunk], total_bytes: int) -> dict[str, float]:
    """CPU s per GB of content and per GB stored, for the checksum and the content check."""
    rounds = max(1, total_bytes // (CHUNK_BYTES * len(chunks)))

    def outer() -> None:
        for chunk in chunks:
            if hashlib.sha256(chunk.payload).hexdigest() != chunk.blob_sha256:
                raise AssertionError("checksum")

    def content() -> None:
        for chunk in chunks:
            check_content_id(
                chunk.chunk_id, chunk.codec, chunk.raw_size, chunk.payload, chunk.blob_sha256
            )

    content_bytes = rounds * sum(c.raw_size for c in chunks)
    stored_bytes = rounds * sum(c.stored_size for c in chunks)
    outer_s = _cpu_seconds(outer, rounds)
    content_s = _cpu_seconds(content, rounds)
    return {
        "ratio": content_bytes / stored_bytes,
        "outer_per_content_gb": outer_s * GB / content_bytes,
        "content_per_content_gb": content_s * GB / content_bytes,
        "outer_per_stored_gb": outer_s * GB / stored_bytes,
        "content_per_stored_gb": content_s * GB / stored_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mib", type=int, default=1024,
                        help="content checked per case (default 1024 MiB)")
    args = parser.parse_args()
    total = args.total_mib * MiB
    cases = {
        "random, raw": [encode_chunk(os.urandom(CHUNK_BYTES)) for _ in range(4)],
        "text-like, zstd 1": [encode_chunk(compressible_block(index), 1) for index in range(4)],
    }
    print(f"4 MiB chunks, {args.total_mib} MiB of content per case, one core, CPU s per GB")
    print(f"{'case':<20}{'ratio':>7}{'checksum':>12}{'content id':>12}"
          f"{'checksum':>12}{'content id':>12}")
    print(f"{'':<20}{'':>7}{'(per GB of content)':>24}{'(per GB stored)':>24}")
    for name, chunks in cases.items():
        expected = Codec.RAW if name.endswith("raw") else Codec.ZSTD
        if any(chunk.codec is not expected for chunk in chunks):
            raise SystemExit(f"{name}: encode_chunk chose another codec")
        row = measure(chunks, total)
        print(f"{name:<20}{row['ratio']:>7.2f}{row['outer_per_content_gb']:>12.4f}"
              f"{row['content_per_content_gb']:>12.4f}{row['outer_per_stored_gb']:>12.4f}"
              f"{row['content_per_stored_gb']:>12.4f}")


if __name__ == "__main__":
    main()

"""``make bench``: every benchmark in turn, each in its own process.

``bench.compare`` (EchoFS vs SeaweedFS, machine limits, writes ``docs/benchmarks.md``)
comes first, then ``bench.s3_compare`` (the S3 gateways of both, writes
``docs/s3_benchmarks.md``); the single-worker gRPC benchmark follows.
``bench.data_path_bench`` (EchoFS alone) is left out: ``bench.compare`` covers the same
ground; run it by hand if wanted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHES = ["bench.compare", "bench.s3_compare", "bench.worker_bench"]


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    failed = []
    for module in BENCHES:
        if not (root / (module.replace(".", "/") + ".py")).exists():
            continue
        sys.stdout.write(f"\n=== {module}\n")
        sys.stdout.flush()
        if subprocess.run([sys.executable, "-m", module], cwd=root, check=False).returncode:
            failed.append(module)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

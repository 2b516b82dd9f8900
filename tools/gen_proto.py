"""Generate ``common/pb`` from ``proto/`` (``make proto``).

grpc_tools writes absolute imports (``from echofs.v1 import worker_pb2``) that only
resolve when the output folder is on ``sys.path``. We rewrite them to package-relative
imports so the generated code lives inside ``common.pb`` like any other module. The
staleness test calls :func:`generate` into a temporary folder and compares.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

__all__ = ["PB_ROOT", "PROTO_ROOT", "generate"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"
PB_ROOT = REPO_ROOT / "common" / "pb"

_ABSOLUTE_IMPORT = re.compile(r"^from echofs\.v1 import (\w+) as (\w+)$", re.MULTILINE)


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every .proto under ``proto/`` into ``out_dir``; return the files written."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    written: list[Path] = []
    for package_dir in [out_dir, *(p for p in out_dir.rglob("*") if p.is_dir())]:
        init = package_dir / "__init__.py"
        if not init.exists():
            init.write_text("")
    for path in sorted(out_dir.rglob("*.py*")):
        if path.suffix not in {".py", ".pyi"}:
            continue
        text = path.read_text()
        fixed = _ABSOLUTE_IMPORT.sub(r"from . import \1 as \2", text)
        if fixed != text:
            path.write_text(fixed)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PB_ROOT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
        for src in files:
            rel = src.relative_to(tmp)
            dst = args.out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
    sys.stdout.write(f"generated {len(files)} files into {args.out}\n")


if __name__ == "__main__":
    main()

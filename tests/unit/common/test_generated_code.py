"""common/pb must be exactly what `make proto` generates from proto/."""

from __future__ import annotations

from pathlib import Path

from tools.gen_proto import PB_ROOT, generate


def test_committed_protobuf_code_matches_make_proto(tmp_path: Path) -> None:
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in generate(tmp_path)}
    committed = {
        p.relative_to(PB_ROOT): p.read_bytes()
        for p in PB_ROOT.rglob("*")
        if p.is_file() and p.suffix in {".py", ".pyi"} and "__pycache__" not in p.parts
    }
    stale = sorted(str(name) for name in fresh if committed.get(name) != fresh[name])
    extra = sorted(str(name) for name in set(committed) - set(fresh))
    assert not stale and not extra, f"run `make proto`: stale={stale} unexpected={extra}"

"""Only ``master/cluster`` speaks gRPC: the rest of the master sees domain types.

``master.cluster.worker_client.WorkerClient`` is the seam; a protobuf message or a
gRPC call outside ``master/cluster/`` would mean a service decoding wire types again.
"""

from __future__ import annotations

import ast
from pathlib import Path

MASTER = Path(__file__).resolve().parents[3] / "master"
WIRE_MODULES = ("common.pb", "common.chunkwire", "grpc", "grpc_health", "google.protobuf")


def _imported_modules(path: Path) -> list[str]:
    modules: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
    return modules


def test_the_check_sees_the_grpc_client_itself() -> None:
    assert "common.pb.echofs.v1" in _imported_modules(MASTER / "cluster/grpc_worker_client.py")


def test_no_module_outside_master_cluster_imports_protobuf_or_grpc() -> None:
    offenders = [
        f"{path.relative_to(MASTER.parent)}: {module}"
        for path in sorted(MASTER.rglob("*.py"))
        if path.relative_to(MASTER).parts[0] != "cluster"
        for module in _imported_modules(path)
        if any(module == wire or module.startswith(wire + ".") for wire in WIRE_MODULES)
    ]
    assert offenders == []

"""schemathesis against a live master: no 5xx, responses match the published schema."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.api import ApiClient
from tests.support.clusters import fault_scale
from tools.cluster import LocalCluster

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
])
# Generated examples per operation in the fuzzing phase: the full number under
# `make test-fault` (ECHOFS_FAULT_SCALE=full, which runs this file too), fewer under
# `make test`; the examples and coverage phases, the checks and the seed are the same.
MAX_EXAMPLES = 25 if fault_scale() == "full" else 10


async def test_openapi_document_lists_every_route(cluster: LocalCluster, api: ApiClient) -> None:
    status, spec = await api.get_json("/api/v1/openapi.json")
    assert status == 200
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/files/upload", "/api/v1/fs/{bucket}/{path}",
                 "/api/v1/files/{file_id}/download",
                 "/api/v1/workers/health", "/api/v1/health", "/metrics",
                 "/api/v1/buckets", "/api/v1/buckets/{bucket}", "/api/v1/fs/{bucket}/{dir}/",
                 "/api/v1/tasks/{task_id}", "/api/v1/ops/move", "/api/v1/ops/copy",
                 "/api/v1/ops/restore"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert schemas["SessionInit"]["properties"]["bucket"]["type"] == "string"
    assert "bucket" in schemas["SessionStatus"]["properties"]


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    cluster: LocalCluster, api: ApiClient, tmp_path: Path
) -> None:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary is not None, "schemathesis is a test dependency; run make test"
    command = [
        binary, "run", f"{cluster.master_url}/api/v1/openapi.json",
        "--checks", CHECKS,
        "--header", f"Authorization: Bearer {api.token}",
        "--max-examples", str(MAX_EXAMPLES),
        "--phases", "examples,coverage,fuzzing",
        "--seed", "20261121",
        "--request-timeout", "30",
        "--workers", "1",
        "--no-color",
        "--report-dir", str(tmp_path),
    ]
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

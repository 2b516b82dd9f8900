"""Services refuse to start on an empty or well-known secret, in one clear line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.identity import SESSION_SECRET

pytestmark = pytest.mark.timeout(120)

_MODULES = {
    "master": "master.main",
    "worker": "worker.main",
    "controller": "consistency_controller.main",
}
_STRONG_JWT = "j" * 8 + SESSION_SECRET


def _start(module: str, env: dict[str, str], var_dir: Path) -> subprocess.CompletedProcess[str]:
    # DATABASE_URL / REDIS_URL point nowhere: a service that got past its checks would
    # fail later and differently (or start embedded servers); the checks come first.
    base = {k: v for k, v in os.environ.items()
            if k not in ("CLUSTER_SECRET", "JWT_SECRET", "DEV_MODE")}
    full = {**base, "VAR_DIR": str(var_dir), "DATABASE_URL": "postgresql://127.0.0.1:1/x",
            "REDIS_URL": "redis://127.0.0.1:1", "WORKER_PORT": "0", "MASTER_PORT": "0",
            "CONTROLLER_PORT": "0", **env}
    return subprocess.run([sys.executable, "-m", module], env=full, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("service", sorted(_MODULES))
@pytest.mark.parametrize("secret", ["", "dev-cluster-secret", "test-cluster-secret", "short-1"])
def test_a_weak_cluster_secret_stops_every_service(
    service: str, secret: str, tmp_path: Path
) -> None:
    result = _start(_MODULES[service], {"CLUSTER_SECRET": secret, "JWT_SECRET": _STRONG_JWT},
                    tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to start: CLUSTER_SECRET" in lines[0], lines
    if secret:
        assert secret not in lines[0]


@pytest.mark.parametrize("secret", ["", "dev-insecure-jwt-secret-change-me-32b", "changeme"])
def test_a_weak_jwt_secret_stops_the_master(secret: str, tmp_path: Path) -> None:
    result = _start("master.main", {"CLUSTER_SECRET": SESSION_SECRET, "JWT_SECRET": secret},
                    tmp_path)
    assert result.returncode == 2
    assert "refusing to start: JWT_SECRET" in result.stderr
    if secret:
        assert secret not in result.stderr


def test_half_configured_tls_stops_the_worker(tmp_path: Path) -> None:
    result = _start("worker.main", {"CLUSTER_SECRET": SESSION_SECRET,
                                    "CLUSTER_TLS_CERT_FILE": str(tmp_path / "w.pem")}, tmp_path)
    assert result.returncode == 2
    assert "TLS is half configured" in result.stderr


def test_dev_mode_allows_the_old_defaults(tmp_path: Path) -> None:
    """DEV_MODE is the escape hatch for local toys: the checks let the worker start.

    It is judged by what the worker says, not by how long it lives: the "worker listening"
    line comes after every check, and its ports (both ephemeral here, WORKER_PORT=0) must
    really be the worker's. A metrics port of WORKER_PORT + 100 after an ephemeral gRPC port
    could be anyone's, and once was: the worker then died on the bind.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.main"],
        env={**os.environ, "VAR_DIR": str(tmp_path), "WORKER_PORT": "0", "DEV_MODE": "1",
             "CLUSTER_SECRET": "dev-cluster-secret", "WORKER_BACKEND": "memory"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        listening = _first_log_line(proc, "worker listening", within_s=60)
        assert listening is not None, "the worker exited before listening"
        assert proc.poll() is None
        metrics_url = f"http://127.0.0.1:{listening['metrics_port']}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=10) as reply:
            assert b"echofs_worker_capacity_bytes" in reply.read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.stderr is not None
        proc.stderr.close()


def _first_log_line(
    proc: subprocess.Popen[str], message: str, within_s: float
) -> dict[str, Any] | None:
    """The first JSON log line on stderr whose msg is message, or None if the process ends."""
    assert proc.stderr is not None
    found: list[dict[str, Any]] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{") and json.loads(line).get("msg") == message:
                found.append(json.loads(line))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(within_s)
    return found[0] if found else None

"""Start one real worker process (``python -m worker.main``) outside a whole cluster.

For benchmarks and tests of a single worker; ``tools.cluster`` starts whole clusters.
"""

from __future__ import annotations

from pathlib import Path

from common.embedded import free_port
from tools.procs import ManagedProcess, wait_for_grpc_serving

__all__ = ["start_worker"]


def start_worker(
    base_dir: Path,
    worker_id: str,
    *,
    port: int = 0,
    backend: str = "local",
    master_url: str = "",
    cluster_env: dict[str, str],
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> tuple[ManagedProcess, str]:
    """Start one worker storing under ``base_dir/worker_id``; return (process, address).

    ``cluster_env`` makes it a member of a cluster (CLUSTER_SECRET and, for mutual TLS,
    the CLUSTER_TLS_* files); with TLS its health service also listens on a plaintext
    port of its own, which is what start-up waits on.
    """
    port = port or free_port()
    health_port = free_port()
    env = {
        **cluster_env,
        "WORKER_HEALTH_PORT": str(health_port),
        "WORKER_ID": worker_id,
        "WORKER_HOST": "127.0.0.1",
        "WORKER_PORT": str(port),
        "WORKER_METRICS_PORT": str(free_port()),
        "WORKER_BACKEND": backend,
        "WORKER_DATA_DIR": str(base_dir / worker_id),
        "VAR_DIR": str(base_dir),
        "MASTER_URL": master_url,
        "HEARTBEAT_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    proc = ManagedProcess(
        name=worker_id, module="worker.main", env=env, log_path=base_dir / f"{worker_id}.log"
    ).start()
    address = f"127.0.0.1:{port}"
    try:
        tls_on = bool(env.get("CLUSTER_TLS_CERT_FILE"))
        health_address = f"127.0.0.1:{health_port}" if tls_on else address
        wait_for_grpc_serving(health_address, timeout_s=timeout_s, proc=proc)
    except BaseException:
        proc.stop()
        raise
    return proc, address

"""Start real worker processes (``python -m worker.main``) for tests."""

from __future__ import annotations

from pathlib import Path

import grpc

from common.embedded import free_port
from tests.support import identity
from tests.support.procs import ManagedProcess, wait_for_grpc_serving

__all__ = ["fresh_channel", "start_worker"]


def start_worker(
    base_dir: Path,
    worker_id: str,
    *,
    port: int = 0,
    backend: str = "local",
    master_url: str = "",
    extra_env: dict[str, str] | None = None,
    timeout_s: float = 30.0,
) -> tuple[ManagedProcess, str]:
    """Start one worker storing under ``base_dir/worker_id``; return (process, address).

    It is a member of the session's cluster (``tests.support.identity``): mutual TLS and
    the session's secret, its health service also on a plaintext port of its own.
    """
    port = port or free_port()
    health_port = free_port()
    env = {
        **identity.worker_identity_env(worker_id),
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


def fresh_channel(address: str) -> grpc.aio.Channel:
    """An aio channel with its own subchannel pool, for a worker restarted on a known port.

    gRPC shares subchannels between channels to the same address process-wide. After a
    worker is killed, the shared subchannel sits in TRANSIENT_FAILURE with a reconnect
    backoff, and a brand-new channel to the restarted worker inherits it: its first RPC
    fails with "Connection refused" although the worker is already SERVING (CI saw this
    about one run in five).
    """
    return identity.channel(address, [("grpc.use_local_subchannel_pool", 1)])

"""Start real worker processes (``python -m worker.main``) for tests."""

from __future__ import annotations

from pathlib import Path

import grpc

from tests.support import identity
from tools import workers as tools_workers
from tools.procs import ManagedProcess

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
    """``tools.workers.start_worker`` as a member of the session's cluster
    (``tests.support.identity``): mutual TLS and the session's secret."""
    return tools_workers.start_worker(
        base_dir, worker_id, port=port, backend=backend, master_url=master_url,
        cluster_env=identity.worker_identity_env(worker_id), extra_env=extra_env,
        timeout_s=timeout_s,
    )


def fresh_channel(address: str) -> grpc.aio.Channel:
    """An aio channel with its own subchannel pool, for a worker restarted on a known port.

    gRPC shares subchannels between channels to the same address process-wide. After a
    worker is killed, the shared subchannel sits in TRANSIENT_FAILURE with a reconnect
    backoff, and a brand-new channel to the restarted worker inherits it: its first RPC
    fails with "Connection refused" although the worker is already SERVING (CI saw this
    about one run in five).
    """
    return identity.channel(address, [("grpc.use_local_subchannel_pool", 1)])

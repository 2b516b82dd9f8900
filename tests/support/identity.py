"""One cluster identity for a whole test session: secret, CA, certificates.

Every test cluster (``module_cluster``) and every standalone worker (``start_worker``)
of a session uses the same CLUSTER_SECRET and the same CA, so a test can call any of
their workers as the master does: ``channel(address)`` / ``sync_channel(address)``
return channels whose calls carry the cluster credential, over mutual TLS.

Test clients name the server ``localhost`` when they dial (every test certificate
carries it); the master itself always checks the worker's own id.
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import grpc

from common.cluster_auth import ClusterIdentity, ClusterTls
from tests.support.services import scratch_dir
from tools.certs import ClusterCa

__all__ = ["SESSION_SECRET", "channel", "session_ca", "session_identity", "sync_channel",
           "worker_identity_env"]

SESSION_SECRET = secrets.token_urlsafe(48)
TEST_SERVER_NAME = "localhost"


@functools.cache
def session_ca() -> ClusterCa:
    """The session's CA, in a scratch folder removed when the test process exits (the
    keys in it are worth nothing after the session; left behind, they piled up)."""
    folder = scratch_dir() / f"tls-{os.getpid()}-{secrets.token_hex(4)}"
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return ClusterCa(folder)


def session_tls_dir() -> Path:
    return session_ca().folder


@functools.cache
def session_identity() -> ClusterIdentity:
    files = session_ca().issue("test-client")
    return ClusterIdentity(
        SESSION_SECRET, ClusterTls.from_files(files.ca_file, files.cert_file, files.key_file)
    )


def worker_identity_env(worker_id: str) -> dict[str, str]:
    """The env a standalone worker needs to be a member of the session's cluster."""
    return {"CLUSTER_SECRET": SESSION_SECRET, **session_ca().issue(worker_id).env()}


def channel(address: str, options: list[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    return session_identity().signed_channel(address, TEST_SERVER_NAME, options or [])


def sync_channel(address: str, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
    return session_identity().signed_sync_channel(address, TEST_SERVER_NAME, options or [])

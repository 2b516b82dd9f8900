"""What an attacker of a cluster has, and how a member checks what the attack did.

For ``tests/integration/test_attacks.py``: channels of every kind an outsider can open
to a worker, a TCP listener that counts who dials it, and a replica census taken with
the cluster's own credentials.
"""

from __future__ import annotations

import socket
import threading

import grpc

from common.cluster_auth import ClusterTls
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tools.certs import ClusterCa
from tools.cluster import LocalCluster

__all__ = ["Listener", "attacker_channels", "replica_census"]


def _addresses(cluster: LocalCluster) -> dict[str, str]:
    return {w.worker_id: w.address for w in cluster.workers.values()}


def replica_census(cluster: LocalCluster, chunk_ids: list[str]) -> dict[str, set[str]]:
    """Asked with the cluster's credentials, as the master would."""
    identity = cluster.identity("test-observer")
    found: dict[str, set[str]] = {c: set() for c in chunk_ids}
    for worker_id, address in _addresses(cluster).items():
        with identity.signed_sync_channel(address, worker_id) as channel:
            reply = pb_grpc.WorkerStub(channel).HasChunks(
                pb.HasChunksRequest(chunk_ids=chunk_ids), timeout=10)
        for chunk_id, present in zip(chunk_ids, reply.present, strict=True):
            if present:
                found[chunk_id].add(worker_id)
    return found


def attacker_channels(cluster: LocalCluster, address: str, worker_id: str
                       ) -> list[tuple[str, grpc.aio.Channel]]:
    """Every way in an attacker has who lacks the cluster's secret (and key)."""
    channels: list[tuple[str, grpc.aio.Channel]] = [
        ("plaintext, no credential", grpc.aio.insecure_channel(address)),
    ]
    if cluster.ca is not None:
        ca_pem = cluster.ca.ca_file.read_bytes()
        override = [("grpc.ssl_target_name_override", worker_id)]
        channels.append(("TLS without a client certificate", grpc.aio.secure_channel(
            address, grpc.ssl_channel_credentials(root_certificates=ca_pem), options=override)))
        rogue = ClusterCa(cluster.spec.base_dir / "rogue-ca", "Rogue CA").issue("rogue")
        rogue_tls = ClusterTls(ca_pem, rogue.cert_file.read_bytes(), rogue.key_file.read_bytes())
        channels.append(("TLS with another CA's certificate", grpc.aio.secure_channel(
            address, rogue_tls.channel_credentials(), options=override)))
        # A stolen cluster certificate alone, without the secret, is not enough either.
        member = cluster.identity("stolen-cert")
        channels.append(("cluster certificate, no credential", member.channel(address, worker_id)))
    return channels


class Listener:
    """A TCP port that counts connections: where an attacker wants a worker to dial."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

"""Every attack of issue 13 against a real cluster, and what the attacker gets: nothing.

Each test uploads a victim's file, tries the attack, then checks with the cluster's own
credentials that nothing was read, changed or deleted: every replica is still on its
worker and the victim downloads the same bytes. The suite runs twice: with mutual TLS
(the default, as ``make run-cluster``) and with per-call credentials only (TLS off).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import jwt
import pytest

from common.chunks import encode_chunk
from common.cluster_auth import GRPC_AUTH_METADATA, ClusterIdentity
from common.embedded import free_port
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support.api import ApiClient
from tests.support.attackers import Listener, attacker_channels, replica_census
from tests.support.clusters import module_cluster
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, header_of, put_blob, rpc_error
from tools.certs import ClusterCa
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024
ADMIN = "attack-admin"
OLD_DEFAULT_JWT_SECRET = "dev-insecure-jwt-secret-change-me-32b"
OLD_DEFAULT_CLUSTER_SECRET = "dev-cluster-secret"
_WORKER = "/echofs.v1.Worker/"


@pytest.fixture(scope="module", params=["mtls", "credential-only"])
def cluster(request: pytest.FixtureRequest, pg_server_url: str, redis_url: str
            ) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, f"attacks-{request.param}", workers=3,
                        chunk_size=1 * MiB, tls=request.param == "mtls",
                        master_env={"ADMIN_USERS": ADMIN}) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
async def victim(cluster: LocalCluster, http: aiohttp.ClientSession) -> dict[str, Any]:
    """A user with a strong upload of three chunks, and what it should read back."""
    api = ApiClient(cluster.master_url, http)
    await api.register_and_login()
    data = os.urandom(2 * MiB + 1000)
    status, body = await api.upload_multipart(data, f"secret/{uuid.uuid4().hex}.bin", "strong")
    assert status == 201, body
    status, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
    assert status == 200
    chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
    await _wait_all_replicas(cluster, chunk_ids)
    return {"api": api, "file_id": body["data"]["file_id"], "data": data,
            "chunk_ids": chunk_ids}


def _addresses(cluster: LocalCluster) -> dict[str, str]:
    return {w.worker_id: w.address for w in cluster.workers.values()}


async def _wait_all_replicas(cluster: LocalCluster, chunk_ids: list[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        holders = await asyncio.to_thread(replica_census, cluster, chunk_ids)
        if all(len(h) == 3 for h in holders.values()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"replicas never reached 3: {holders}")


async def _victim_intact(cluster: LocalCluster, victim: dict[str, Any]) -> None:
    holders = await asyncio.to_thread(replica_census, cluster, victim["chunk_ids"])
    assert all(len(h) == 3 for h in holders.values()), holders
    status, body, _ = await victim["api"].download(victim["file_id"])
    assert status == 200 and body == victim["data"]


async def _worker_views(api: ApiClient) -> dict[str, dict[str, Any]]:
    status, body = await api.get_json("/api/v1/workers/health")
    assert status == 200, body
    return {w["worker_id"]: w for w in body["data"]["workers"]}


def _refused(error: grpc.aio.AioRpcError) -> bool:
    """Refused at the door: bad credential, or no TLS session at all."""
    return error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE)


async def test_no_worker_rpc_works_without_the_cluster_identity(
    cluster: LocalCluster, victim: dict[str, Any]
) -> None:
    chunk_id = victim["chunk_ids"][0]
    worker_id, address = next(iter(_addresses(cluster).items()))
    forged_meta, forged_payload = blob(5000)
    target = next(w.address for w in cluster.workers.values() if w.address != address)
    for how, channel in attacker_channels(cluster, address, worker_id):
        async with channel:
            stub = pb_grpc.WorkerStub(channel)
            attempts = {
                "GetChunk": get_blob(stub, chunk_id),
                "DeleteChunk": stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=chunk_id),
                                                timeout=10),
                "PutChunk": put_blob(stub, forged_meta, forged_payload),
                "PutChunks": stub.PutChunks(pb.PutChunksRequest(blobs=[pb.SmallBlob(
                    header=header_of(forged_meta), data=forged_payload)]), timeout=10),
                "GetChunks": stub.GetChunks(pb.GetChunksRequest(chunks=[pb.WantedChunk(
                    chunk_id=chunk_id, max_bytes=1024)]), timeout=10),
                "HasChunks": stub.HasChunks(pb.HasChunksRequest(chunk_ids=[chunk_id]),
                                            timeout=10),
                "ReplicateChunk": stub.ReplicateChunk(pb.ReplicateChunkRequest(
                    chunk_id=chunk_id, target_address=target), timeout=10),
                "ListChunks": _first(stub.ListChunks(pb.ListChunksRequest(), timeout=10)),
                "GetStatus": stub.GetStatus(pb.GetStatusRequest(), timeout=10),
            }
            for method, attempt in attempts.items():
                error = await rpc_error(attempt)
                assert _refused(error), (how, method, error.code(), error.details())
    await _victim_intact(cluster, victim)
    holders = await asyncio.to_thread(replica_census, cluster, [forged_meta.chunk_id])
    assert holders[forged_meta.chunk_id] == set(), "the forged blob was stored"


async def _first(call: Any) -> Any:
    async for item in call:
        return item
    return None


async def test_forged_and_replayed_credentials_are_refused(
    cluster: LocalCluster, victim: dict[str, Any]
) -> None:
    chunk_id = victim["chunk_ids"][0]
    worker_id, address = next(iter(_addresses(cluster).items()))
    member = cluster.identity("insider")
    real = cluster.identity("master")
    wrong_secret = ClusterIdentity(OLD_DEFAULT_CLUSTER_SECRET + "-" * 20, member.tls)
    delete = pb.DeleteChunkRequest(chunk_id=chunk_id)
    async with member.channel(address, worker_id) as channel:
        stub = pb_grpc.WorkerStub(channel)
        cases = {
            "signed with another secret": wrong_secret.grpc_metadata(_WORKER + "DeleteChunk"),
            "a GetChunk token replayed on DeleteChunk": real.grpc_metadata(_WORKER + "GetChunk"),
            "an expired token": ((GRPC_AUTH_METADATA, real._sign(
                _WORKER + "DeleteChunk", int(time.time()) - 3600)),),
            "garbage": ((GRPC_AUTH_METADATA, "v1.x.y"),),
        }
        for how, metadata in cases.items():
            error = await rpc_error(stub.DeleteChunk(delete, timeout=10, metadata=metadata))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, (how, error.details())
    await _victim_intact(cluster, victim)


async def test_health_answers_without_credentials_for_probes(cluster: LocalCluster) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for handle in cluster.workers.values():
        # With TLS the health service has a plaintext port of its own (Kubernetes' gRPC
        # probes present no certificate); without TLS it is on the data port.
        async with grpc.aio.insecure_channel(handle.health_address) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            error = await rpc_error(pb_grpc.WorkerStub(channel).GetStatus(
                pb.GetStatusRequest(), timeout=5))
            assert _refused(error) or error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_blob_under_an_id_its_content_does_not_hash_to_is_refused(
    cluster: LocalCluster, victim: dict[str, Any]
) -> None:
    """Even a cluster member cannot plant bytes under another content's id."""
    worker_id, address = next(iter(_addresses(cluster).items()))
    honest = encode_chunk(b"what the victim will upload next " * 1000)
    planted_meta, planted_payload = blob(len(honest.payload), compressible=True)
    lying = planted_meta.__class__(honest.chunk_id, planted_meta.codec, planted_meta.raw_size,
                                   planted_meta.stored_size, planted_meta.blob_sha256)
    async with cluster.identity("insider").signed_channel(address, worker_id) as channel:
        stub = pb_grpc.WorkerStub(channel)
        error = await rpc_error(put_blob(stub, lying, planted_payload))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert "chunk_id_mismatch" in (error.details() or "")
        reply = await stub.PutChunks(pb.PutChunksRequest(blobs=[pb.SmallBlob(
            header=header_of(lying), data=planted_payload)]), timeout=10)
        assert reply.outcomes[0].status_code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
        assert "chunk_id_mismatch" in reply.outcomes[0].error
    holders = await asyncio.to_thread(replica_census, cluster, [honest.chunk_id])
    assert holders[honest.chunk_id] == set()


async def _replicate_when_peer_known(
    stub: pb_grpc.WorkerStub, request: pb.ReplicateChunkRequest
) -> pb.ReplicateChunkResponse:
    """A registered target is known to the source within a heartbeat (1 s here); a probe
    that timed out on this busy machine may hide it for one more beat."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return await stub.ReplicateChunk(request, timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.PERMISSION_DENIED or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.5)


async def test_replicate_copies_only_to_registered_healthy_workers(
    cluster: LocalCluster, victim: dict[str, Any]
) -> None:
    workers = list(cluster.workers.values())
    source, target = workers[0], workers[1]
    meta, payload = blob(300_000)
    listener = Listener()
    try:
        async with cluster.identity("master").signed_channel(
            source.address, source.worker_id
        ) as channel:
            stub = pb_grpc.WorkerStub(channel)
            await put_blob(stub, meta, payload)
            for address in (listener.address, f"127.0.0.1:{free_port()}"):
                error = await rpc_error(stub.ReplicateChunk(pb.ReplicateChunkRequest(
                    chunk_id=victim["chunk_ids"][0], target_address=address), timeout=20))
                assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
            reply = await _replicate_when_peer_known(stub, pb.ReplicateChunkRequest(
                chunk_id=meta.chunk_id, target_address=target.address, deadline_seconds=20))
            assert reply.chunk_id == meta.chunk_id
        await asyncio.sleep(0.5)
        assert listener.accepted == 0, "the worker dialled an address nobody registered"
    finally:
        listener.close()
    holders = await asyncio.to_thread(replica_census, cluster, [meta.chunk_id])
    assert target.worker_id in holders[meta.chunk_id]


async def test_tokens_signed_with_the_old_default_secret_are_refused(
    cluster: LocalCluster, http: aiohttp.ClientSession, victim: dict[str, Any]
) -> None:
    now = int(time.time())
    for secret in (OLD_DEFAULT_JWT_SECRET, "some-other-secret-of-32-characters!!"):
        forged = jwt.encode({"sub": "1", "name": "x", "iat": now, "exp": now + 10**9},
                            secret, algorithm="HS256")
        async with http.get(f"{cluster.master_url}/api/v1/files/{victim['file_id']}/download",
                            headers={"Authorization": f"Bearer {forged}"}) as response:
            assert response.status == 401
            assert (await response.json())["code"] == "unauthenticated"


async def test_a_rogue_worker_cannot_register_or_take_over_an_address(
    cluster: LocalCluster, http: aiohttp.ClientSession, victim: dict[str, Any]
) -> None:
    victim_worker = next(iter(cluster.workers.values()))
    rogue = Listener()
    body = {"worker_id": victim_worker.worker_id, "address": rogue.address,
            "capacity_bytes": 10**12, "used_bytes": 0, "chunk_count": 0}
    path = "/api/v1/workers/register"
    old_default = {"X-Cluster-Secret": OLD_DEFAULT_CLUSTER_SECRET,
                   **ClusterIdentity(OLD_DEFAULT_CLUSTER_SECRET).http_headers("POST", path),
                   "X-EchoFS-Worker-Key": "k" * 40}
    right_secret_other_key = {**cluster.identity("rogue").http_headers("POST", path),
                              "X-EchoFS-Worker-Key": "r" * 40}
    try:
        async with http.post(cluster.master_url + path, json=body,
                             headers=old_default) as response:
            assert response.status == 401, await response.text()
        async with http.post(cluster.master_url + path, json=body,
                             headers=right_secret_other_key) as response:
            answer = await response.json()
            assert response.status == 409 and answer["code"] == "identity_mismatch", answer
        beat = f"/api/v1/workers/{victim_worker.worker_id}/heartbeat"
        async with http.post(cluster.master_url + beat, json={
            "corrupt_chunk_ids": victim["chunk_ids"], "capacity_bytes": 1,
        }, headers={**cluster.identity("rogue").http_headers("POST", beat),
                    "X-EchoFS-Worker-Key": "r" * 40}) as response:
            assert response.status == 409
        await asyncio.sleep(1.5)  # a probe round and a heartbeat later
        views = await _worker_views(victim["api"])
        assert views[victim_worker.worker_id]["address"] == victim_worker.address
        assert views[victim_worker.worker_id]["state"] == "healthy"
        assert rogue.accepted == 0
    finally:
        rogue.close()
    await _victim_intact(cluster, victim)
    log = (cluster.spec.base_dir / "logs" / "master.log").read_text()
    assert "bound to another identity" in log
    assert "r" * 40 not in log and cluster.cluster_secret not in log


async def test_a_worker_with_another_cas_certificate_is_never_used(
    cluster: LocalCluster, http: aiohttp.ClientSession
) -> None:
    if cluster.ca is None:
        pytest.skip("TLS is off in this cluster")
    rogue_ca = ClusterCa(cluster.spec.base_dir / "other-ca", "Other CA")
    files = rogue_ca.issue("worker-rogue")
    handle = cluster.start_worker("worker-rogue", extra_env={
        **files.env(), "CLUSTER_TLS_CA_FILE": str(cluster.ca.ca_file),
    })
    try:
        await asyncio.sleep(3)  # registration and several probe rounds
        api = ApiClient(cluster.master_url, http)
        await api.register_and_login()
        views = await _worker_views(api)
        assert views.get("worker-rogue", {}).get("state") != "healthy", views.get("worker-rogue")
        status, body = await api.upload_multipart(os.urandom(200_000), "x/after-rogue.bin")
        assert status == 201, body
        status, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
        placed = {r["worker_id"] for c in meta["data"]["chunks"] for r in c["replicas"]}
        assert "worker-rogue" not in placed
    finally:
        handle.process.stop()
        cluster.workers.pop("worker-rogue", None)


async def test_controller_writes_need_cluster_credentials_or_an_admin(
    cluster: LocalCluster, http: aiohttp.ClientSession
) -> None:
    base = cluster.controller_url

    async def mode() -> str:
        async with http.get(f"{base}/v1/mode") as response:
            assert response.status == 200
            return str((await response.json())["mode"])

    before = await mode()
    for path, body in (("/v1/override", {"mode": "A"}), ("/v1/hint", {"object_id": "x"}),
                       ("/v1/register", {"object_id": "x"}),
                       ("/v1/critical-keys", {"add": ["x"]})):
        async with http.post(base + path, json=body) as response:
            assert response.status == 401, (path, await response.text())
    user = ApiClient(cluster.master_url, http)
    await user.register_and_login()
    async with http.post(f"{base}/v1/override", json={"mode": "A"},
                         headers=user.auth) as response:
        assert response.status == 403
    assert await mode() == before
    admin = ApiClient(cluster.master_url, http)
    await admin.register_and_login(ADMIN)
    async with http.post(f"{base}/v1/override", json={"mode": "A"},
                         headers=admin.auth) as response:
        assert response.status == 200, await response.text()
    assert await mode() == "A"
    headers = cluster.identity("master").http_headers("POST", "/v1/override")
    async with http.post(f"{base}/v1/override", json={"mode": None},
                         headers=headers) as response:
        assert response.status == 200
    assert await mode() == before
    async with http.get(f"{base}/health") as response:
        assert response.status == 200


def test_secrets_are_not_in_the_logs(cluster: LocalCluster) -> None:
    texts = [p.read_text() for p in Path(cluster.spec.base_dir, "logs").glob("*.log")]
    assert texts
    for text in texts:
        assert cluster.cluster_secret not in text and cluster.jwt_secret not in text
        assert cluster.key_encryption_key not in text

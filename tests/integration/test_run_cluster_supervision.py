"""`make run-cluster` keeps its cluster alive (DESIGN.md §16, issue 15 must-show 1).

Starts ``python -m tools.run_cluster`` -- the entry point `make run-cluster` runs -- with
its own folder, embedded PostgreSQL and Redis, and ports chosen here, then ``kill -9``s
a worker, the controller, the master and Redis in turn: each comes back (the worker
healthy in ``/api/v1/workers/health`` within 30 s), the others keep serving, and every
file written before and during the outages downloads intact. SIGTERM to the supervisor
then leaves no process of that cluster behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from common.embedded import free_port, pid_alive
from tests.support.api import ApiClient
from tests.support.services import scratch_dir
from tools.procs import REPO_ROOT

pytestmark = pytest.mark.timeout(240)

KiB = 1024
BACK_WITHIN_S = 30.0


def _pids_mentioning(marker: bytes, *, also: bytes = b"") -> list[int]:
    """Live processes whose command line or environment contains ``marker`` (and
    ``also``): every process of one run-cluster folder carries its path."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            text = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in text and also in text and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@dataclass
class RunCluster:
    process: subprocess.Popen[bytes]
    var_dir: Path
    output: Path
    master_url: str
    controller_url: str
    second_master_url: str  # MASTERS=2: the same data, served on MASTER_PORT + 1

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def redis_pids(self) -> list[int]:
        """redis-server rewrites its command line and environment (process title), so
        it is found by the port the supervisor logged for it."""
        ports = re.findall(r'"msg": "embedded redis ready".*?"port": (\d+)', self.log())
        assert ports, self.log()[-4000:]
        title = f"redis-server 127.0.0.1:{ports[-1]}".encode()
        return [int(entry.name) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and title in _read(entry / "cmdline")
                and pid_alive(int(entry.name))]

    def postmaster_pid(self) -> int:
        return int((self.var_dir / "postgres" / "postmaster.pid").read_text().split()[0])

    def pid_of(self, child: str) -> int:
        if child == "redis":
            (pid,) = self.redis_pids()
            return pid
        def port_of(url: str) -> bytes:
            return f"MASTER_PORT={url.rsplit(':', 1)[1]}\0".encode()

        markers = {
            "controller": (b"consistency_controller.main", b""),
            "master": (b"master.main", port_of(self.master_url)),
            "master-2": (b"master.main", port_of(self.second_master_url)),
        }
        module, also = markers.get(child, (b"worker.main", f"WORKER_ID={child}\0".encode()))
        pids = [pid for pid in _pids_mentioning(str(self.var_dir).encode(), also=also)
                if module in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(pids) == 1, f"{child}: {pids}"
        return pids[0]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def run_cluster() -> Iterator[RunCluster]:
    var_dir = scratch_dir() / f"run-cluster-{uuid.uuid4().hex[:8]}"
    var_dir.mkdir(parents=True)
    output = var_dir / "run-cluster.out"
    master_port = free_port()
    while not _port_free(master_port + 1):  # MASTERS=2 puts the second one there
        master_port = free_port()
    controller_port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ECHOFS_TEST_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"VAR_DIR": str(var_dir), "MASTER_PORT": str(master_port),
                "CONTROLLER_PORT": str(controller_port), "WORKER_BASE_PORT": "0",
                "MASTERS": "2",
                "CHUNK_SIZE": str(64 * KiB), "PYTHONUNBUFFERED": "1"})
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "tools.run_cluster"], cwd=REPO_ROOT,
                                   env=env, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    running = RunCluster(process, var_dir, output, f"http://127.0.0.1:{master_port}",
                         f"http://127.0.0.1:{controller_port}",
                         f"http://127.0.0.1:{master_port + 1}")
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in _pids_mentioning(str(var_dir).encode()):  # a failed test's leftovers
            os.kill(pid, signal.SIGKILL)
        if not os.environ.get("ECHOFS_KEEP_TEST_DIRS"):
            shutil.rmtree(var_dir, ignore_errors=True)


async def _until(what: str, check: Callable[[], object], cluster: RunCluster,
                 timeout_s: float) -> None:
    """Poll the async ``check`` until it returns true; fail with ``what`` after timeout_s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: object = None
    while loop.time() < deadline:
        assert cluster.process.poll() is None, f"supervisor exited:\n{cluster.log()[-4000:]}"
        try:
            if await check():  # type: ignore[misc]
                return
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            last = exc
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} not after {timeout_s}s (last error {last!r}); "
                         f"log tail:\n{cluster.log()[-4000:]}")


def _healthcheck(cluster: RunCluster, role: str, expected: int = 0) -> None:
    """Exit status of ``python -m tools.healthcheck`` for one of the cluster's services,
    configured as that service is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOFS_TEST_")}
    env["MASTER_PORT"] = cluster.master_url.rsplit(":", 1)[1]
    env["CONTROLLER_PORT"] = cluster.controller_url.rsplit(":", 1)[1]
    if role.startswith("worker"):
        started = (cluster.var_dir / "logs" / f"{role}.log").read_text()
        env["WORKER_HEALTH_PORT"] = re.findall(r'"health_port": (\d+)', started)[-1]
        env["CLUSTER_TLS_CERT_FILE"] = str(cluster.var_dir / "cluster" / "tls" / f"{role}.pem")
        role = "worker"
    done = subprocess.run([sys.executable, "-m", "tools.healthcheck", role], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == expected, done.stdout + done.stderr


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


async def test_run_cluster_restarts_whatever_dies_and_sigterm_leaves_nothing(
    run_cluster: RunCluster, session: aiohttp.ClientSession
) -> None:
    cluster = run_cluster
    api = ApiClient(cluster.master_url, session)

    async def healthy_workers() -> int:
        async with session.get(f"{cluster.master_url}/api/v1/health") as r:
            return int((await r.json())["checks"]["workers_healthy"]) if r.status == 200 else 0

    async def cluster_ready() -> bool:  # the banner: start-up is over, supervision on
        return "EchoFS is running." in cluster.log() and await healthy_workers() >= 3

    await _until("the banner and three healthy workers", cluster_ready, cluster, 120)
    # The container image's HEALTHCHECK (tools.healthcheck) against these live services.
    for role in ("master", "controller", "worker-1"):
        _healthcheck(cluster, role)
    await api.register_and_login()

    stored: dict[str, bytes] = {}

    async def upload(name: str) -> None:
        data = os.urandom(200 * KiB + len(stored))  # four chunks of 64 KiB
        status, body = await api.upload_multipart(data, f"supervised/{name}.bin")
        assert status == 201, body
        stored[body["data"]["file_id"]] = data

    async def restarted(child: str) -> bool:
        return re.search(rf'"{child} restarted \(attempt \d+\)"', cluster.log()) is not None

    await upload("before")

    async def worker_addresses() -> dict[str, str]:
        status, body = await api.get_json("/api/v1/workers/health")
        assert status == 200, body
        return {w["worker_id"]: w["address"] for w in body["data"]["workers"]}

    # A worker: the master keeps answering, uploads go on, the worker comes back healthy
    # on its address, with its identity key (the master refuses another key for its id).
    addresses = await worker_addresses()
    worker_pid = cluster.pid_of("worker-2")
    os.kill(worker_pid, signal.SIGKILL)
    await upload("worker-down")

    async def worker_back() -> bool:
        status, body = await api.get_json("/api/v1/workers/health")
        states = {w["worker_id"]: w["state"] for w in body["data"]["workers"]}
        return status == 200 and await restarted("worker-2") and states["worker-2"] == "healthy"

    await _until("worker-2 back and healthy", worker_back, cluster, BACK_WITHIN_S)
    assert cluster.pid_of("worker-2") != worker_pid
    assert await worker_addresses() == addresses
    assert re.search(r"worker-2 exited \(killed by SIGKILL\); restart attempt 1 in \d",
                     cluster.log()), cluster.log()[-4000:]

    # The controller: uploads go on (masters fall back to C), it comes back.
    os.kill(cluster.pid_of("controller"), signal.SIGKILL)
    await upload("controller-down")

    async def controller_back() -> bool:
        async with session.get(f"{cluster.controller_url}/health") as r:
            return r.status == 200 and await restarted("controller")

    await _until("controller back", controller_back, cluster, BACK_WITHIN_S)

    # The master: the second master (MASTERS=2, same PostgreSQL and Redis, same JWT
    # secret) keeps serving every file while the first is down; the first comes back on
    # its port and the same login still works there.
    os.kill(cluster.pid_of("master"), signal.SIGKILL)
    other = ApiClient(cluster.second_master_url, session, token=api.token)
    for file_id, data in stored.items():
        status, body, _ = await other.download(file_id)
        assert (status, body == data) == (200, True), body[:200]

    async def master_back() -> bool:
        return await restarted("master") and await healthy_workers() >= 3

    await _until("master back with three healthy workers", master_back, cluster, BACK_WITHIN_S)
    await upload("after-master")

    # The second master is supervised like the first.
    os.kill(cluster.pid_of("master-2"), signal.SIGKILL)

    async def second_master_back() -> bool:
        async with session.get(f"{cluster.second_master_url}/api/v1/health") as r:
            return r.status == 200 and await restarted("master-2")

    await _until("master-2 back", second_master_back, cluster, BACK_WITHIN_S)

    # Redis (embedded): restarted too; Redis holds only what may be lost.
    os.kill(cluster.pid_of("redis"), signal.SIGKILL)

    async def redis_back() -> bool:
        return await restarted("redis")

    await _until("redis back", redis_back, cluster, BACK_WITHIN_S)
    await upload("after-redis")

    # PostgreSQL (embedded): the postmaster is restarted on its folder and socket; the
    # master's pool reconnects by itself.
    postmaster_pid = cluster.postmaster_pid()
    os.kill(postmaster_pid, signal.SIGKILL)

    async def postgres_back() -> bool:
        if not await restarted("postgres"):
            return False
        async with session.get(f"{cluster.master_url}/api/v1/health") as r:
            return r.status == 200 and (await r.json())["checks"]["postgres"] is True

    await _until("postgres back", postgres_back, cluster, BACK_WITHIN_S)
    assert cluster.postmaster_pid() != postmaster_pid
    await upload("after-postgres")

    for file_id, data in stored.items():
        status, body, _ = await api.download(file_id)
        assert status == 200, body[:200]
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    assert len(stored) == 6

    # SIGTERM: everything it started stops, nothing of this folder is left running.
    redis_pid, postmaster_pid = cluster.pid_of("redis"), cluster.postmaster_pid()
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(timeout=60) == 0, cluster.log()[-4000:]
    assert _pids_mentioning(str(cluster.var_dir).encode()) == []
    assert not pid_alive(redis_pid)
    assert not pid_alive(postmaster_pid)
    assert "stopped; nothing left running." in cluster.log()
    _healthcheck(cluster, "master", expected=1)  # and the healthcheck says so

"""A whole EchoFS cluster as child processes: master, workers, controller.

Used by ``make run-cluster``, by the integration and fault tests and by the benchmarks,
so all three run the very same processes. PostgreSQL and Redis URLs are given; starting
embedded ones is the caller's choice (``common.embedded``).

Each cluster folder gets fresh secrets (``cluster/secrets.env``) and, with ``tls`` on
(the default), its own CA and a certificate per process (``cluster/tls/``): master,
controller and workers talk mutual TLS, as a production cluster should (DESIGN.md §15).

Every process gets :data:`MALLOC_ENV` (glibc malloc tuning; ``master_env`` and
``worker_env`` can override it). Chunks are 1 MiB frames and 4 MiB buffers handled by
several threads: with glibc's defaults (8 arenas per core, an mmap threshold that
rises to the largest block freed) freed chunks stayed in per-thread arenas and the
master peaked at 375-530 MiB RSS in the 64 MiB-object runs. Two arenas and a fixed
2 MiB threshold (whole chunks mmapped and returned at free; frames reused from the
heap) keep it under 300 MiB at unchanged CPU; a 1 MiB threshold also mmaps every
frame and cost ~45 % more master CPU on uploads in our run (page faults).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from common.cluster_auth import ClusterIdentity, ClusterTls
from common.embedded import free_port
from tools.certs import CertFiles, ClusterCa, ClusterSecrets
from tools.procs import ManagedProcess, stop_all, wait_for_grpc_serving, wait_for_http

__all__ = ["MALLOC_ENV", "WORKER_MALLOC_ENV", "ClusterSpec", "LocalCluster", "WorkerHandle"]

MALLOC_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_MMAP_THRESHOLD_": str(2 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(8 * 1024 * 1024),
}
# Workers keep whole received chunks on the heap instead: each 4 MiB blob they join,
# hash and write then reuses memory instead of faulting in fresh pages (~3 us a page
# here). Random 64 MiB uploads at c = 4, same machine: each worker 5.6-5.7 -> 4.2-5.0
# CPU s/GB, peak RSS 190-230 MiB (one run 283, still under the 300 MiB bound; the receive
# budget caps what a worker holds). The master keeps MALLOC_ENV: with the same setting it
# reached 313 MiB on reads (download read-ahead for four clients).
WORKER_MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(16 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(32 * 1024 * 1024),
}


@dataclass(frozen=True)
class ClusterSpec:
    base_dir: Path
    database_url: str
    redis_url: str
    workers: int = 3
    master_port: int = 0
    s3_port: int = 0  # the master's S3 gateway; 0: a free port
    controller_port: int = 0
    worker_base_port: int = 0
    with_controller: bool = True
    chunk_size: int = 4 * 1024 * 1024
    replication_factor: int = 3
    master_env: dict[str, str] = field(default_factory=dict)
    worker_env: dict[str, str] = field(default_factory=dict)
    controller_env: dict[str, str] = field(default_factory=dict)
    # Empty: generated per cluster folder (cluster/secrets.env).
    cluster_secret: str = ""
    jwt_secret: str = ""
    key_encryption_key: str = ""
    tls: bool = True
    tls_dir: Path | None = None  # the CA's folder; default base_dir/cluster/tls
    # The master's HTTP bind address (and the host of master_url, which workers dial).
    master_host: str = "127.0.0.1"


@dataclass
class WorkerHandle:
    worker_id: str
    process: ManagedProcess
    address: str
    metrics_url: str
    data_dir: Path
    health_address: str = ""
    host: str = "127.0.0.1"  # its bind and advertised address
    command_prefix: list[str] = field(default_factory=list)  # e.g. ip netns exec <ns>


class LocalCluster:
    def __init__(self, spec: ClusterSpec) -> None:
        self.spec = spec
        self._ports: set[int] = set()  # every port this cluster handed out (_free_port)
        self.master_port = spec.master_port or self._free_port()
        self.controller_port = spec.controller_port or self._free_port()
        self.master_url = f"http://{spec.master_host}:{self.master_port}"
        self.s3_port = spec.s3_port or self._free_port()
        self.s3_url = f"http://{spec.master_host}:{self.s3_port}"
        # Extra masters' S3 gateways: name -> URL (kept across restarts).
        self.extra_s3_urls: dict[str, str] = {}
        self.controller_url = f"http://127.0.0.1:{self.controller_port}"
        self.master: ManagedProcess | None = None
        # More masters on the same PostgreSQL and Redis (start_master(name=...)): name ->
        # process and URL. The default master stays ``master`` / ``master_url``.
        self.extra_masters: dict[str, ManagedProcess] = {}
        self.extra_master_urls: dict[str, str] = {}
        self.controller: ManagedProcess | None = None
        self.workers: dict[str, WorkerHandle] = {}
        made = ClusterSecrets.load_or_create(spec.base_dir / "cluster")
        self.cluster_secret = spec.cluster_secret or made.cluster_secret
        self.jwt_secret = spec.jwt_secret or made.jwt_secret
        self.key_encryption_key = spec.key_encryption_key or made.key_encryption_key
        tls_dir = spec.tls_dir or spec.base_dir / "cluster" / "tls"
        self.ca = ClusterCa(tls_dir) if spec.tls else None

    def _free_port(self) -> int:
        """A free port this cluster has not handed out before. Processes started
        together pick their ports before any of them binds, and the OS may offer a port
        it offered a moment ago (free again until its process binds it): a make test run
        lost a module's cluster to two workers given one port."""
        while True:
            port = free_port()
            if port not in self._ports:
                self._ports.add(port)
                return port

    # -- identity --------------------------------------------------------------------
    def certs_for(self, name: str) -> CertFiles | None:
        """The cluster certificate of process ``name`` (made on first use), if TLS is on."""
        return self.ca.issue(name) if self.ca is not None else None

    def _tls_env(self, name: str) -> dict[str, str]:
        files = self.certs_for(name)
        return files.env() if files is not None else {}

    def identity(self, name: str = "master") -> ClusterIdentity:
        """What a cluster member called ``name`` holds: for tests and tools that call
        workers as the master does."""
        files = self.certs_for(name)
        tls = (ClusterTls.from_files(files.ca_file, files.cert_file, files.key_file)
               if files is not None else None)
        return ClusterIdentity(self.cluster_secret, tls)

    # -- processes -------------------------------------------------------------------
    def _common_env(self) -> dict[str, str]:
        return {
            **MALLOC_ENV,
            "DATABASE_URL": self.spec.database_url,
            "REDIS_URL": self.spec.redis_url,
            "VAR_DIR": str(self.spec.base_dir),
            "LOG_LEVEL": "INFO",
            "CLUSTER_SECRET": self.cluster_secret,
        }

    def start(self, timeout_s: float = 60.0) -> LocalCluster:
        """Controller and master together, then every worker together; each step spawns
        all its processes before waiting for any (their starts overlap instead of adding
        up: a cluster start was ~5 s, paid by every test module). The controller may
        come up before the master's schema (it waits for it, consistency_controller.loop)
        and migrations are serialised by an advisory lock (common.migrate); workers
        follow a master that answers, so their first registration does not back off."""
        try:
            controller = (self.start_controller(timeout_s, wait=False)
                          if self.spec.with_controller else None)
            master = self.start_master(timeout_s, wait=False)
            if controller is not None:
                wait_for_http(f"{self.controller_url}/health", timeout_s, controller)
            wait_for_http(f"http://{self.spec.master_host}:{self.master_port}/metrics",
                          timeout_s, master)
            handles = [self.start_worker(f"worker-{i}", timeout_s=timeout_s, wait=False)
                       for i in range(1, self.spec.workers + 1)]
            for handle in handles:
                wait_for_grpc_serving(handle.health_address, timeout_s, handle.process)
            self.wait_workers_registered(self.spec.workers, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def start_controller(self, timeout_s: float = 60.0, *, wait: bool = True) -> ManagedProcess:
        """Start the controller; with ``wait``, until it answers /health."""
        env = {
            **self._common_env(),
            "CONTROLLER_HOST": "127.0.0.1",
            "CONTROLLER_PORT": str(self.controller_port),
            "REPLICATION_FACTOR": str(self.spec.replication_factor),
            "JWT_SECRET": self.jwt_secret,
            **self._tls_env("controller"),
            **self.spec.controller_env,
        }
        self.controller = ManagedProcess(
            "controller", "consistency_controller.main", env,
            self.spec.base_dir / "logs" / "controller.log",
        ).start()
        if wait:
            wait_for_http(f"{self.controller_url}/health", timeout_s, self.controller)
        return self.controller

    def start_master(
        self, timeout_s: float = 60.0, *, wait: bool = True, name: str = "master",
        port: int = 0, s3_port: int = 0,
    ) -> ManagedProcess:
        """Start the master; with ``wait``, until it answers /metrics.

        Another ``name`` starts one more master on the same PostgreSQL and Redis, on
        ``port`` (free if 0), at ``extra_master_urls[name]``, its S3 gateway on
        ``s3_port`` (free if 0; the same again on a restart) at ``extra_s3_urls[name]``;
        workers keep heartbeating to the default one (their ``MASTER_URL``).
        """
        if name != "master":
            port = port or self._free_port()
            self.extra_master_urls[name] = f"http://{self.spec.master_host}:{port}"
            known = self.extra_s3_urls.get(name)
            s3_port = s3_port or (int(known.rsplit(":", 1)[1]) if known else self._free_port())
            self.extra_s3_urls[name] = f"http://{self.spec.master_host}:{s3_port}"
        else:
            port, s3_port = self.master_port, self.s3_port
        env = {
            **self._common_env(),
            "MASTER_HOST": self.spec.master_host,
            "MASTER_PORT": str(port),
            "S3_PORT": str(s3_port),
            "CONTROLLER_URL": self.controller_url,
            "JWT_SECRET": self.jwt_secret,
            "KEY_ENCRYPTION_KEY": self.key_encryption_key,
            **self._tls_env("master"),
            "CHUNK_SIZE": str(self.spec.chunk_size),
            "REPLICATION_FACTOR": str(self.spec.replication_factor),
            "PROBE_INTERVAL_SECONDS": "0.5",
            **self.spec.master_env,
        }
        process = ManagedProcess(
            name, "master.main", env, self.spec.base_dir / "logs" / f"{name}.log"
        ).start()
        if name == "master":
            self.master = process
        else:
            self.extra_masters[name] = process
        if wait:
            wait_for_http(f"http://{self.spec.master_host}:{port}/metrics", timeout_s, process)
        return process

    def start_worker(
        self, worker_id: str, *, port: int = 0, extra_env: dict[str, str] | None = None,
        timeout_s: float = 60.0, wait: bool = True,
        host: str | None = None, command_prefix: list[str] | None = None,
    ) -> WorkerHandle:
        """Start (or restart) worker ``worker_id``; with ``wait``, until it is SERVING.

        A restarted worker keeps its data folder, identity file (both under
        ``base_dir/workers``), gRPC, health and metrics ports, its ``host`` (bind and
        advertised address, default 127.0.0.1) and ``command_prefix`` (what it runs
        under, e.g. ``ip netns exec <ns>`` for a worker in a network namespace). If the
        wait fails the new process is stopped, so nothing is left running unrecorded.
        """
        previous = self.workers.get(worker_id)
        if host is None:
            host = previous.host if previous is not None else "127.0.0.1"
        if command_prefix is None:
            command_prefix = list(previous.command_prefix) if previous is not None else []
        if port == 0 and previous is not None:
            port = int(previous.address.rsplit(":", 1)[1])
        if port == 0 and self.spec.worker_base_port:
            port = self.spec.worker_base_port + len(self.workers) + 1
        port = port or self._free_port()
        # With fixed ports (make run-cluster) the metrics port is the worker's own
        # default, gRPC port + 100, so Prometheus can use a static config.
        if self.spec.worker_base_port:
            metrics_port = port + 100
        elif previous is not None:
            metrics_port = int(previous.metrics_url.rsplit(":", 1)[1].split("/", 1)[0])
        else:
            metrics_port = self._free_port()
        data_dir = self.spec.base_dir / "workers" / worker_id
        health_port = (int(previous.health_address.rsplit(":", 1)[1])
                       if previous is not None and previous.health_address
                       else self._free_port())
        env = {
            **self._common_env(),
            "WORKER_ID": worker_id,
            "WORKER_HOST": host,
            "WORKER_PORT": str(port),
            "WORKER_METRICS_PORT": str(metrics_port),
            "WORKER_BACKEND": "local",
            "WORKER_DATA_DIR": str(data_dir),
            "MASTER_URL": self.master_url,
            "HEARTBEAT_INTERVAL_SECONDS": "1",
            **self._tls_env(worker_id),
            "WORKER_HEALTH_PORT": str(health_port),
            **WORKER_MALLOC_ENV,
            **self.spec.worker_env,
            **(extra_env or {}),
        }
        process = ManagedProcess(
            worker_id, "worker.main", env, self.spec.base_dir / "logs" / f"{worker_id}.log",
            command_prefix=command_prefix,
        ).start()
        address = f"{host}:{port}"
        tls_on = "CLUSTER_TLS_CERT_FILE" in env and env["CLUSTER_TLS_CERT_FILE"]
        health_address = f"{host}:{health_port}" if tls_on else address
        if wait:
            try:
                wait_for_grpc_serving(health_address, timeout_s, process)
            except BaseException:
                process.stop()
                raise
        handle = WorkerHandle(worker_id, process, address,
                              f"http://{host}:{metrics_port}/metrics", data_dir,
                              health_address, host, command_prefix)
        self.workers[worker_id] = handle
        return handle

    def wait_workers_registered(self, count: int, timeout_s: float = 60.0) -> None:
        """Until the master reports ``count`` healthy workers (none to wait for: at once;
        the master's health answers 503 while it has no worker)."""
        if count <= 0:
            return
        import json
        import time
        import urllib.request

        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            assert self.master is not None
            self.master.check_alive()
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"{self.master_url}/api/v1/health", timeout=2) as r:
                    last = json.loads(r.read())["checks"]
                    if last["workers_healthy"] >= count:  # type: ignore[index]
                        return
            time.sleep(0.2)
        raise TimeoutError(f"master never saw {count} healthy workers: {last}")

    def processes(self) -> list[ManagedProcess]:
        found = [w.process for w in self.workers.values()]
        masters = list(self.extra_masters.values())
        return [p for p in (self.master, *masters, self.controller, *found) if p is not None]

    def stop(self) -> None:
        """Workers first (they tell the master they are draining), then masters and the
        controller; each group is signalled at once and then waited for, so their
        shutdowns overlap."""
        stop_all([handle.process for handle in self.workers.values()])
        stop_all([proc for proc in (self.master, *self.extra_masters.values(),
                                    self.controller) if proc is not None])

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

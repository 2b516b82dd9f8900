"""``make run-cluster``: master :8080, three workers, the controller :8082, and embedded
PostgreSQL and Redis under ./var/ unless DATABASE_URL / REDIS_URL are set.

Every child is supervised (``tools.supervise``): one that dies -- worker, master,
controller, embedded PostgreSQL or Redis -- is logged and restarted with capped
exponential backoff while the rest keep running; a restarted worker keeps its data
folder, ports and identity file. Ctrl-C (or SIGTERM) stops every process it started,
then the embedded servers.

Environment (all optional): ``VAR_DIR`` (default ``var``), ``MASTER_PORT`` (8080),
``S3_PORT`` (8333: the master's S3 gateway; a second master's is S3_PORT + 1),
``CONTROLLER_PORT`` (8082), ``WORKER_BASE_PORT`` (9000: workers on 9001-9003, metrics
on +100; ``0`` lets the OS pick every worker port), ``CLUSTER_TLS=0``, ``CHUNK_SIZE``,
``REPLICATION_FACTOR``, ``CLUSTER_SECRET`` / ``JWT_SECRET`` / ``KEY_ENCRYPTION_KEY``
(default: made per VAR_DIR),
``MASTERS`` (1; ``MASTERS=2`` adds a master on MASTER_PORT + 1, 8081, on the same
PostgreSQL and Redis: singleton jobs run on one of them at a time, under leases).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from common.config import EmbeddedSettings
from common.embedded import EmbeddedPostgres, EmbeddedRedis
from common.logging import setup_logging
from tools.cluster import ClusterSpec, LocalCluster
from tools.procs import ManagedProcess
from tools.supervise import Child, Supervisor

__all__ = ["cluster_children", "describe_exit", "main"]

_BANNER = """
EchoFS is running.
  master       {masters}        (API, /metrics, /api/v1/health)
  S3 gateway   {s3}        (path-style; <bucket>.localhost virtual-hosted)
  controller   {controller}        (/health, /v1/mode, /status)
  workers      {workers}
  logs         {logs}/*.log
  secrets      {secrets} (CLUSTER_SECRET, JWT_SECRET, KEY_ENCRYPTION_KEY; made for this cluster)
  cluster TLS  {tls}

Try it:
  curl -s -X POST {master}/api/v1/auth/register -H 'Content-Type: application/json' \\
       -d '{{"username": "demo", "password": "demo-password"}}'
  TOKEN=$(curl -s -X POST {master}/api/v1/auth/login -H 'Content-Type: application/json' \\
       -d '{{"username": "demo", "password": "demo-password"}}' \\
       | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
  curl -s -H "Authorization: Bearer $TOKEN" -F path=docs/README.md -F file=@README.md \\
       {master}/api/v1/files/upload
  curl -s -H "Authorization: Bearer $TOKEN" {master}/api/v1/files
  curl -s -H "Authorization: Bearer $TOKEN" {master}/api/v1/fs/demo/docs/README.md

Press Ctrl-C to stop everything.
"""


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def describe_exit(returncode: int | None) -> str:
    """``exit status 1`` or ``killed by SIGKILL``, for the restart log line."""
    if returncode is None:
        return "exit status unknown"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit status {returncode}"


def _process_child(name: str, current: Callable[[], ManagedProcess | None],
                   restart: Callable[[], object]) -> Child:
    def alive() -> bool:
        proc = current()
        return proc is not None and proc.alive()

    def exit_status() -> str:
        proc = current()
        return describe_exit(proc.process.returncode
                             if proc is not None and proc.process is not None else None)

    return Child(name, alive, exit_status, restart)


def cluster_children(cluster: LocalCluster, postgres: EmbeddedPostgres | None,
                     redis: EmbeddedRedis | None) -> list[Child]:
    """What ``make run-cluster`` supervises: every process it started."""
    children: list[Child] = []
    if postgres is not None:
        children.append(Child("postgres", postgres.alive, lambda: "postmaster gone",
                              postgres.restart))
    if redis is not None:
        children.append(Child("redis", redis.alive,
                              lambda: describe_exit(redis.exit_status()),
                              redis.restart))
    if cluster.controller is not None:
        children.append(_process_child(
            "controller", lambda: cluster.controller,
            lambda: cluster.start_controller(wait=False)))
    children.append(_process_child(
        "master", lambda: cluster.master, lambda: cluster.start_master(wait=False)))
    for name, url in list(cluster.extra_master_urls.items()):
        port = int(url.rsplit(":", 1)[1])
        children.append(_process_child(
            name, lambda n=name: cluster.extra_masters[n],  # type: ignore[misc]
            lambda n=name, p=port: cluster.start_master(  # type: ignore[misc]
                wait=False, name=n, port=p),
        ))
    for worker_id in list(cluster.workers):
        children.append(_process_child(
            worker_id,
            lambda wid=worker_id: cluster.workers[wid].process,  # type: ignore[misc]
            lambda wid=worker_id: cluster.start_worker(wid, wait=False),  # type: ignore[misc]
        ))
    return children


def main() -> None:
    settings = EmbeddedSettings()
    setup_logging("echofs-cluster", settings.log_level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # one line per pg_ctl step
    var_dir = settings.var_dir.resolve()
    stopping = {"flag": False}

    def _stop(_signum: int, _frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _say(f"starting PostgreSQL and Redis (embedded unless given) under {var_dir} ...")
    postgres = EmbeddedPostgres(var_dir / "postgres") if not settings.database_url else None
    redis = EmbeddedRedis(var_dir / "redis") if not settings.redis_url else None
    cluster: LocalCluster | None = None
    try:
        database_url = postgres.start() if postgres is not None else settings.database_url
        redis_url = redis.start() if redis is not None else settings.redis_url
        spec = ClusterSpec(
            base_dir=var_dir, database_url=database_url, redis_url=redis_url, workers=3,
            master_port=int(os.environ.get("MASTER_PORT", "8080")),
            s3_port=int(os.environ.get("S3_PORT", "8333")),
            controller_port=int(os.environ.get("CONTROLLER_PORT", "8082")),
            worker_base_port=int(os.environ.get("WORKER_BASE_PORT", "9000")),
            # Unset: fresh ones for this cluster folder, kept in var/cluster/secrets.env.
            cluster_secret=os.environ.get("CLUSTER_SECRET", ""),
            jwt_secret=os.environ.get("JWT_SECRET", ""),
            key_encryption_key=os.environ.get("KEY_ENCRYPTION_KEY", ""),
            tls=os.environ.get("CLUSTER_TLS", "1") != "0",
            chunk_size=int(os.environ.get("CHUNK_SIZE", str(4 * 1024 * 1024))),
            replication_factor=int(os.environ.get("REPLICATION_FACTOR", "3")),
        )
        cluster = LocalCluster(spec)
        masters = int(os.environ.get("MASTERS", "1"))
        _say(f"starting controller, {masters} master(s) and 3 workers ...")
        cluster.start()
        for extra in range(2, masters + 1):
            cluster.start_master(name=f"master-{extra}", port=cluster.master_port + extra - 1,
                                 s3_port=cluster.s3_port + extra - 1)
        _say(_BANNER.format(
            master=cluster.master_url,
            masters=", ".join([cluster.master_url, *cluster.extra_master_urls.values()]),
            s3=", ".join([cluster.s3_url, *cluster.extra_s3_urls.values()]),
            controller=cluster.controller_url,
            workers=", ".join(w.address for w in cluster.workers.values()),
            logs=Path(var_dir) / "logs",
            secrets=Path(var_dir) / "cluster" / "secrets.env",
            tls=(f"mutual TLS, CA {Path(var_dir) / 'cluster' / 'tls' / 'ca.pem'}"
                 if spec.tls else "off (CLUSTER_TLS=0): per-call credentials only"),
        ))
        supervisor = Supervisor(cluster_children(cluster, postgres, redis))
        supervisor.run(lambda: stopping["flag"])
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _say("stopping ...")
        if cluster is not None:
            cluster.stop()
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
    _say("stopped; nothing left running.")


if __name__ == "__main__":
    main()

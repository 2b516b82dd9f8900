"""``make run-cluster``: master :8080, three workers, the controller :8082, and embedded
PostgreSQL and Redis under ./var/ unless DATABASE_URL / REDIS_URL are set.

Ctrl-C (or SIGTERM) stops every process it started, then the embedded servers.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from common.config import EmbeddedSettings
from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

__all__ = ["main"]

_BANNER = """
EchoFS is running.
  master       {master}        (API, /metrics, /api/v1/health)
  controller   {controller}        (/health, /v1/mode, /status)
  workers      {workers}
  logs         {logs}/*.log
  secrets      {secrets} (CLUSTER_SECRET, JWT_SECRET; made for this cluster)
  cluster TLS  {tls}

Try it:
  curl -s -X POST {master}/api/v1/auth/register -H 'Content-Type: application/json' \\
       -d '{{"username": "demo", "password": "demo-password"}}'
  TOKEN=$(curl -s -X POST {master}/api/v1/auth/login -H 'Content-Type: application/json' \\
       -d '{{"username": "demo", "password": "demo-password"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])')
  curl -s -H "Authorization: Bearer $TOKEN" -F path=docs/README.md -F file=@README.md {master}/api/v1/files/upload
  curl -s -H "Authorization: Bearer $TOKEN" {master}/api/v1/files
  curl -s -H "Authorization: Bearer $TOKEN" {master}/api/v1/fs/demo/docs/README.md

Press Ctrl-C to stop everything.
"""


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> None:
    settings = EmbeddedSettings()
    var_dir = settings.var_dir.resolve()
    stopping = {"flag": False}

    def _stop(_signum: int, _frame: object) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _say(f"starting PostgreSQL and Redis (embedded unless given) under {var_dir} ...")
    with embedded_services(var_dir, settings.database_url, settings.redis_url) as (pg, redis):
        spec = ClusterSpec(
            base_dir=var_dir, database_url=pg, redis_url=redis, workers=3,
            master_port=int(os.environ.get("MASTER_PORT", "8080")),
            controller_port=int(os.environ.get("CONTROLLER_PORT", "8082")),
            worker_base_port=int(os.environ.get("WORKER_BASE_PORT", "9000")),
            # Unset: fresh ones for this cluster folder, kept in var/cluster/secrets.env.
            cluster_secret=os.environ.get("CLUSTER_SECRET", ""),
            jwt_secret=os.environ.get("JWT_SECRET", ""),
            tls=os.environ.get("CLUSTER_TLS", "1") != "0",
            chunk_size=int(os.environ.get("CHUNK_SIZE", str(4 * 1024 * 1024))),
            replication_factor=int(os.environ.get("REPLICATION_FACTOR", "3")),
        )
        cluster = LocalCluster(spec)
        try:
            _say("starting controller, master and 3 workers ...")
            cluster.start()
            _say(_BANNER.format(
                master=cluster.master_url, controller=cluster.controller_url,
                workers=", ".join(w.address for w in cluster.workers.values()),
                logs=Path(var_dir) / "logs",
                secrets=Path(var_dir) / "cluster" / "secrets.env",
                tls=(f"mutual TLS, CA {Path(var_dir) / 'cluster' / 'tls' / 'ca.pem'}"
                     if spec.tls else "off (CLUSTER_TLS=0): per-call credentials only"),
            ))
            while not stopping["flag"]:
                for proc in cluster.processes():
                    if not proc.alive():
                        _say(f"{proc.name} exited unexpectedly; log tail:\n{proc.log_tail()}")
                        stopping["flag"] = True
                time.sleep(0.5)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _say("stopping ...")
            cluster.stop()
    _say("stopped; nothing left running.")


if __name__ == "__main__":
    main()

"""``make monitoring``: a real Prometheus (Debian's package) against ``make run-cluster``.

Listens on 127.0.0.1:9090 (``PROMETHEUS_PORT`` to change), keeps its data under
``$VAR_DIR/prometheus`` and loads ``monitoring/prometheus.yml`` and ``alerts.yml``
unchanged; worker targets are refreshed from the workers' logs every 5 s. Ctrl-C stops it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from monitoring.prometheus_process import PrometheusProcess
from monitoring.targets import MONITORING_DIR, worker_targets_from_logs, write_file_sd

__all__ = ["main"]


def _refresh_targets(log_dir: Path, out: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        if write_file_sd(out, worker_targets_from_logs(log_dir)):
            sys.stdout.write(f"worker targets: {out.read_text(encoding='utf-8')}")
            sys.stdout.flush()
        stop.wait(5.0)


def main() -> int:
    var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
    port = int(os.environ.get("PROMETHEUS_PORT", "9090"))
    out = MONITORING_DIR / "targets" / "workers.json"
    write_file_sd(out, worker_targets_from_logs(var_dir / "logs"))
    stop = threading.Event()
    refresher = threading.Thread(
        target=_refresh_targets, args=(var_dir / "logs", out, stop), daemon=True
    )
    server = PrometheusProcess(
        config_file=MONITORING_DIR / "prometheus.yml", storage_dir=var_dir / "prometheus",
        port=port, log_file=var_dir / "logs" / "prometheus.log",
    )
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT may arrive ignored (nohup, &)
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    refresher.start()
    sys.stdout.write(
        f"Prometheus on {server.url} (alerts: {server.url}/alerts), log {server.log_file}\n"
        "scraping master 127.0.0.1:8080, controller 127.0.0.1:8082 and the workers in "
        f"{var_dir / 'logs'}. Ctrl-C stops it.\n"
    )
    sys.stdout.flush()
    try:
        while not stop.wait(1.0):
            if server.exited():
                sys.stderr.write(f"prometheus exited; see {server.log_file}\n")
                return 1
    finally:
        stop.set()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

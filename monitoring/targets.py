"""Where Prometheus finds EchoFS: scrape targets for a local cluster or a test cluster.

Workers pick their metrics port at start-up, so for ``make run-cluster`` the worker
targets are read from each worker's "worker listening" log line and written as a
file-based discovery file (``monitoring/targets/workers.json``), which
``monitoring/prometheus.yml`` watches. ``python -m monitoring.targets --watch`` keeps it
current while workers restart.

``for_cluster()`` turns the committed ``prometheus.yml`` into a config for known
endpoints (the tests' cluster), keeping its job names and rule files, so tests exercise
the committed file rather than a copy of it.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = [
    "MONITORING_DIR",
    "for_cluster",
    "load_committed_config",
    "main",
    "worker_targets_from_logs",
    "write_file_sd",
]

MONITORING_DIR = Path(__file__).resolve().parent
JOB_MASTER = "echofs-master"
JOB_WORKER = "echofs-worker"
JOB_CONTROLLER = "echofs-controller"


def worker_targets_from_logs(log_dir: Path, host: str = "127.0.0.1") -> dict[str, str]:
    """worker_id → ``host:metrics_port`` from the newest start-up line of each worker log."""
    found: dict[str, str] = {}
    for log_file in sorted(log_dir.glob("worker-*.log")):
        try:
            lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            if '"worker listening"' not in line:
                continue
            try:
                record = json.loads(line)
                found[str(record["worker_id"])] = f"{host}:{int(record['metrics_port'])}"
            except (ValueError, KeyError, TypeError):
                continue
            break
    return found


def file_sd(workers: dict[str, str]) -> list[dict[str, Any]]:
    return [{"targets": [address], "labels": {"worker_id": worker_id}}
            for worker_id, address in sorted(workers.items())]


def write_file_sd(path: Path, workers: dict[str, str]) -> bool:
    """Atomically replace ``path``; True when its content changed."""
    text = json.dumps(file_sd(workers), indent=2) + "\n"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".json.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
    return True


def load_committed_config() -> dict[str, Any]:
    import yaml  # PyYAML: a test-time dependency only; the runtime services never need it

    with (MONITORING_DIR / "prometheus.yml").open(encoding="utf-8") as handle:
        config: dict[str, Any] = yaml.safe_load(handle)
    return config


def for_cluster(
    base: dict[str, Any], *, masters: list[str], controllers: list[str],
    workers: dict[str, str], interval_s: int = 1,
) -> dict[str, Any]:
    """``base`` with static targets for the given endpoints and rule files made absolute."""
    config = copy.deepcopy(base)
    config["global"]["scrape_interval"] = f"{interval_s}s"
    config["global"]["evaluation_interval"] = f"{interval_s}s"
    config["global"]["scrape_timeout"] = f"{interval_s}s"
    config["rule_files"] = [str(MONITORING_DIR / name) for name in config.get("rule_files", [])]
    static: dict[str, list[dict[str, Any]]] = {
        JOB_MASTER: [{"targets": masters}],
        JOB_CONTROLLER: [{"targets": controllers}],
        JOB_WORKER: file_sd(workers),
    }
    for job in config["scrape_configs"]:
        job.pop("file_sd_configs", None)
        job["static_configs"] = static[job["job_name"]]
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring.targets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-dir", type=Path,
                        default=Path(os.environ.get("VAR_DIR", "var")) / "logs")
    parser.add_argument("--out", type=Path, default=MONITORING_DIR / "targets" / "workers.json")
    parser.add_argument("--watch", action="store_true", help="rewrite every 5 s until killed")
    args = parser.parse_args(argv)
    while True:
        workers = worker_targets_from_logs(args.log_dir)
        if write_file_sd(args.out, workers):
            listed = ", ".join(f"{k}={v}" for k, v in sorted(workers.items()))
            sys.stdout.write(f"{args.out}: {listed or 'no workers yet'}\n")
            sys.stdout.flush()
        if not args.watch:
            return 0
        time.sleep(5)


if __name__ == "__main__":
    raise SystemExit(main())

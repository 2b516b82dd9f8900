"""Scrape targets: worker discovery from start-up logs, and configs for known endpoints."""

from __future__ import annotations

import json
from pathlib import Path

from monitoring.targets import (
    MONITORING_DIR,
    for_cluster,
    load_committed_config,
    worker_targets_from_logs,
    write_file_sd,
)


def _listening(worker_id: str, metrics_port: int) -> str:
    return json.dumps({"level": "INFO", "msg": "worker listening", "grpc_port": 9001,
                       "metrics_port": metrics_port, "worker_id": worker_id})


def test_the_newest_start_up_line_of_each_worker_log_wins(tmp_path: Path) -> None:
    (tmp_path / "worker-1.log").write_text("\n".join([
        _listening("worker-1", 40001), '{"msg": "other"}', _listening("worker-1", 40002),
        "not json at all",
    ]))
    (tmp_path / "worker-2.log").write_text('{"msg": "worker listening", "garbled": true}\n')
    (tmp_path / "master.log").write_text(_listening("master", 1) + "\n")
    assert worker_targets_from_logs(tmp_path) == {"worker-1": "127.0.0.1:40002"}


def test_file_sd_is_rewritten_only_when_targets_change(tmp_path: Path) -> None:
    out = tmp_path / "targets" / "workers.json"
    assert write_file_sd(out, {"worker-1": "127.0.0.1:40001"})
    assert not write_file_sd(out, {"worker-1": "127.0.0.1:40001"})
    assert json.loads(out.read_text()) == [
        {"targets": ["127.0.0.1:40001"], "labels": {"worker_id": "worker-1"}}]


def test_a_cluster_config_keeps_the_committed_jobs_and_rules() -> None:
    base = load_committed_config()
    config = for_cluster(base, masters=["127.0.0.1:1"], controllers=["127.0.0.1:2"],
                         workers={"worker-1": "127.0.0.1:3"}, interval_s=1)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"echofs-master", "echofs-controller", "echofs-worker"}
    assert jobs["echofs-worker"]["static_configs"] == [
        {"targets": ["127.0.0.1:3"], "labels": {"worker_id": "worker-1"}}]
    assert all("file_sd_configs" not in job for job in jobs.values())
    assert config["rule_files"] == [str(MONITORING_DIR / "alerts.yml")]
    assert config["global"]["scrape_interval"] == "1s"
    assert base["scrape_configs"][2].get("file_sd_configs"), "the committed config is untouched"

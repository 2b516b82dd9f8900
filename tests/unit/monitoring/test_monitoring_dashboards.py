"""The generated Grafana dashboards: current, loadable by provisioning, covering §10."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from monitoring.dashboards import DASHBOARD_DIR, DASHBOARDS, panel_queries, stale_files
from monitoring.grafana_model import DATASOURCE_UID, to_promql

GRAFANA = DASHBOARD_DIR.parent
MONITORING = GRAFANA.parent

# DESIGN.md §10: every metric of the contract has a panel somewhere.
DESIGN_METRICS = [
    "echofs_http_requests_total", "echofs_http_request_duration_seconds",
    "echofs_file_uploads_total", "echofs_file_downloads_total", "echofs_file_deletes_total",
    "echofs_file_operation_errors_total", "echofs_upload_duration_seconds",
    "echofs_download_duration_seconds", "echofs_bytes_in_total", "echofs_bytes_out_total",
    "echofs_dedup_hits_total", "echofs_worker_health_status", "echofs_worker_rtt_seconds",
    "echofs_storage_usage_bytes", "echofs_grpc_requests_total",
    "echofs_grpc_request_duration_seconds", "echofs_grpc_errors_total",
    "echofs_s3_operations_total", "echofs_s3_operation_duration_seconds", "echofs_s3_errors_total",
    "echofs_write_quorum_acks", "echofs_quorum_failures_total", "echofs_chunks_under_replicated",
    "echofs_repair_backlog_oldest_seconds", "echofs_bytes_at_risk", "echofs_objects_by_mode",
    "echofs_object_mode_changes_total",
]
JOBS = {"echofs-master", "echofs-worker", "echofs-controller"}


def _committed() -> dict[str, dict]:  # type: ignore[type-arg]
    return {p.name: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def test_committed_dashboard_json_is_what_the_generator_makes() -> None:
    assert stale_files() == [], "run `python -m monitoring.dashboards` and commit the JSON"


def test_the_four_dashboards_of_issue_9_exist_with_unique_uids() -> None:
    dashboards = _committed()
    titles = {d["title"] for d in dashboards.values()}
    assert titles == {"EchoFS / Overview", "EchoFS / Workers", "EchoFS / Durability",
                      "EchoFS / Consistency"}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(p.name for p in DASHBOARD_DIR.glob("*.json")))
def test_dashboard_has_the_fields_provisioning_needs(name: str) -> None:
    dashboard = _committed()[name]
    assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"])
    assert dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    assert dashboard["panels"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in dashboard["panels"]:
        where = f"{name} / {panel.get('title')}"
        assert panel["type"] in {"timeseries", "stat"}, where
        assert panel["title"], where
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, where
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, where
        assert panel["targets"], where
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID, where
            assert target["expr"].strip(), where


def test_every_query_selects_its_scrape_job() -> None:
    """master and controller both export echofs_http_*; master and workers echofs_grpc_*."""
    for uid, panel, expr in panel_queries():
        series = re.findall(r"\b(echofs_\w+|up)\b(\{[^}]*\})?", expr)
        assert series, f"{uid} / {panel}"
        for metric, selector in series:
            job = re.search(r'job="([^"]+)"', selector)
            assert job and job.group(1) in JOBS, f"{uid} / {panel}: {metric} in {expr}"


def test_every_design_metric_has_a_panel() -> None:
    exprs = " ".join(expr for _, _, expr in panel_queries())
    missing = [m for m in DESIGN_METRICS if m not in exprs]
    assert not missing


def test_grafana_macros_become_plain_windows_for_prometheus() -> None:
    expr = "rate(x[$__rate_interval]) + rate(y[$__interval]) + increase(z[$__range])"
    assert to_promql(expr, "1m") == "rate(x[1m]) + rate(y[1m]) + increase(z[1m])"
    assert all("$" not in to_promql(e) for _, _, e in panel_queries())


def test_provisioning_points_at_the_generated_dashboards_and_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert [d["uid"] for d in datasources["datasources"]] == [DATASOURCE_UID]
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "echofs.yml").read_text())["providers"]
    compose = yaml.safe_load((MONITORING / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = providers[0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
    assert any(m.startswith("./grafana/provisioning:/etc/grafana/provisioning") for m in mounts)


def test_generator_writes_into_an_empty_directory(tmp_path: Path) -> None:
    from monitoring.dashboards import write_all

    written = write_all(tmp_path)
    assert sorted(p.name for p in written) == sorted(_committed())
    assert stale_files(tmp_path) == []
    (tmp_path / "extra.json").write_text("{}")
    assert stale_files(tmp_path) == ["extra.json"]
    assert len(DASHBOARDS) == len(written)


def test_the_consistency_dashboard_shows_issue_23s_estimate_and_signals() -> None:
    """Proposed for DESIGN §10 by issue 23: the loss estimate per mode and what C can do."""
    exprs = " ".join(expr for uid, _, expr in panel_queries() if uid == "echofs-consistency")
    for metric in ("echofs_controller_loss_probability",
                   "echofs_controller_loss_probability_upper",
                   "echofs_controller_workers_writable",
                   "echofs_controller_c_write_latency_seconds"):
        assert metric in exprs, metric

"""Dashboards and alerts against a live cluster and a real Prometheus (issue 9).

One cluster (tests/integration/conftest.py) and one Prometheus binary on loopback per
module, scraping every second with the committed prometheus.yml's jobs and alerts.yml's
rules. After a burst of uploads, downloads and a delete, every dashboard query must
parse and return data, every alert expression must evaluate, and stopping a worker must
make the worker-down expression true within the alert's ``for`` window.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from common.embedded import free_port
from monitoring.dashboards import panel_queries
from monitoring.grafana_model import to_promql
from monitoring.prometheus_process import (
    PrometheusProcess,
    PromQLError,
    api_get,
    find_binary,
    query,
)
from monitoring.rules import ALERTS_FILE, load_alert_rules
from monitoring.targets import MONITORING_DIR, for_cluster, load_committed_config
from tests.support.api import ApiClient
from tests.support.services import scratch_dir
from tools.cluster import LocalCluster

MiB = 1024 * 1024
WINDOW = "1m"  # stands in for Grafana's $__rate_interval; rate() needs 2 scrapes inside it
# Panels that rightly read 0 on a healthy cluster with local-disk workers (errors, repair,
# S3, corruption, mode changes); every other panel must show a non-zero value under load.
QUIET_WHEN_HEALTHY = {
    "Errors", "gRPC errors", "S3 operations (S3 backend only)",
    "S3 latency p99 (S3 backend only)", "Scrubber", "Chunks under-replicated", "Bytes at risk",
    "Repair backlog: oldest item", "Repair rate", "Quorum failures by reason",
    "Corruption found", "Mode changes by reason", "Controller probe failure rate per worker",
    # The durability model estimates from measured worker failures: none, in a healthy
    # cluster, so 0 (issue 23's fault runs are where it moves).
    "Estimated loss probability before N copies",
}


def _until(predicate, timeout_s: float, every_s: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_binary("promtool"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def prometheus(cluster: LocalCluster) -> Iterator[PrometheusProcess]:
    base_dir = scratch_dir() / f"prometheus-{uuid.uuid4().hex[:8]}"
    base_dir.mkdir(parents=True)
    config = for_cluster(
        load_committed_config(),
        masters=[cluster.master_url.removeprefix("http://")],
        controllers=[cluster.controller_url.removeprefix("http://")],
        workers={worker_id: handle.metrics_url.removeprefix("http://").removesuffix("/metrics")
                 for worker_id, handle in cluster.workers.items()},
    )
    config_file = base_dir / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    server = PrometheusProcess(config_file=config_file, storage_dir=base_dir / "data",
                               port=free_port(), log_file=base_dir / "prometheus.log")
    with server:
        yield server
    shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(scope="module")
async def loaded(cluster: LocalCluster, prometheus: PrometheusProcess) -> AsyncIterator[None]:
    """Uploads (one a duplicate, so dedup counts; one an overwrite), downloads, a 404 and
    a delete.

    A warm-up upload and download first give every labelled series (gRPC methods, routes)
    its first sample, and the load starts only once Prometheus has scraped that baseline:
    rate() and quantiles over the next minute then see the load, not a series' birth.
    """
    uploads = 5
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        warm_up = os.urandom(64 * 1024)
        status, body = await api.upload_raw(warm_up, "monitoring/warm-up.bin")
        assert status == 201, body
        status, downloaded, _ = await api.download(body["data"]["file_id"])
        assert status == 200 and downloaded == warm_up

        def baseline_scraped() -> bool:
            return bool(query(prometheus.url,
                              'count(up{job=~"echofs-.*"} == 1) == 5 and count(count_over_time('
                              'echofs_grpc_requests_total{job="echofs-worker",method=~"GetChunks?"}'
                              '[1m]) >= 3) >= 1'))

        assert await asyncio.to_thread(_until, baseline_scraped, 30.0), "no baseline scraped"
        payloads = [os.urandom(MiB + 4096 * i) for i in range(uploads - 1)]
        payloads.append(payloads[0])
        file_ids = []
        for index, data in enumerate(payloads):
            status, body = await api.upload_raw(data, f"monitoring/load-{index}.bin")
            assert status == 201, body
            file_ids.append(body["data"]["file_id"])
        # An overwrite: a file written twice gets a mode of its own at the controller
        # (a file written once takes the cluster's), so "Objects by mode" has objects.
        payloads[0] = os.urandom(MiB)
        status, body = await api.upload_raw(payloads[0], "monitoring/load-0.bin")
        assert status == 201 and body["data"]["file_id"] == file_ids[0], body
        for file_id, data in zip(file_ids, payloads, strict=True):
            status, downloaded, _ = await api.download(file_id)
            assert status == 200 and downloaded == data
        status, _, _ = await api.download(str(uuid.uuid4()))
        assert status == 404
        async with session.delete(f"{cluster.master_url}/api/v1/files/{file_ids[1]}",
                                  headers=api.auth) as response:
            assert response.status in (200, 204), await response.text()

    def scraped_after_load() -> bool:
        result = query(prometheus.url,
                       'sum(echofs_file_uploads_total{job="echofs-master"})'
                       ' and sum(echofs_file_deletes_total{job="echofs-master"}) > 0'
                       ' and count(up{job=~"echofs-.*"} == 1) == 5')
        return bool(result) and float(result[0]["value"][1]) >= uploads + 1  # + warm-up

    seen = await asyncio.to_thread(_until, scraped_after_load, 30.0)
    assert seen, "Prometheus never saw the load"
    await asyncio.sleep(3)  # a few more scrapes, so series born during the load have 2 samples
    yield


def test_promtool_accepts_the_committed_config_and_rules() -> None:
    rules = _promtool("check", "rules", str(ALERTS_FILE))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _promtool("check", "config", str(MONITORING_DIR / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def _moving(result: list[dict]) -> bool:  # type: ignore[type-arg]
    """Some series has a finite, non-zero value (NaN is what a quantile of nothing gives)."""
    return any(math.isfinite(float(v)) and float(v) != 0
               for v in (series["value"][1] for series in result))


def test_every_dashboard_panel_query_returns_data_under_load(
    loaded: None, prometheus: PrometheusProcess
) -> None:
    """Every query parses and returns series; every panel that a healthy cluster under load
    must move (throughput, latency, acks, dedup...) shows a real, non-zero value."""
    failures = []
    moving: dict[tuple[str, str], bool] = {}
    for uid, panel, expr in panel_queries():
        try:
            result = query(prometheus.url, to_promql(expr, WINDOW))
        except PromQLError as exc:
            failures.append(f"{uid} / {panel}: does not parse or evaluate: {exc}")
            continue
        if not result:
            failures.append(f"{uid} / {panel}: no data for {expr}")
        moving[(uid, panel)] = moving.get((uid, panel), False) or _moving(result)
    still = sorted(f"{uid} / {panel}" for (uid, panel), ok in moving.items()
                   if not ok and panel not in QUIET_WHEN_HEALTHY)
    assert not failures, "\n".join(failures)
    assert not still, "panels that show only 0 or NaN under load:\n" + "\n".join(still)


def test_every_alert_expression_evaluates_and_rules_are_loaded(
    loaded: None, prometheus: PrometheusProcess
) -> None:
    rules = load_alert_rules()
    for rule in rules:
        query(prometheus.url, rule.expr)  # raises PromQLError when it does not parse

    def evaluated_rules() -> dict[str, str]:
        """Alert name → health, once Prometheus has evaluated every rule at least once."""
        groups = api_get(prometheus.url, "/api/v1/rules?type=alert")["groups"]
        seen = {r["name"]: r["health"] for g in groups for r in g["rules"]
                if not r["lastEvaluation"].startswith("0001-")}
        return seen if len(seen) == len(rules) else {}

    loaded_rules = _until(evaluated_rules, 15.0)
    assert sorted(loaded_rules) == sorted(r.name for r in rules)
    assert set(loaded_rules.values()) == {"ok"}, loaded_rules


def test_stopping_a_worker_makes_worker_down_true_within_its_for_window(
    loaded: None, cluster: LocalCluster, prometheus: PrometheusProcess
) -> None:
    """Runs last in this module: it leaves worker-3 stopped."""
    (rule,) = [r for r in load_alert_rules() if r.name == "EchoFSWorkerDown"]
    assert rule.for_s > 0

    def down_workers() -> set[str]:
        result = query(prometheus.url, rule.expr)
        return {series["metric"].get("worker_id", "") for series in result}

    assert "worker-3" not in down_workers()
    stopped_at = time.monotonic()
    cluster.workers["worker-3"].process.stop()
    assert _until(lambda: "worker-3" in down_workers(), rule.for_s), (
        f"{rule.name} not true for worker-3 within its for window ({rule.for_s}s)")
    assert time.monotonic() - stopped_at <= rule.for_s

    def alert_states() -> set[str]:
        return {a["state"] for a in api_get(prometheus.url, "/api/v1/alerts")["alerts"]
                if a["labels"]["alertname"] == rule.name
                and a["labels"].get("worker_id") == "worker-3"}

    assert _until(alert_states, 10.0) & {"pending", "firing"}, "Prometheus did not raise the alert"


async def test_with_a_worker_down_the_durability_panels_show_the_replicas_owed(
    loaded: None, cluster: LocalCluster, prometheus: PrometheusProcess
) -> None:
    """A strong upload with one of three workers stopped acks 2 and queues the third copy:
    the Durability dashboard's under-replication and backlog panels must show it."""
    cluster.workers["worker-3"].process.stop()  # idempotent; the test above stopped it
    probed_down = await asyncio.to_thread(_until, lambda: query(
        prometheus.url,
        'max(echofs_worker_health_status{job="echofs-master", worker_id="worker-3"}) == 0'), 30.0)
    assert probed_down, "the master's probes never called the stopped worker down"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        status, body = await api.upload_raw(os.urandom(MiB), "monitoring/owed.bin",
                                            consistency="strong")
    assert status == 201, body
    assert body["data"]["replicas"]["pending"] == 1, body
    panels = {panel: expr for uid, panel, expr in panel_queries() if uid == "echofs-durability"}
    for title in ("Chunks under-replicated", "Repair backlog: oldest item"):
        expr = to_promql(panels[title], WINDOW)
        shown = await asyncio.to_thread(
            _until, lambda e=expr: _moving(query(prometheus.url, e)), 20.0)
        assert shown, f"Durability / {title} stayed at 0 with a replica owed"

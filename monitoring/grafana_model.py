"""A small, dependency-free model of the Grafana dashboard JSON that provisioning loads.

Why not ``grafanalib`` or ``grafana-foundation-sdk``: either would become a runtime
dependency of the test suite just to check that committed JSON is current, and both
model far more than the two panel types EchoFS uses. These few dataclasses produce
exactly the fields Grafana's file provisioning needs (uid, title, schemaVersion, panels
with type, gridPos, datasource and targets) and nothing else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DATASOURCE",
    "DATASOURCE_UID",
    "Dashboard",
    "Panel",
    "Target",
    "render_json",
    "to_promql",
]

# The provisioned Prometheus datasource (grafana/provisioning/datasources/prometheus.yml).
DATASOURCE_UID = "echofs-prometheus"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": DATASOURCE_UID}

SCHEMA_VERSION = 39
PANEL_WIDTH = 12
PANEL_HEIGHT = 8
GRID_COLUMNS = 24

# Grafana's interval macros, replaced by a fixed window when a query is sent straight to
# Prometheus (tests, promtool): the only template syntax the generated queries use.
_MACRO = re.compile(r"\$__(rate_interval|interval|range)\b")


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel; ``legend`` is Grafana's legendFormat."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    targets: tuple[Target, ...]
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    description: str = ""
    width: int = PANEL_WIDTH


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = field(default=("echofs",))
    refresh: str = "10s"

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": False,
            "graphTooltip": 1,
            "refresh": self.refresh,
            "time": {"from": "now-1h", "to": "now"},
            "timezone": "utc",
            "annotations": {"list": []},
            "templating": {"list": []},
            "panels": _layout(self.panels),
        }


def _layout(panels: tuple[Panel, ...]) -> list[dict[str, Any]]:
    """Left to right, top to bottom; panel ids are 1-based and stable."""
    placed: list[dict[str, Any]] = []
    x = y = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_COLUMNS:
            x, y = 0, y + PANEL_HEIGHT
        placed.append(_panel_json(panel_id, panel, x, y))
        x += panel.width
    return placed


def _panel_json(panel_id: int, panel: Panel, x: int, y: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": PANEL_HEIGHT},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": dict(DATASOURCE),
                "expr": target.expr,
                "legendFormat": target.legend or "__auto",
                "range": True,
            }
            for index, target in enumerate(panel.targets)
        ],
    }
    if panel.kind == "stat":
        body["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                             "values": False},
                           "colorMode": "value", "graphMode": "area"}
    else:
        body["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                           "tooltip": {"mode": "multi", "sort": "desc"}}
    return body


def render_json(dashboard: Dashboard) -> str:
    """The exact text committed under ``grafana/dashboards/`` (stable key order)."""
    return json.dumps(dashboard.to_json(), indent=2, sort_keys=True) + "\n"


def to_promql(expr: str, window: str = "1m") -> str:
    """``expr`` with Grafana's interval macros replaced, ready for Prometheus's API."""
    return _MACRO.sub(window, expr)

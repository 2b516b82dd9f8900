"""The committed alert rules (``monitoring/alerts.yml``) as data, for tests and tooling."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ALERTS_FILE", "AlertRule", "duration_seconds", "load_alert_rules"]

ALERTS_FILE = Path(__file__).resolve().parent / "alerts.yml"
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class AlertRule:
    group: str
    name: str
    expr: str
    for_s: float
    labels: dict[str, str]
    annotations: dict[str, str]


def duration_seconds(text: str) -> float:
    """Prometheus duration ("1m", "1h30m", "0s") in seconds; ValueError if malformed."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNIT_S[u] for n, u in parts)


def load_alert_rules(path: Path = ALERTS_FILE) -> list[AlertRule]:
    import yaml  # PyYAML: a test-time dependency only

    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        AlertRule(
            group=group["name"], name=rule["alert"], expr=rule["expr"].strip(),
            for_s=duration_seconds(str(rule.get("for", "0s"))),
            labels=dict(rule.get("labels", {})), annotations=dict(rule.get("annotations", {})),
        )
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]

"""The Grafana dashboard next to the Prometheus config charts only metrics the processes
export, by labels those metrics carry: a renamed metric or label fails here, not on a
screen that silently goes blank."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from bff.mobile_headers import METRIC_LABELS
from services.kit.metrics import HttpMetrics
from services.notifications.metrics import PushMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "infra/prometheus/grafana-dashboard.json"
TARGET_LABELS = {"service", "le"}  # added by the scrape config, and a histogram's buckets


def _exported() -> dict[str, set[str]]:
    """Every sample name the BFF and notifications export, with its labels (one of each
    observed, so that every labelled sample shows)."""
    http = HttpMetrics("bff", METRIC_LABELS)
    http.observe("GET", "/api/v1/dashboard", 200, 0.01, 100, ("ios", "1.4"))
    registry = CollectorRegistry()
    pushes = PushMetrics(registry)
    for counter in (pushes.sent, pushes.failed, pushes.invalid_token, pushes.retried):
        counter.labels("ios", "Unregistered").inc()
    pushes.send_seconds.labels("ios").observe(0.01)
    names: dict[str, set[str]] = {}
    for source in (http.registry, registry):
        for family in source.collect():
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_every_panel_charts_exported_metrics_by_their_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exported = _exported()
    problems = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name in re.findall(r"\b(tern_[a-z_]+)\b", expr):
                if name not in exported:
                    problems.append(f"{panel['title']}: no metric {name}")
                    continue
                used = set(re.findall(r"by \(([^)]*)\)", expr))
                labels = {label.strip() for group in used for label in group.split(",")}
                labels |= set(re.findall(r"(\w+)=~?\"", expr))
                unknown = labels - exported[name] - TARGET_LABELS
                if unknown:
                    problems.append(f"{panel['title']}: {name} has no label {sorted(unknown)}")
    assert problems == []
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])

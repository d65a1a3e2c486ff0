"""docs/METRICS.md, generated from the metrics the code defines (a test keeps the two equal)."""

from __future__ import annotations

from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from synthstream.streams.runtime.metrics import Metrics

HEADER = """# Metrics

Generated from `streams/runtime/metrics.py` by `synthstream metrics-doc --out docs/METRICS.md`; a test fails
when the two differ. Every worker serves these on `/metrics` (prometheus-client, base units,
counters end in `_total`, labels from small fixed sets, never ids). `promtool check metrics`
passes on a live worker's `/metrics` (an integration test runs it).

| metric | type | labels | what it counts or measures |
|---|---|---|---|
"""


def _families(metrics: Metrics) -> list[MetricWrapperBase]:
    return sorted((v for v in vars(metrics).values() if isinstance(v, MetricWrapperBase)), key=lambda m: m._name)


def catalogue() -> str:
    rows = []
    for m in _families(Metrics(CollectorRegistry())):
        # prometheus_client keeps a counter's name without _total and the label names privately
        name = f"{m._name}_total" if m._type == "counter" else m._name
        labels = ", ".join(m._labelnames) or "—"
        rows.append(f"| `{name}` | {m._type} | {labels} | {m._documentation} |")
    return HEADER + "\n".join(rows) + "\n" + recording_rules()


RULES = Path(__file__).resolve().parents[2] / "dashboards" / "alerts.yml"  # in the source tree


def recording_rules() -> str:
    """The derived series Prometheus records from the metrics above (dashboards/alerts.yml)."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rows = [f"| `{r['record']}` | `{' '.join(r['expr'].split())}` |" for g in groups for r in g["rules"] if "record" in r]
    return ("\n## Recording rules\n\nDerived series that Prometheus records with the rules in "
            "`dashboards/alerts.yml` (the dashboards use them):\n\n| series | PromQL |\n|---|---|\n"
            + "\n".join(rows) + "\n")

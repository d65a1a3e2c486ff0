"""Alert rules and metric exposition checked by Prometheus's own promtool (Debian package prometheus,
installed by the Makefile; CI never skips)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from synthstream.streams.runtime.metrics import Metrics
from synthstream.streams.app.metrics_doc import catalogue

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None and not os.environ.get("CI"),
                                    reason="promtool is not installed (Debian package prometheus; CI installs it)")


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None, "promtool is missing: install the Debian package prometheus"
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, timeout=60, cwd=ROOT)


@needs_promtool
def test_the_alert_rules_parse() -> None:
    proc = promtool("check", "rules", "dashboards/alerts.yml")
    assert proc.returncode == 0 and b"SUCCESS: 12 rules found" in proc.stdout, proc.stdout + proc.stderr


@needs_promtool
def test_every_alert_fires_when_it_should_and_only_then() -> None:
    proc = promtool("test", "rules", "tests/alerts/alerts_test.yml")
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


@needs_promtool
def test_the_exposition_of_every_metric_passes_promtools_lint() -> None:
    metrics = Metrics(CollectorRegistry(), tasks=("math.linear", "code.python"))
    metrics.register_model("gemma3-270m")
    metrics.review_labels.labels("math.linear", "accept", "reject").inc()
    metrics.review_agreement.labels("math.linear").set(0.5)
    text = generate_latest(metrics.registry)
    proc = promtool("check", "metrics", stdin=text)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_the_metrics_catalogue_is_generated_from_the_code() -> None:
    assert (ROOT / "docs" / "METRICS.md").read_text() == catalogue(), \
        "run: synthstream metrics-doc --out docs/METRICS.md"

"""Dashboards, alert rules and docker-compose reference only things that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry

from synthstream.streams.app.cli import app
from synthstream.streams.runtime.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "summary": ("_sum", "_count", "_created")}


def defined_metric_names() -> set[str]:
    names = set()
    for family in Metrics(CollectorRegistry()).registry.collect():
        names.update(family.name + s for s in SUFFIXES[family.type])
    return names


def exprs_in_dashboards() -> list[str]:
    out = []
    for path in (ROOT / "dashboards").rglob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            out += [t["expr"] for t in panel["targets"]]
    alerts = yaml.safe_load((ROOT / "dashboards" / "alerts.yml").read_text())
    out += [r["expr"] for g in alerts["groups"] for r in g["rules"]]
    return out


def test_defined_metric_names_follow_the_conventions():
    for name in defined_metric_names():
        assert name.startswith("synthstream_")
    assert "synthstream_stage_records_total" in defined_metric_names()


def test_every_metric_used_by_dashboards_and_alerts_is_defined():
    used = {m for e in exprs_in_dashboards() for m in re.findall(r"synthstream_[a-z0-9_]+", e)}
    assert used, "the dashboards query nothing?"
    assert used <= defined_metric_names(), used - defined_metric_names()


def test_the_dashboards_are_generated_from_their_table():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(ROOT / "dashboards" / "build.py"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_dashboard_panels_cover_the_required_views():
    boards = {p.stem: " ".join(panel["title"].lower() for panel in json.loads(p.read_text())["panels"])
              for p in (ROOT / "dashboards/grafana/dashboards").glob("*.json")}
    needed = {"synthstream-overview": ("throughput", "acceptance", "latency", "dead letters", "consumer lag"),
              "synthstream-quality": ("quality score", "verdicts", "validator", "sandbox", "human review"),
              "synthstream-bias": ("psi", "jensen", "length", "distinct", "compression", "detectors"),
              "synthstream-dedup": ("by kind", "index size", "replays"),
              "synthstream-model": ("requests", "tokens", "cost", "latency", "concurrency")}
    assert set(boards) == set(needed)
    for board, words in needed.items():
        assert all(w in boards[board] for w in words), (board, words)


def test_prometheus_config_scrapes_workers_and_loads_the_rules():
    conf = yaml.safe_load((ROOT / "dashboards/prometheus.yml").read_text())
    assert conf["scrape_configs"][0]["static_configs"][0]["targets"]
    assert conf["rule_files"] == ["/etc/prometheus/alerts.yml"]


def cli_commands() -> set[str]:
    group = typer.main.get_command(app)
    return set(group.commands)


def test_docker_compose_references_existing_files_and_commands():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "worker", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    built = [s for s in services.values() if "build" in s]
    assert built and (ROOT / "Dockerfile").exists()
    for svc in built:
        if "entrypoint" in svc:  # the model server runs llama.cpp's server from the same image
            assert "llama_cpp.server" in svc["command"][0] and "--model_alias gemma3-270m" in svc["command"][0]
            continue
        assert svc["command"][0] in cli_commands(), svc["command"]
        for arg, value in zip(svc["command"], svc["command"][1:]):
            if arg == "--spec":
                assert (ROOT / value).exists()
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):  # a named volume: declared at the top level
                assert source in (compose.get("volumes") or {}), source
                continue
            assert (ROOT / source).exists(), source
    llm_port = services["llm"]["command"][0].split("--port ")[1].split()[0]
    assert services["worker"]["environment"]["SYNTHSTREAM_LLM_BASE_URL"] == f"http://llm:{llm_port}/v1"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "local-llm" in dockerfile and "bubblewrap" in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, re.M):
        assert (ROOT / copied).exists(), copied


@pytest.mark.parametrize("sub", ["start", "stop", "status", "fetch"])
def test_kafka_subcommands_exist(sub):
    assert sub in typer.main.get_command(app).commands["kafka"].commands


@pytest.mark.parametrize("group,sub", [("llm", "start"), ("llm", "stop"), ("llm", "status"), ("spec", "schema"),
                                       ("spec", "tasks"), ("spec", "check")])
def test_llm_and_spec_subcommands_exist(group, sub):
    assert sub in typer.main.get_command(app).commands[group].commands


def test_metrics_port_in_use_is_a_config_error():
    import socket

    from synthstream.streams.runtime.errors import ConfigError
    from synthstream.streams.runtime.metrics import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(ConfigError, match="SYNTHSTREAM_METRICS_PORT"):
            serve(CollectorRegistry(), "127.0.0.1", s.getsockname()[1])

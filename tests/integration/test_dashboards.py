"""Every dashboard panel's PromQL returns data from a real Prometheus scraping a live pipeline.

A real Prometheus (Debian package prometheus, installed by the Makefile) listens on 127.0.0.1
and scrapes one worker every second, with the alert rules loaded. The worker runs every stage
on a spec with a model-solved task (an OpenAI-compatible test server, so the model panels have
requests, tokens and cost), a procedural task with slips (rejections), and code tasks (the
sandbox). Prompts arrive for about 15 seconds, a few review labels are published, and then each
query of each dashboard in dashboards/grafana/dashboards is evaluated through the HTTP API.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from synthstream.streams.app.producer import make_producer, plan_prompts, publish
from synthstream.streams.runtime.serde import registry
from synthstream.agents.spec import load_spec
from tests.fakellm import FakeLLM
from tests.integration.conftest import free_port, wait_until
from tests.records import LABEL

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BOARDS = sorted((ROOT / "dashboards" / "grafana" / "dashboards").glob("*.json"))


def api(port: int, path: str, **params: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: install the Debian package prometheus (make setup does)"
    port = free_port()
    config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
              "rule_files": [str(ROOT / "dashboards" / "alerts.yml")],
              "scrape_configs": [{"job_name": "synthstream", "static_configs": [{"targets": [target]}]}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    assert wait_until(ready, 60), (tmp_path / "prometheus.log").read_text()[-2000:]
    return proc, port


def write_spec(tmp_path: Path) -> Path:
    spec = {"dataset": {"name": "dash", "version": "1"}, "seed": 3,
            "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 32}},
            "tasks": [
                {"name": "math.linear", "weight": 1, "dimensions": {"difficulty": {"basic": 1}},
                 "params": {"samples": 1}},
                {"name": "math.quadratic", "weight": 2, "solver": "procedural",
                 "dimensions": {"difficulty": {"easy": 1, "medium": 1}}, "params": {"error_rate": 0.3}},
                {"name": "code.python", "weight": 1,
                 "dimensions": {"source": {"catalogue": 1}, "difficulty": {"easy": 1}}},
            ]}
    path = tmp_path / "dash.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_every_panel_returns_data_from_a_live_run(names, bootstrap, worker_factory, tmp_path):
    serde = registry()
    spec_path = write_spec(tmp_path)
    spec = load_spec(spec_path)
    metrics_port = free_port()
    with FakeLLM(latency_s=0.005) as llm:
        worker = worker_factory(names, spec_path, metrics_port, SYNTHSTREAM_LLM_BASE_URL=llm.url,
                                SYNTHSTREAM_LLM_PRICE_INPUT_PER_MTOK="1.5", SYNTHSTREAM_LLM_PRICE_OUTPUT_PER_MTOK="6",
                                SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS="20",
                                SYNTHSTREAM_WORKER_BIAS_IDLE_FLUSH_SECONDS="1",
                                SYNTHSTREAM_WORKER_LAG_INTERVAL_S="1")
        prom, prom_port = start_prometheus(tmp_path, f"127.0.0.1:{metrics_port}")
        producer = make_producer(bootstrap)
        try:
            assert wait_until(lambda: api(prom_port, "query", query="up")["data"]["result"] != [], 60)
            for batch in range(15):  # a steady stream, so that every rate has something to show
                publish(producer, names.prompts, serde,
                        plan_prompts(spec, 20, "dash", int(time.time() * 1000), start=batch * 20))
                if batch == 5:
                    for i, label in enumerate(("accept", "reject", "accept")):
                        producer.send(names["review-labels"], key=f"r{i}".encode(),
                                      value=serde.encode("ReviewLabel", dict(LABEL, prompt_id=f"r{i}", label=label)))
                time.sleep(1)
            producer.flush()

            def scraped(query: str) -> bool:
                return api(prom_port, "query", query=query)["data"]["result"] != []

            # the last windows and labels have been read and scraped
            assert wait_until(lambda: scraped("synthstream_review_agreement_ratio")
                              and scraped("synthstream_bias_length_psi"), 60), \
                worker.log_path.read_text()[-3000:]
            time.sleep(3)
            empty, checked = [], 0
            for board in BOARDS:
                for panel in json.loads(board.read_text())["panels"]:
                    for target in panel["targets"]:
                        reply = api(prom_port, "query", query=target["expr"])
                        assert reply["status"] == "success", (board.name, panel["title"], reply)
                        values = [float(r["value"][1]) for r in reply["data"]["result"]]
                        checked += 1
                        if not any(math.isfinite(v) for v in values):
                            empty.append(f"{board.stem} / {panel['title']}: {target['expr']} -> {values}")
            assert checked >= 35 and not empty, "\n".join(empty)  # 38 queries in 5 dashboards
            # and the values mean something (a gauge set at start would pass the check above)
            for sane in ('synthstream_diversity_compression_ratio{dataset="dash"} > 1',
                         'synthstream_diversity_distinct_ratio{dataset="dash",n="1"} > 0',
                         'synthstream_bias_detector_ratio{detector="non_english_share"} >= 0',
                         "sum(synthstream_llm_cost_usd_total) > 0", "sum(synthstream_dedup_index_records) > 0",
                         'sum(synthstream_sandbox_task_seconds_count) > 0', "sum(synthstream_dedup_replay_seconds_count) > 0",
                         "max(synthstream_consumer_lag_messages) >= 0"):
                assert scraped(sane), sane
            rules = [r for g in api(prom_port, "rules")["data"]["groups"] for r in g["rules"]]
            assert len(rules) == 12 and all(r["health"] == "ok" for r in rules), rules
            assert llm.outcomes["ok"] > 0
        finally:
            producer.close()
            prom.terminate()
            prom.wait(timeout=20)

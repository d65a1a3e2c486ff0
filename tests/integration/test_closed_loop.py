"""The closed loop through the real pipeline: produce --follow-bias against a real worker.

tests/fixtures/specs/drift.yaml samples three tasks equally, and the procedural solver slips
on half of one and four fifths of another, which verification rejects. Published plainly, the
accepted stream's task shares drift past PSI 0.2; with --follow-bias the producer re-weights
from the bias reports and the shares come back under 0.1 within a bounded number of batches.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthstream.agents.bias.core import psi
from synthstream.agents.bias.reweight import merge
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.runtime.serde import registry
from synthstream.agents.spec import load_spec
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration
DRIFT = Path(__file__).resolve().parents[1] / "fixtures" / "specs" / "drift.yaml"


def produce(bootstrap: str, prefix: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=prefix, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "produce", "--spec", str(DRIFT), *args], env=env,
                          capture_output=True, text=True, timeout=400)


def task_psi(report: dict) -> float:
    return next(d["psi"] for d in report["dimensions"] if d["dimension"] == "task")


def test_follow_bias_brings_the_accepted_shares_back_to_target(names, bootstrap, worker_factory):
    serde = registry()
    proc = worker_factory(names, DRIFT, free_port(), SYNTHSTREAM_WORKER_BIAS_WINDOW_RECORDS="150",
                          SYNTHSTREAM_WORKER_BIAS_IDLE_FLUSH_SECONDS="1.5")
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    try:
        done = produce(bootstrap, names.prefix, "--count", "900", "--run-id", "open")
        assert done.returncode == 0, done.stderr
        pending = {f"drift-open-{i:08d}" for i in range(900)}
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"{len(pending)} prompts without outcome; log:\n{proc.log_path.read_text()[-3000:]}"
    finally:
        watcher.close()
    time.sleep(3)  # the last window closes when the stream is idle
    open_loop = [serde.decode(m.value, "BiasReport")[1] for m in read_to_end(bootstrap, names["bias-reports"])]
    counted = [r for r in open_loop if r["closed_by"] == "count"]
    assert len(counted) >= 2 and min(task_psi(r) for r in counted) > 0.2, [task_psi(r) for r in open_loop]

    started = int(time.time() * 1000)
    done = produce(bootstrap, names.prefix, "--count", "4800", "--run-id", "loop", "--follow-bias",
                   "--batch", "600", "--wait", "60")
    assert done.returncode == 0, done.stderr
    batches = [float(m) for m in re.findall(r"task PSI (\d+\.\d+)", done.stderr)]
    assert len(batches) == 8, done.stderr
    assert batches[0] > 0.2, done.stderr  # the first batch is sampled by the spec alone
    settled = next((i for i, v in enumerate(batches) if v <= 0.1), None)
    assert settled is not None and settled <= 3 and max(batches[settled:]) <= 0.1, done.stderr
    # the same from the reports themselves: the last windows together are on target
    closed_loop = [serde.decode(m.value, "BiasReport")[1] for m in read_to_end(bootstrap, names["bias-reports"])]
    late = [r for r in closed_loop if r["window_start"] >= started][-4:]
    merged = merge(late)["task"]
    assert psi(merged, load_spec(DRIFT).targets()["task"]) <= 0.1, (merged, done.stderr)

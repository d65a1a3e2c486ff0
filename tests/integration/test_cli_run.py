"""`synthstream run` and friends as a user runs them, against the session broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def env(bootstrap, tmp_path) -> dict[str, str]:
    return dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=f"c{uuid.uuid4().hex[:8]}.",
                SYNTHSTREAM_METRICS_PORT=str(free_port()), SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "w"),
                COLUMNS="120")


def test_run_accounts_for_every_prompt_and_exports_jsonl(env, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = cli("run", "--spec", "specs/demo.yaml", "--count", "150", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no outcome (lost)" in proc.stdout and "prompts produced" in proc.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    accepted = int(next(l for l in proc.stdout.splitlines() if "accepted  " in l or "│   accepted" in l).split("│")[2])
    assert len(lines) == accepted > 100
    first = lines[0]
    assert set(first) == {"id", "task", "messages", "answer", "quality_score", "metadata"}
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["metadata"]["lineage"]["dataset"] == "demo-math" and "difficulty" in first["metadata"]
    assert "Answer: x = " in first["messages"][1]["content"] and first["quality_score"] >= 0.85

    exported = tmp_path / "export.jsonl"
    proc = cli("export", "--out", str(exported), env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(exported.read_text().splitlines()) == sorted(out.read_text().splitlines())


def test_invalid_spec_fails_before_anything_is_published(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "specs" / "demo.yaml").read_text().replace("weight: 1.0", "weight: heavy"))
    proc = cli("run", "--spec", str(bad), "--count", "10", env=env)
    assert proc.returncode == 1
    assert str(bad) in proc.stderr and "tasks.0.weight" in proc.stderr
    assert "Traceback" not in proc.stderr
    topics = cli("topics", "create", env=env)
    assert "created 7 topic(s)" in topics.stderr  # nothing had been created by the failed run

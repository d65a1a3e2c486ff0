"""`synthstream run` and friends as a user runs them, against the session broker."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import free_ports

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def env(bootstrap, tmp_path) -> dict[str, str]:
    return dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=f"c{uuid.uuid4().hex[:8]}.",
                SYNTHSTREAM_METRICS_PORT=str(free_ports(4)), SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "w"),
                COLUMNS="120")


def test_run_accounts_for_every_prompt_and_exports_jsonl(env, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = cli("run", "--spec", "specs/procedural.yaml", "--count", "150", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no outcome (lost)" in proc.stdout and "prompts produced" in proc.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    accepted = int(next(l for l in proc.stdout.splitlines() if "accepted  " in l or "│   accepted" in l).split("│")[2])
    assert len(lines) == accepted > 100
    first = lines[0]
    assert set(first) == {"id", "task", "messages", "answer", "quality_score", "metadata"}
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"]
    assert first["metadata"]["lineage"]["dataset"] == "procedural-math" and "difficulty" in first["metadata"]
    assert "Answer: x = " in first["messages"][1]["content"] and first["quality_score"] >= 0.85

    exported = tmp_path / "export.jsonl"
    proc = cli("export", "--out", str(exported), env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(exported.read_text().splitlines()) == sorted(out.read_text().splitlines())

    # the same records as Parquet and as a Hugging Face dataset with its card, read back
    import datasets
    import pyarrow.parquet as pq

    by_id = {line["id"]: line for line in lines}
    proc = cli("export", "--format", "parquet", "--out", str(tmp_path / "out.parquet"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(by_id)
    for row in rows:
        line = by_id[row["id"]]
        assert row["messages"] == line["messages"] and row["answer"] == line["answer"]
        assert row["quality_score"] == line["quality_score"] and row["dataset"] == "procedural-math"
        assert json.loads(row["dimensions"])["difficulty"] == line["metadata"]["difficulty"]
    proc = cli("export", "--format", "hf", "--out", str(tmp_path / "hf"), "--spec", "specs/procedural.yaml", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = datasets.load_from_disk(str(tmp_path / "hf"))
    assert sorted(data["id"]) == sorted(by_id) and data[0]["messages"] == by_id[data[0]["id"]]["messages"]
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "# procedural-math" in card and f"| **all** | **{len(lines)}** |" in card
    assert re.search(r"\| math\.linear \| \d+ \| \d+ \| \d+ \| 0 \| 0 \|", card), card  # outcomes per task
    assert "## Bias" in card  # the latest report, or that none was out yet (a window may still be open)
    proc = cli("export", "--format", "csv", "--out", str(tmp_path / "x"), env=env)
    assert proc.returncode == 1 and "not one of jsonl, parquet, hf, dpo" in " ".join((proc.stdout + proc.stderr).split())


def summary(stdout: str) -> dict[str, str]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4 and cells[1]:
            rows[cells[1]] = cells[2]
    return rows


def test_second_run_on_the_same_topics_counts_only_its_own_prompts(env, tmp_path):
    first = cli("run", "--spec", "specs/procedural.yaml", "--count", "60", "--out", str(tmp_path / "a.jsonl"), env=env)
    assert first.returncode == 0, first.stderr
    # prompts published while no worker runs are the backlog the next run's workers also decide
    backlog = cli("produce", "--spec", "specs/procedural.yaml", "--count", "25", env=env)
    assert backlog.returncode == 0, backlog.stderr
    second = cli("run", "--spec", "specs/procedural.yaml", "--count", "40", "--out", str(tmp_path / "b.jsonl"), env=env)
    assert second.returncode == 0, second.stderr
    rows = summary(second.stdout)
    assert rows["prompts produced"] == "40" and rows["no outcome (lost)"] == "0"
    assert sum(int(rows[k]) for k in ("accepted", "rejected", "duplicate", "dead letter")) == 40
    assert len((tmp_path / "b.jsonl").read_text().splitlines()) == int(rows["accepted"]) >= 30
    decided = re.search(r"decided (\d+) prompts of earlier runs", second.stdout + second.stderr)
    assert decided and 1 <= int(decided.group(1)) <= 25  # the backlog is not counted as this run's
    said = " ".join((second.stdout + second.stderr).split())
    assert re.search(r"25 prompts of earlier runs are waiting in \S+prompts \(procedural-math-[0-9a-f]+ 25\)", said), said
    assert "run --fresh` skips them" in said
    # with --fresh a backlog is skipped, said, and none of it is decided by this run's workers
    assert cli("produce", "--spec", "specs/procedural.yaml", "--count", "30", env=env).returncode == 0
    third = cli("run", "--spec", "specs/procedural.yaml", "--count", "20", "--fresh", "--out",
                str(tmp_path / "c.jsonl"), env=env)
    assert third.returncode == 0, third.stderr
    said = " ".join((third.stdout + third.stderr).split())
    assert re.search(r"skipped 30 prompts of earlier runs waiting in \S+prompts \(procedural-math-[0-9a-f]+ 30\)", said), said
    assert "prompts of earlier runs that were waiting" not in said and summary(third.stdout)["no outcome (lost)"] == "0"


def test_invalid_spec_fails_before_anything_is_published(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "specs" / "procedural.yaml").read_text().replace("weight: 1.0", "weight: heavy"))
    proc = cli("run", "--spec", str(bad), "--count", "10", env=env)
    assert proc.returncode == 1
    assert str(bad) in proc.stderr and "tasks[0].weight" in proc.stderr
    assert "Traceback" not in proc.stderr
    topics = cli("topics", "create", env=env)
    from synthstream.streams.runtime.topics import TOPICS

    assert f"created {len(TOPICS)} topic(s)" in topics.stderr  # nothing had been created by the failed run

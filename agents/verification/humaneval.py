"""Batch verification of HumanEval-style samples (``synthstream verify-code``).

Input: one JSON object per line with ``task_id``, ``prompt``, ``completion``, ``test`` (defines
``check(candidate)``) and ``entry_point``; the program is prompt + completion. Output: one line per
input line, in input order, with ``task_id``, ``passed``, ``result`` (``passed``,
``failed: <reason>``, ``timed out``, ``error: <reason>``) and ``duration_ms``. A line that is not a
valid sample gets ``error: invalid input: …`` and is never skipped. Programs run in the same jail
as the pipeline's verifier, several at a time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthstream.agents.verification.sandbox import Limits, RunResult, Sandbox, run_humaneval

FIELDS = ("task_id", "prompt", "completion", "test", "entry_point")


@dataclass(frozen=True)
class Outcome:
    task_id: str
    passed: bool
    result: str
    duration_ms: float

    def json(self) -> str:
        return json.dumps({"task_id": self.task_id, "passed": self.passed, "result": self.result,
                           "duration_ms": self.duration_ms}, ensure_ascii=False)


def parse_line(line: str, number: int) -> dict[str, Any] | Outcome:
    """A sample, or the error outcome that says what is wrong with the line."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        return Outcome(f"line-{number}", False, f"error: invalid input: line {number} is not JSON ({exc})", 0.0)
    if not isinstance(row, dict):
        return Outcome(f"line-{number}", False, f"error: invalid input: line {number} is not a JSON object", 0.0)
    task_id = str(row.get("task_id") or f"line-{number}")
    missing = [f for f in FIELDS if not isinstance(row.get(f), str)]
    if missing:
        return Outcome(task_id, False, f"error: invalid input: line {number} lacks string field(s) {missing}", 0.0)
    return row


def result_text(run: RunResult) -> str:
    if run.status == "passed":
        return "passed"
    if run.status == "timeout":
        return "timed out"
    if run.status == "failed":
        return f"failed: {run.detail}"
    return f"error: {run.detail}"


def verify_sample(sandbox: Sandbox, row: dict[str, Any], limits: Limits) -> Outcome:
    run = run_humaneval(sandbox, row["prompt"], row["completion"], row["test"], row["entry_point"], limits)
    return Outcome(row["task_id"], run.status == "passed", result_text(run), run.duration_ms)


def verify_lines(sandbox: Sandbox, lines: Iterator[str], limits: Limits = Limits(),
                 on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Every line's outcome, in input order; the sandbox runs ``sandbox.parallel`` at a time."""
    items = [parse_line(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    results: list[Outcome | None] = [it if isinstance(it, Outcome) else None for it in items]
    for r in results:
        if r is not None and on_done is not None:
            on_done(r)
    with ThreadPoolExecutor(max_workers=2 * sandbox.parallel) as pool:
        futures = {pool.submit(verify_sample, sandbox, it, limits): i for i, it in enumerate(items) if isinstance(it, dict)}
        for fut, i in futures.items():
            results[i] = fut.result()
            if on_done is not None:
                on_done(results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


def write_outcomes(outcomes: list[Outcome], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    tmp.write_text("".join(o.json() + "\n" for o in outcomes))
    tmp.replace(out)

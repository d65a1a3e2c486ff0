"""Python functions with tests (HumanEval format), from the bundled catalogue, written by the
model, or from the user's own rows (code.seeded), verified by running the tests against the
completion in the sandbox."""

from __future__ import annotations

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import BiasView, Criterion, Rubric, SandboxNeeds, TaskFamily
from synthstream.agents.generation.tasks.code import CodeTask, SeededCodeTask
from synthstream.agents.verification import checks

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
    # the tests decide correctness; a judge (when the spec weighs one) grades readability
    rubric=Rubric((
        Criterion("explanation", "Is the code clear and idiomatic, and does it do what the prompt asks in a sensible way?"),
    )),
)

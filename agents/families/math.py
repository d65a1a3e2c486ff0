"""Math with checked answers: six procedural problem kinds with computed ground truth, solved by
the model (k samples, majority answer) or procedurally (math.linear, with seeded slips), and
math.open, problems without a computed answer whose k solutions must agree, and math.seeded,
the user's own problems with reference answers (a seed data set).

Verified exactly: the procedural solver's every step (math.linear), else the final answer
against the ground truth in any notation, the arithmetic of the chosen solution and the
agreement of the samples; math.open by the agreement of its solutions; math.seeded like the
procedural kinds, against the row's answer."""

from __future__ import annotations

from typing import Any

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import Criterion, Rubric, TaskFamily
from synthstream.agents.generation.tasks.answers import NoAnswer, parse_canonical
from synthstream.agents.generation.tasks.math import MATH_TASKS, MathTask
from synthstream.agents.generation.tasks.math_open import OpenMathTask
from synthstream.agents.generation.tasks.math_seeded import SeededMathTask
from synthstream.agents.verification import checks
from synthstream.agents.verification.checks import Checked

TASKS = (*MATH_TASKS, OpenMathTask(), SeededMathTask())
_BY_NAME = {t.name: t for t in TASKS}


def judge_samples(gen: dict[str, Any], _sandbox: Any = None, _limits: Any = None) -> list[tuple[bool, str]] | None:
    """Each sample's answer against the ground truth (the computed one, or a seed row's), or None
    when there is none to compare with (math.open: agreement is not correctness) or one sample."""
    task = _BY_NAME.get(gen["task"])
    answers, reference = gen.get("sample_answers") or [], gen.get("reference_answer")
    if task is None or isinstance(task, OpenMathTask) or not reference or len(answers) < 2:
        return None
    shape = "scalar" if isinstance(task, SeededMathTask) else task.shape
    try:
        truth = parse_canonical(reference, shape)
    except NoAnswer:
        return None
    out = []
    for answer in answers:
        if not answer:
            out.append((False, "answer_unreadable: no final answer"))
            continue
        try:
            right = parse_canonical(answer, shape) == truth
        except NoAnswer:
            right = False
        out.append((True, f"answer_correct: {answer}") if right else (False, f"answer_wrong: {answer} is not {reference}"))
    return out


def verify(gen: dict[str, Any], _sandbox: Any = None, _limits: Any = None) -> Checked:
    task = _BY_NAME[gen["task"]]
    if isinstance(task, OpenMathTask):
        return checks.verify_self_consistency(gen)
    if isinstance(task, SeededMathTask):
        return checks.verify_math_answer(gen, "scalar")
    assert isinstance(task, MathTask)
    if task.family.name == "linear" and not gen.get("samples"):
        return checks.verify_linear_steps(gen)  # the procedural solver's steps are checkable, one by one
    return checks.verify_math_answer(gen, task.shape, task.unknowns)


FAMILY = TaskFamily(
    name="math",
    summary="math problems with exact, computed or agreed answers",
    tasks=TASKS,
    verify=verify,
    verifier=checks.MATH_VERIFIER,
    gate_weights={"task": 1.0},
    # another equation or answer is another problem, however alike the wording; the semantic tier
    # is off by default: embeddings cannot tell math problems apart (bench_semdedup.py: precision
    # 0.33-0.55 on math pairs) and embedding every record would cap the procedural pipeline at the
    # model's rate; a spec turns it on per task (tasks[].dedup.semantic: true)
    # compared on the statement, not the instruction the producer drew for it: "What is 100% of 50?"
    # asked with two of the spec's instructions was accepted twice, the same problem and solution
    dedup=DedupFields(("statement",), ("task", "equation", "answer")),
    decontaminate=("problem",),  # the problem must not be a benchmark's (GSM8K, MATH: add them in the spec)
    # the answer is checked exactly; a judge (when the spec weighs one) grades the explanation
    rubric=Rubric((
        Criterion("explanation", "Does the working explain each step clearly, without filler or skipped steps?"),
    )),
    judge_samples=judge_samples,
)

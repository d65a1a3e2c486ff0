"""The verifiers the task families use: exact math (answer, steps, agreement of samples), code
against its tests in the sandbox, and the structural checks of dialogue and grounded QA.

Pure: no Kafka, no clock, no registry. Each returns a typed outcome with a score in [0, 1] and
reasons; a rejection is data, not an exception. Which verifier a task gets is its family's
declaration (agents/families/); agents/verification/core.py dispatches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from synthstream.agents.generation.tasks.answers import NoAnswer, canonical, parse_canonical
from synthstream.agents.generation.tasks.symbolic import equivalent
from synthstream.agents.verification import steps
from synthstream.agents.verification.algebra import Unparseable, parse_number, solution
from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval
from synthstream.streams.runtime.records import Reason

VERIFIER = "math.linear-exact@1"
MATH_VERIFIER = "math.answer-exact+agreement@2"
CONSISTENCY_VERIFIER = "math.self-consistency@1"
MIN_AGREEMENT = 2 / 3  # with no ground truth, at least this share of the solutions must agree
CODE_VERIFIER = "code.relay-judge-in-bwrap@2"
W_ANSWER, W_STEPS, W_FORM = 0.5, 0.4, 0.1
W_CORRECT, W_AGREE, W_SHOWN = 0.6, 0.3, 0.1


@dataclass(frozen=True)
class Checked:
    accepted: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    verifier: str = VERIFIER
    veto: bool = True  # a critical failure (wrong answer, failing tests, ...): no weighting may accept it


def _is_reduced(text: str) -> bool:
    """'7', '-5/3' yes; '10/6', '2.5', '4/1' no."""
    body = text.split("=", 1)[-1].strip()
    num, _, den = body.partition("/")
    if not num.lstrip("-").isdigit() or (den and not den.isdigit()):
        return False
    return not den or (int(den) > 1 and Fraction(int(num), int(den)).denominator == int(den))


def _check_steps(steps: list[str], truth: Fraction) -> tuple[int, list[str]]:
    valid, reasons = 0, []
    for i, step in enumerate(steps, 1):
        try:
            if solution(step) == truth:
                valid += 1
            else:
                reasons.append(Reason("step_invalid", f"step {i} {step!r} is not equivalent to the equation"))
        except Unparseable as exc:
            reasons.append(Reason("step_unparseable", f"step {i}: {exc}"))
    return valid, reasons


def text_verifier(checks: Any, name: str) -> Any:
    """A verifier from a (critical, soft, score) check of a generation's text."""
    def check(gen: dict[str, Any], _sandbox: Any = None, _limits: Any = None) -> Checked:
        critical, soft, score = checks(gen)
        return _finish(critical, soft, score, gen["threshold"], name)
    return check


SANDBOX_REASONS = {"failed": "tests_failed", "timeout": "timeout", "error": "runtime_error",
                   "refused": "sandbox_unavailable", "sandbox": "sandbox_failure"}


def verify_code(gen: dict[str, Any], sandbox: Sandbox | None, limits: Limits | None = None) -> Checked:
    """Run the tests against prompt + completion in the sandbox; passing every test is the score."""
    code = gen.get("code")
    if not code or not code["completion"] or not code["test"]:
        return Checked(False, 0.0, [Reason("code_missing", "the generation has no completion or no tests")], CODE_VERIFIER)
    if sandbox is None:
        return Checked(False, 0.0, [Reason("sandbox_unavailable", "this verifier was given no sandbox")], CODE_VERIFIER)
    result = run_humaneval(sandbox, code["prompt"], code["completion"], code["test"], code["entry_point"],
                           limits or sandbox.limits)
    if result.status == "passed":
        return _finish([], [], 1.0, gen["threshold"], CODE_VERIFIER)
    reason = SANDBOX_REASONS.get(result.status, "runtime_error")
    detail = result.detail.split(": ", 1)[1] if result.detail.startswith(reason + ": ") else result.detail
    return Checked(False, 0.0, [Reason(reason, detail)], CODE_VERIFIER)


def _finish(critical: list[str], soft: list[str], score: float, threshold: float, verifier: str) -> Checked:
    score = round(min(1.0, max(0.0, score)), 6)
    accepted = not critical and score >= threshold
    reasons = critical + soft
    if not critical and score < threshold:
        reasons.append(Reason("below_threshold", f"score {score:.3f} < {threshold:.3f}"))
    return Checked(accepted, score, reasons, verifier, veto=bool(critical))


def verify_math_answer(gen: dict[str, Any], shape: Any, unknowns: tuple[str, ...] = ()) -> Checked:
    """Final answer equals the ground truth (exact values, any notation) of ``shape``; samples
    agree. ``unknowns`` name the problem's variables (x, y) whose true values the steps may use."""
    if gen.get("reference_answer") is None:
        return Checked(False, 0.0, [Reason("no_ground_truth", "the generator gave no reference answer")], MATH_VERIFIER)
    try:
        truth = parse_canonical(gen["reference_answer"], shape)
    except NoAnswer as exc:
        return Checked(False, 0.0, [Reason("reference_unparseable", f"{exc}")], MATH_VERIFIER)
    critical: list[str] = []
    soft: list[str] = []
    try:
        correct = parse_canonical(gen["answer"], shape) == truth
    except NoAnswer as exc:  # not a form our reader knows: ask math-verify and sympy, exact values only
        correct = equivalent(gen["answer"], gen["reference_answer"]) is True
        if not correct:
            critical.append(Reason("answer_unparseable", f"{exc}"))
    if not correct and not critical:
        critical.append(Reason("answer_wrong", f"{gen['answer']!r} is not the solution ({gen['reference_answer']})"))
    critical += _arithmetic(gen, known_values(unknowns, shape, truth))
    samples = gen.get("sample_answers") or []
    if samples:
        majority = canonical(truth, shape) if correct else None  # samples hold canonical answers
        agreeing = sum(1 for a in samples if a and a == majority)
        agreement = agreeing / len(samples)
        if len(samples) > 1 and agreement < 1:
            soft.append(Reason("samples_disagree", f"{agreeing} of {len(samples)} samples reach the answer"))
    else:
        agreement = 1.0 if correct else 0.0
    shown = bool(gen.get("steps"))
    if not shown:
        soft.append(Reason("steps_missing", "the solution shows no working"))
    score = W_CORRECT * correct + W_AGREE * agreement + W_SHOWN * shown
    return _finish(critical, soft, score, gen["threshold"], MATH_VERIFIER)


def known_values(unknowns: tuple[str, ...], shape: Any, truth: Any) -> list[dict[str, Fraction]]:
    """The ground truth bound to the problem's unknowns, one assignment per solution: x for a
    scalar, each root for x, (x, y) for a pair. Word problems name none (a solution's own helper
    'x' means something else there)."""
    if not unknowns:
        return []
    if isinstance(truth, Fraction):
        return [{unknowns[0]: truth}]
    if shape == "pair":
        return [dict(zip(unknowns, truth))]
    return [{unknowns[0]: r} for r in truth]  # each root


def _arithmetic(gen: dict[str, Any], unknowns: list[dict[str, Fraction]]) -> list[str]:
    """Every equality the chosen solution states must hold (steps.py); one reason per false one."""
    _, wrong = steps.wrong_steps(gen.get("response") or "", unknowns)
    return [Reason("step_arithmetic_wrong", f"{w!r} does not hold") for w in wrong[:5]]


def verify_self_consistency(gen: dict[str, Any]) -> Checked:
    """No computed answer exists: the k solutions' agreement on the majority answer decides."""
    samples = gen.get("sample_answers") or []
    majority = gen.get("answer") or ""
    if len(samples) < 2:
        return Checked(False, 0.0, [Reason("samples_too_few", f"{len(samples)} solution(s); agreement needs 2 or more")],
                       CONSISTENCY_VERIFIER)
    agreeing = sum(1 for a in samples if a and a == majority)
    agreement = agreeing / len(samples)
    critical = [] if agreement >= MIN_AGREEMENT else [
        Reason("samples_disagree", f"{agreeing} of {len(samples)} solutions reach {majority!r}; {MIN_AGREEMENT:.0%} must agree")]
    critical += _arithmetic(gen, [])
    soft = [] if agreement == 1 else [Reason("samples_split", f"{agreeing} of {len(samples)} solutions agree")]
    shown = bool(gen.get("steps"))
    if not shown:
        soft.append(Reason("steps_missing", "the solution shows no working"))
    score = W_CORRECT * (agreement >= MIN_AGREEMENT) + W_AGREE * agreement + W_SHOWN * shown
    return _finish(critical, soft, score, gen["threshold"], CONSISTENCY_VERIFIER)


def verify_linear_steps(gen: dict[str, Any]) -> Checked:
    """Check a procedural math.linear Generation; critical failures reject whatever the score."""
    threshold = gen["threshold"]
    try:
        truth = solution(gen["equation"] or "")
    except Unparseable as exc:
        return Checked(False, 0.0, [Reason("problem_unparseable", f"{exc}")])
    if truth is None:
        return Checked(False, 0.0, [Reason("problem_degenerate", "the equation has no unique solution")])
    critical: list[str] = []
    soft: list[str] = []
    try:
        answer = parse_number(gen["answer"])
        answer_ok = answer == truth
        if not answer_ok:
            critical.append(Reason("answer_wrong", f"x = {gen['answer']} does not satisfy {gen['equation']}"))
    except Unparseable as exc:
        answer, answer_ok = None, False
        critical.append(Reason("answer_unparseable", f"{exc}"))
    steps = gen["steps"]
    valid, step_reasons = _check_steps(steps, truth)
    critical.extend(step_reasons)
    if not steps:
        critical.append(Reason("steps_missing", "no reasoning steps"))
    form_ok = answer_ok and _is_reduced(gen["answer"])
    if answer_ok and not form_ok:
        soft.append(Reason("answer_not_reduced", f"{gen['answer']!r} is not written as a reduced fraction"))
    ref = gen.get("reference_answer")
    if ref is not None and answer is not None:
        try:
            if parse_number(ref) != truth:
                critical.append(Reason("reference_mismatch", f"generator's reference {ref} does not solve the equation"))
        except Unparseable as exc:
            critical.append(Reason("reference_unparseable", f"{exc}"))
    score = W_ANSWER * answer_ok + W_STEPS * (valid / len(steps) if steps else 0.0) + W_FORM * form_ok
    return _finish(critical, soft, score, threshold, VERIFIER)

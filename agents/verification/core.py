"""Verification of math.linear generations: the answer and every step, exactly.

Pure: no Kafka, no clock. Returns a typed Verdict outcome with a score in [0, 1] and
reason codes; a rejection is data, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from agents.verification.algebra import Unparseable, parse_number, solution

VERIFIER = "math.linear-exact@1"
W_ANSWER, W_STEPS, W_FORM = 0.5, 0.4, 0.1


@dataclass(frozen=True)
class Checked:
    accepted: bool
    score: float
    reasons: list[str] = field(default_factory=list)


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
                reasons.append(f"step_invalid: step {i} {step!r} is not equivalent to the equation")
        except Unparseable as exc:
            reasons.append(f"step_unparseable: step {i}: {exc}")
    return valid, reasons


def verify(gen: dict[str, Any]) -> Checked:
    """Check a math.linear Generation; critical failures reject whatever the score."""
    threshold = gen["threshold"]
    try:
        truth = solution(gen["equation"] or "")
    except Unparseable as exc:
        return Checked(False, 0.0, [f"problem_unparseable: {exc}"])
    if truth is None:
        return Checked(False, 0.0, ["problem_degenerate: the equation has no unique solution"])
    critical: list[str] = []
    soft: list[str] = []
    try:
        answer = parse_number(gen["answer"])
        answer_ok = answer == truth
        if not answer_ok:
            critical.append(f"answer_wrong: x = {gen['answer']} does not satisfy {gen['equation']}")
    except Unparseable as exc:
        answer, answer_ok = None, False
        critical.append(f"answer_unparseable: {exc}")
    steps = gen["steps"]
    valid, step_reasons = _check_steps(steps, truth)
    critical.extend(step_reasons)
    if not steps:
        critical.append("steps_missing: no reasoning steps")
    form_ok = answer_ok and _is_reduced(gen["answer"])
    if answer_ok and not form_ok:
        soft.append(f"answer_not_reduced: {gen['answer']!r} is not written as a reduced fraction")
    ref = gen.get("reference_answer")
    if ref is not None and answer is not None:
        try:
            if parse_number(ref) != truth:
                critical.append(f"reference_mismatch: generator's reference {ref} does not solve the equation")
        except Unparseable as exc:
            critical.append(f"reference_unparseable: {exc}")
    score = W_ANSWER * answer_ok + W_STEPS * (valid / len(steps) if steps else 0.0) + W_FORM * form_ok
    score = round(min(1.0, max(0.0, score)), 6)
    accepted = not critical and score >= threshold
    reasons = critical + soft
    if not critical and score < threshold:
        reasons.append(f"below_threshold: score {score:.3f} < {threshold:.3f}")
    return Checked(accepted, score, reasons)

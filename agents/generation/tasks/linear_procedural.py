"""Procedural math generation: linear equations a*x + b = c with exact rational answers.

Pure: no Kafka, no clock, and the only randomness is ``random.Random(prompt.seed)``, so
replaying a prompt regenerates the same problem byte for byte.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from synthstream.agents.generation.rational import coef_term, fmt, linear
from synthstream.streams.runtime.errors import PoisonRecord

DIFFICULTIES = ("integer", "negative", "fractional")
FRAMINGS = {
    "algebra": "Solve for x: {eq}",
    "finance": "A savings plan is described by {eq}, where x is the number of monthly deposits. Find x.",
    "physics": "A uniform motion satisfies {eq}, where x is the time in seconds. Find x.",
}
DEFAULT_FRAMING = "In a {domain} setting the unknown x satisfies {eq}. Find x."
# what x must be for a framing's story to make sense: a number of deposits is a whole number of
# at least one, a time is not negative. An equation whose solution does not fit gets the neutral
# DEFAULT_FRAMING of its domain instead (a trainer must not learn that -61/12 deposits is an answer)
FITS = {
    "finance": lambda x: x.denominator == 1 and x >= 1,
    "physics": lambda x: x >= 0,
}
SLIPS = ("sign_slip", "arithmetic_slip", "bad_step")


@dataclass(frozen=True)
class Equation:
    a: Fraction
    b: Fraction
    c: Fraction

    @property
    def solution(self) -> Fraction:
        return (self.c - self.b) / self.a

    def text(self) -> str:
        return f"{linear(self.a, self.b)} = {fmt(self.c)}"


def _nonzero(rng: random.Random, lo: int, hi: int, exclude: tuple[int, ...] = (0,)) -> int:
    while True:
        v = rng.randint(lo, hi)
        if v not in exclude:
            return v


def sample_equation(rng: random.Random, difficulty: str) -> Equation:
    """Draw an equation of the given difficulty level."""
    if difficulty == "integer":
        a, x, b = rng.randint(2, 12), rng.randint(1, 20), rng.randint(1, 40)
        return Equation(Fraction(a), Fraction(b), Fraction(a * x + b))
    if difficulty == "negative":
        a = _nonzero(rng, -15, 15, (0, 1))
        return Equation(Fraction(a), Fraction(_nonzero(rng, -40, 40)), Fraction(rng.randint(-60, 60)))
    if difficulty == "fractional":
        a = Fraction(_nonzero(rng, -9, 9), rng.randint(2, 9))
        while a.denominator == 1:  # 4/2 would be an integer coefficient, not a fractional one
            a = Fraction(_nonzero(rng, -9, 9), rng.randint(2, 9))
        b = Fraction(_nonzero(rng, -20, 20), rng.randint(1, 6))
        c = Fraction(rng.randint(-20, 20), rng.randint(1, 6))
        return Equation(a, b, c)
    raise PoisonRecord("invalid_record", f"unknown difficulty {difficulty!r}; expected one of {DIFFICULTIES}")


def solve_steps(eq: Equation) -> list[tuple[str, str]]:
    """(explanation, equation) pairs from the original equation to x = answer."""
    moved = eq.c - eq.b
    steps = [("Start from the equation", eq.text())]
    if eq.b != 0:
        verb = "Subtract" if eq.b > 0 else "Add"
        steps.append((f"{verb} {fmt(abs(eq.b))} {'from' if eq.b > 0 else 'to'} both sides",
                      f"{coef_term(eq.a)} = {fmt(moved)}"))
    if eq.a != 1:
        steps.append((f"Divide both sides by {fmt(eq.a)}", f"x = {fmt(eq.solution)}"))
    return steps


def _inject_slip(rng: random.Random, eq: Equation, steps: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], Fraction]:
    """Simulate a model's mistake (seeded), so the verifier has something real to reject."""
    slip = rng.choice(SLIPS)
    answer = eq.solution
    if slip == "sign_slip" and eq.b != 0:
        wrong_rhs = eq.c + eq.b
        answer = wrong_rhs / eq.a
        steps = [steps[0], (steps[1][0], f"{coef_term(eq.a)} = {fmt(wrong_rhs)}"), ("Divide both sides", f"x = {fmt(answer)}")]
    elif slip == "bad_step" and len(steps) > 2:
        wrong = steps[1][1].rsplit("= ", 1)[0] + f"= {fmt(eq.c - eq.b + 1)}"
        steps = [steps[0], (steps[1][0], wrong)] + steps[2:]
    else:
        answer = eq.solution + 1
        steps = steps[:-1] + [(steps[-1][0], f"x = {fmt(answer)}")]
    return steps, answer


def framing_for(domain: str, eq: Equation) -> str:
    """The domain's story when the equation's solution fits it, else the neutral framing."""
    fits = FITS.get(domain)
    if domain in FRAMINGS and (fits is None or fits(eq.solution)):
        return FRAMINGS[domain]
    return DEFAULT_FRAMING


def generate(prompt: dict[str, Any]) -> dict[str, Any]:
    """Build the Generation fields for a math.linear Prompt (lineage is added by the agent)."""
    if prompt["task"] != "math.linear":
        raise PoisonRecord("unknown_task", f"no generator for task {prompt['task']!r}")
    dims = prompt["dimensions"]
    difficulty = dims.get("difficulty", "integer")
    domain = dims.get("domain", "algebra")
    try:
        error_rate = float(prompt.get("params", {}).get("error_rate", "0"))
    except ValueError as exc:
        raise PoisonRecord("invalid_record", f"params.error_rate is not a number: {exc}") from exc
    rng = random.Random(prompt["seed"])
    eq = sample_equation(rng, difficulty)
    steps = solve_steps(eq)
    answer = eq.solution
    if rng.random() < error_rate:
        steps, answer = _inject_slip(rng, eq, steps)
    framing = framing_for(domain, eq).format(eq=eq.text(), domain=domain)
    problem = f"{prompt['instruction'].strip()}\n\n{framing}"
    lines = [f"Step {i}: {why}: {stmt}" for i, (why, stmt) in enumerate(steps, 1)]
    response = "\n".join(lines + [f"Answer: x = {fmt(answer)}"])
    return {
        "prompt_id": prompt["prompt_id"],
        "task": prompt["task"],
        "problem": problem,
        "equation": eq.text(),
        "steps": [stmt for _, stmt in steps],
        "answer": fmt(answer),
        "response": response,
        "reference_answer": fmt(eq.solution),
        "dimensions": dict(dims),
        "threshold": prompt["threshold"],
    }

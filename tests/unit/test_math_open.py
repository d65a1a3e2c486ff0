"""math.open: the model writes the problem, k solutions are voted, agreement decides (no ground truth);
and answers only math-verify and sympy can read exactly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from synthstream.agents.families import TASKS
from synthstream.agents.generation.tasks import PromptModel
from synthstream.agents.generation.tasks.answers import NoAnswer, extract
from synthstream.agents.generation.tasks.math_open import read_problem
from synthstream.agents.generation.tasks.symbolic import equivalent, read_exact
from synthstream.agents.verification.core import verify
from tests.unit.test_math_tasks import MODEL, ScriptedModel

PROBLEM = "A baker sells 12 rolls a day for 5 days. How many rolls does she sell in all?"


def run(texts: list[str], api: str = "completion", samples: int = 3) -> tuple[Any, ScriptedModel, dict]:
    model = ScriptedModel(texts)
    p = {"prompt_id": "p", "task": "math.open", "seed": 9, "instruction": "Solve it.", "threshold": 0.85,
         "dimensions": {"domain": "cooking", "difficulty": "easy"}, "params": {"samples": str(samples)},
         "model": dict(MODEL, api=api)}
    out = asyncio.run(TASKS["math.open"].generate(p, PromptModel(model.complete, p)))
    return out, model, dict(out.fields(), task="math.open", threshold=0.85, dimensions=p["dimensions"])


@pytest.mark.parametrize("text, problem", [
    (" " + PROBLEM + "\nSolution: 60", PROBLEM),
    ("**Problem:** A tank holds 40 litres and leaks 2 litres an hour. How long until it is empty?\n\nAnswer: 20",
     "A tank holds 40 litres and leaks 2 litres an hour. How long until it is empty?"),
    ("Sure! Here is a problem about cooking.", None),
    ("What is the best way to cook rice?", None),  # a question, but nothing to compute
])
def test_the_written_problem_is_read_or_refused(text: str, problem: str | None) -> None:
    assert read_problem(text) == problem


def test_agreeing_solutions_are_accepted_without_ground_truth() -> None:
    solutions = [" 12 rolls a day for 5 days is 12 * 5 = 60.\nAnswer: 60", " 5 * 12 = 60\nAnswer: 60",
                 " She sells 60 rolls.\nAnswer: 60"]
    out, model, gen = run([PROBLEM] + solutions)
    assert model.requests[0].prompt.endswith("Topic: cooking\nProblem:") and "\n" in model.requests[0].sampling.stop
    assert model.requests[1].prompt.endswith(f"Problem: {PROBLEM}\nSolution:")
    assert out.reference_answer is None and out.answer == "60" and out.sample_answers == ["60"] * 3
    checked = verify(gen)
    assert checked.accepted and checked.score == 1.0 and checked.verifier == "math.self-consistency@1"


def test_two_of_three_pass_one_of_three_does_not() -> None:
    two = run([PROBLEM, " 12 * 5 = 60\nAnswer: 60", "Answer: 65", "Answer: 60"])[2]
    checked = verify(two)
    assert checked.accepted and checked.score == pytest.approx(0.9) and checked.reasons == [
        "samples_split: 2 of 3 solutions agree"]
    one = run([PROBLEM, "Answer: 60", "Answer: 65", "Answer: 17"])[2]
    checked = verify(one)
    assert not checked.accepted and checked.reasons[0].startswith("samples_disagree: 1 of 3 solutions reach '60'")


def test_no_question_or_no_readable_answer_is_a_parse_error_with_the_raw_text() -> None:
    out, _, gen = run(["Sure! Here is one."])
    assert out.parse_error.startswith("the model wrote no question with numbers") and out.samples == ["Sure! Here is one."]
    assert verify(gen).reasons[0].startswith("unparseable:")
    out, _, _ = run([PROBLEM, "I am not sure.", "It depends.", "Maybe."])
    assert out.parse_error == "no solution has a readable final answer (3 samples)"


def test_a_chat_model_is_asked_to_write_then_to_solve() -> None:
    out, model, _ = run([PROBLEM, "Answer: 60", "Answer: 60", "Answer: 60"], api="chat")
    assert "about cooking" in model.requests[0].messages[0]["content"]
    assert model.requests[1].messages[1]["content"] == PROBLEM and out.answer == "60"


@pytest.mark.parametrize("text, value", [
    ("Answer: 2^{-1}", "1/2"), ("Answer: \\dfrac{-3}{-6}", "1/2"), ("Answer: 3\\cdot 4", "12"),
    ("Answer: \\frac{\\sqrt{16}}{2}", "2"), ("Answer: $x = \\frac{1}{2} + \\frac{1}{3}$", "5/6"),
    ("Answer: \\frac{5}{3} \\approx 1.67", "5/3"), ("Answer: 5/3 ≈ 1.6667", "5/3"), ("Answer: about 15 apples", "15"),
])
def test_expressions_are_evaluated_exactly(text: str, value: str) -> None:
    from fractions import Fraction

    assert extract(text, "scalar").value == Fraction(value)


@pytest.mark.parametrize("text", ["Answer: \\sqrt{2}", "Answer: \\pi", "Answer: 2^{0.5}"])
def test_an_irrational_or_inexact_expression_is_no_answer(text: str) -> None:
    with pytest.raises(NoAnswer, match="without an exact rational value"):
        extract(text, "scalar")


def test_math_verify_equivalence_is_exact_only() -> None:
    assert equivalent("\\frac{10}{6}", "5/3") is True
    assert equivalent("1.6666667", "5/3") is None  # math-verify's own verify would say True (6-digit rounding)
    assert equivalent("\\frac{1}{2}", "1/3") is False
    assert read_exact("x \\in \\{2, -3\\}") in (frozenset({2, -3}), None)
    assert read_exact("a" * 1000) is None

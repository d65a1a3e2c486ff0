"""Step checking: equalities a solution states must hold; wording, labels and functions are left alone."""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path

import pytest

from synthstream.agents.families import TASKS
from synthstream.agents.verification.core import verify
from synthstream.agents.verification.steps import wrong_steps

X4 = [{"x": Fraction(4)}]


@pytest.mark.parametrize("text, truth, checked, wrong", [
    ("7 boxes hold 7 * 6 = 42.", [], 1, []),
    ("7 boxes hold 7 * 6 = 41.", [], 1, ["7 * 6 = 41"]),
    ("Step 1: 2x + 3 = 11\nStep 2: 2x = 8\nStep 3: x = 4", X4, 3, []),
    ("Step 2: 2x = 9", X4, 1, ["2x = 9"]),
    ("12 + 3 = 15 = 5 * 3", [], 2, []),
    ("5/3 = 1.67", [], 1, []),  # rounded to the places it shows
    ("5/3 = 1.6", [], 1, ["5/3 = 1.6"]),
    ("(x - 2)(x + 3) = 0, so x = 2 or x = -3", [{"x": Fraction(2)}, {"x": Fraction(-3)}], 3, []),
    ("1,000 + 250 = 1,250", [], 1, []),
    ("2^3 = 8", [], 1, []),
    ("10% of 20 = 2", [], 0, []), ("1/4 = 25%", [], 0, []), ("3 times 4 = 12", [], 0, []),
    ("sqrt(16) = 4", [], 0, []), ("Term 50 = 29 + 49 * 4 = 225", [], 1, []),
    ("5/3 ≈ 1.7", [], 0, []), ("the box = 5 apples", X4, 0, []), ("Let x = 12 apples", [], 0, []),
])
def test_equalities_in_a_solution(text: str, truth: list, checked: int, wrong: list[str]) -> None:
    assert wrong_steps(text, truth) == (checked, wrong)


@pytest.mark.parametrize("task", sorted(t for t in TASKS if t.startswith("math.") and t not in ("math.open", "math.seeded")))
def test_no_correct_procedural_solution_is_flagged(task: str) -> None:
    """The procedural solver's worked solutions, 200 seeds per difficulty: every step holds."""
    t = TASKS[task]
    for difficulty in t.dimensions["difficulty"]:
        for seed in range(200):
            p = {"prompt_id": f"{seed}", "task": task, "seed": seed, "instruction": "Solve.", "threshold": 0.85,
                 "dimensions": {"difficulty": difficulty}, "params": {}, "model": None}
            out = asyncio.run(t.generate(p, None))
            assert wrong_steps(out.response, [])[1] == [] or task in ("math.linear", "math.quadratic",
                                                                        "math.linear_system"), out.response
            gen = dict(out.fields(), task=task, threshold=0.85, dimensions=p["dimensions"])
            checked = verify(gen)
            assert not any(r.startswith("step_arithmetic_wrong") for r in checked.reasons), (out.response, checked)


def test_the_small_models_wrong_arithmetic_is_caught_in_recorded_outputs() -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "model_outputs" / "math.jsonl"
    rows = [json.loads(line) for line in fixtures.read_text().splitlines()]
    flagged = [r["text"] for r in rows if wrong_steps(r["text"], [])[1]]
    assert len(flagged) >= 30  # gemma3-270m: '4/7 + 1/5 = 3/7', '30/100 * 160 = 9', ...
    assert " Add the fractions: 4/7 + 1/5 = 3/7.\nAnswer: 3/7\n" in flagged
    sound = " 50% of 20 = 50/100 * 20 = 10.\nAnswer: 10\n"  # '50% of 20' is not read; '50/100 * 20 = 10' holds
    assert sound in [r["text"] for r in rows] and sound not in flagged and wrong_steps(sound, []) == (1, [])


def test_a_right_answer_with_a_false_step_is_rejected() -> None:
    from tests.unit.test_math_tasks import solve, truth_of

    truth = truth_of("math.fraction_word")
    out, _ = solve("math.fraction_word", [f" 1/2 + 1/3 = 2/5.\nAnswer: {truth}"] * 3, samples=3)
    gen = dict(out.fields(), task="math.fraction_word", threshold=0.85, dimensions={"difficulty": "basic"})
    checked = verify(gen)
    assert not checked.accepted and "step_arithmetic_wrong: '1/2 + 1/3 = 2/5' does not hold" in checked.reasons

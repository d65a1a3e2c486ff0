"""Math task generators: ground truth checked with sympy, procedural and model solvers, voting."""

from __future__ import annotations

import asyncio
import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import sympy
from sympy.parsing.sympy_parser import convert_xor, implicit_multiplication_application, parse_expr, \
    standard_transformations

from synthstream.agents.generation.backends.client import ModelReply, ModelRequest, Usage
from synthstream.agents.families import TASKS
from synthstream.agents.generation.tasks import PromptModel
from synthstream.agents.generation.tasks.answers import NoAnswer, extract
from synthstream.agents.generation.tasks.math import FAMILIES, MathTask
from synthstream.agents.verification.core import verify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_outputs"
MATH = [t for t in TASKS.values() if isinstance(t, MathTask)]
X, Y = sympy.symbols("x y")
TRANSFORMS = standard_transformations + (implicit_multiplication_application, convert_xor)


def sym(text: str) -> Any:
    lhs, rhs = text.split("=")
    return sympy.Eq(parse_expr(lhs, transformations=TRANSFORMS, local_dict={"x": X, "y": Y}),
                    parse_expr(rhs, transformations=TRANSFORMS, local_dict={"x": X, "y": Y}))


def prompt(task: str, difficulty: str, seed: int, model: dict[str, Any] | None = None, **params: str) -> dict[str, Any]:
    return {"prompt_id": f"p{seed}", "task": task, "seed": seed, "instruction": "Solve it.",
            "dimensions": {"difficulty": difficulty}, "params": params, "threshold": 0.85, "model": model}


MODEL = {"name": "m", "api": "completion", "temperature": 0.2, "top_p": 1.0, "max_tokens": 100, "n": 1, "stop": [],
         "seeded": True}


@pytest.mark.parametrize("task", MATH, ids=lambda t: t.name)
def test_ground_truth_is_right_for_every_difficulty(task: MathTask) -> None:
    for difficulty in task.family.difficulties:
        for seed in range(200):
            p = task.problem(prompt(task.name, difficulty, seed), random.Random(seed))
            truth = p.truth
            if task.family.name == "linear":
                assert sympy.solve(sym(p.equation), X) == [sympy.Rational(truth.numerator, truth.denominator)]
            elif task.family.name == "linear_system":
                e1, e2 = p.equation.split(";")
                got = sympy.solve([sym(e1), sym(e2)], [X, Y])
                assert (got[X], got[Y]) == truth
            elif task.family.name == "quadratic":
                roots = set(sympy.solve(sym(p.equation), X))
                assert roots == {sympy.Rational(r.numerator, r.denominator) for r in truth}
            else:  # word problems: the worked solution's last value is the truth
                assert extract(p.steps[-1], "scalar").value == truth, p
            assert p.statement and p.steps


@pytest.mark.parametrize("task", MATH, ids=lambda t: t.name)
def test_procedural_solver_is_accepted_and_its_slips_rejected(task: MathTask) -> None:
    difficulty = task.family.difficulties[-1]
    right = asyncio.run(task.generate(prompt(task.name, difficulty, 7), None))
    g = dict(right.fields(), task=task.name, threshold=0.85)
    assert verify(g).accepted, verify(g)
    slipped = asyncio.run(task.generate(prompt(task.name, difficulty, 7, error_rate="1"), None))
    g = dict(slipped.fields(), task=task.name, threshold=0.85)
    checked = verify(g)
    assert not checked.accepted and checked.reasons[0].startswith("answer_wrong"), checked


class ScriptedModel:
    """Stands in for the HTTP client in unit tests: replies from a script, records requests."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        return ModelReply([self.texts.pop(0)], ["stop"], "scripted", Usage(prompt_tokens=10, completion_tokens=5,
                                                                            requests=1, attempts=1))


def solve(task: str, texts: list[str], samples: int = 3, seed: int = 3, difficulty: str = "basic") -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(texts)
    p = prompt(task, difficulty, seed, MODEL, samples=str(samples))
    out = asyncio.run(TASKS[task].generate(p, PromptModel(model.complete, p)))
    return out, model


def truth_of(task: str, seed: int = 3, difficulty: str = "basic") -> Fraction:
    t = TASKS[task]
    return t.problem(prompt(task, difficulty, seed), random.Random(seed)).truth  # type: ignore[attr-defined]


def test_majority_of_samples_wins_and_the_verifier_scores_agreement() -> None:
    x = truth_of("math.linear")
    out, model = solve("math.linear", [f"x = {x}.\nAnswer: {x}", f"Answer: {x + 1}", f"so x = {x}\nAnswer: x = {x}"])
    assert out.answer == str(x) and out.sample_answers == [str(x), str(x + 1), str(x)]
    assert out.response.startswith("x = ") and len(out.samples) == 3
    checked = verify(dict(out.fields(), task="math.linear", threshold=0.85))
    assert checked.accepted and checked.score == pytest.approx(0.9)
    assert "samples_disagree: 2 of 3" in checked.reasons[0]
    # three requests, each with its own seed, all derived from the prompt's seed
    seeds = [r.sampling.seed for r in model.requests]
    assert len(set(seeds)) == 3 and seeds == [r.sampling.seed for r in solve("math.linear", ["1"] * 3)[1].requests]


def test_a_wrong_majority_is_rejected_even_when_unanimous() -> None:
    x = truth_of("math.linear")
    out, _ = solve("math.linear", [f"Answer: {x + 2}"] * 3)
    checked = verify(dict(out.fields(), task="math.linear", threshold=0.85))
    assert not checked.accepted and checked.reasons[0].startswith("answer_wrong")


def test_ties_go_to_the_earliest_sample() -> None:
    out, _ = solve("math.linear", ["Answer: 5", "Answer: 6"], samples=2)
    assert out.answer == "5"


def test_unreadable_samples_become_a_parse_error_the_verifier_rejects() -> None:
    out, _ = solve("math.linear", ["", "I'm sorry, I can't help with that.", "no idea"])
    assert out.parse_error and "no sample has a readable final answer (3 samples)" in out.parse_error
    checked = verify(dict(out.fields(), task="math.linear", threshold=0.85))
    assert not checked.accepted and checked.reasons[0].startswith("unparseable:")


def test_completion_prompt_has_worked_examples_and_chat_prompt_has_instructions() -> None:
    _, model = solve("math.quadratic", ["Answer: x = 1 or x = -1"] * 3)
    req = model.requests[0]
    assert req.api == "completion" and req.prompt.count("Problem:") == 5 and req.prompt.endswith("Solution:")
    assert "\nProblem:" in req.sampling.stop
    chat = dict(MODEL, api="chat")
    scripted = ScriptedModel(["Answer: x = 1 or x = -1"] * 3)
    p = prompt("math.quadratic", "basic", 3, chat, samples="3")
    asyncio.run(TASKS["math.quadratic"].generate(p, PromptModel(scripted.complete, p)))
    msgs = scripted.requests[0].messages
    assert [m["role"] for m in msgs] == ["system", "user"] and "Answer:" in msgs[0]["content"]


def test_every_recorded_model_output_parses_or_is_refused_with_a_reason() -> None:
    rows = [json.loads(line) for line in (FIXTURES / "math.jsonl").read_text().splitlines()]
    assert len(rows) > 100
    read = refused = 0
    for row in rows:
        shape = FAMILIES[row["task"].split(".", 1)[1]].shape
        try:
            extract(row["text"], shape)
            read += 1
        except NoAnswer as exc:
            assert str(exc)
            refused += 1
    assert read > 100 and refused >= 3


def test_bad_params_poison_the_prompt_with_the_field() -> None:
    from synthstream.streams.runtime.errors import PoisonRecord

    p = prompt("math.linear", "basic", 1, MODEL, samples="0")
    with pytest.raises(PoisonRecord, match="params.samples"):
        asyncio.run(TASKS["math.linear"].generate(p, PromptModel(ScriptedModel([]).complete, p)))


@pytest.mark.parametrize("task", MATH, ids=lambda t: t.name)
def test_the_same_problem_asked_with_another_instruction_is_a_duplicate(task: MathTask) -> None:
    """Dedup compares a math problem's statement, not the instruction the producer drew for it
    ("What is 100% of 50?" was accepted twice, once per instruction); another problem of the
    same scope is still kept."""
    from synthstream.agents.dedup.core import DedupIndex, Duplicate, Unique
    from synthstream.agents.dedup.fields import dedup_route
    from synthstream.agents.families import default_fields

    difficulty = task.family.difficulties[0]
    index, decisions = DedupIndex(), []
    for seed, instruction in ((7, "Solve it."), (7, "Work through the problem carefully and state the exact answer."),
                              (8, "Solve it.")):
        p = dict(prompt(task.name, difficulty, seed), prompt_id=f"p{len(decisions)}", instruction=instruction)
        gen = dict(asyncio.run(task.generate(p, None)).fields(), task=task.name, lineage={"dataset": "d"})
        assert gen["problem"].startswith(instruction)
        route = dedup_route(gen, default_fields(task.name), 4)
        assert instruction not in route.text
        decisions.append(index.check(p["prompt_id"], route.text, route.scope)[0])
    assert isinstance(decisions[0], Unique) and isinstance(decisions[2], Unique)
    assert isinstance(decisions[1], Duplicate) and decisions[1].kind == "exact"

from fractions import Fraction

import pytest
import sympy

from synthstream.agents.generation.tasks import linear_procedural as core
from synthstream.streams.runtime.errors import PoisonRecord

X = sympy.Symbol("x")


def prompt(seed: int, difficulty: str = "integer", domain: str = "algebra", error_rate: str = "0") -> dict:
    return {"prompt_id": f"p{seed}", "task": "math.linear", "seed": seed, "instruction": "Solve it.",
            "dimensions": {"difficulty": difficulty, "domain": domain}, "params": {"error_rate": error_rate},
            "threshold": 0.85}


def sym_eq(text: str) -> sympy.Eq:
    lhs, rhs = text.split("=")
    return sympy.Eq(sympy.sympify(lhs, locals={"x": X}), sympy.sympify(rhs, locals={"x": X}))


@pytest.mark.parametrize("difficulty", core.DIFFICULTIES)
def test_every_answer_solves_its_equation_and_every_step_is_equivalent(difficulty):
    for seed in range(1000):
        gen = core.generate(prompt(seed, difficulty))
        answer = sympy.Rational(gen["answer"])
        eq = sym_eq(gen["equation"])
        assert sympy.simplify(eq.lhs.subs(X, answer) - eq.rhs) == 0, gen
        assert sympy.solve(eq, X) == [answer]
        for step in gen["steps"]:
            assert sympy.solve(sym_eq(step), X) == [answer], (seed, step)
        assert "." not in gen["response"].replace("Solve it.", ""), "no decimals, ever"
        assert gen["answer"] == gen["reference_answer"]


def test_difficulty_levels_differ_in_kind():
    ints = [core.generate(prompt(s, "integer")) for s in range(200)]
    assert all("/" not in g["answer"] and "-" not in g["equation"].split("=")[0] for g in ints)
    neg = [core.generate(prompt(s, "negative")) for s in range(200)]
    assert any(g["equation"].startswith("-") for g in neg)
    frac = [core.generate(prompt(s, "fractional")) for s in range(200)]
    assert all(g["equation"].startswith("(") for g in frac)
    assert sum("/" in g["answer"] for g in frac) > 100


def test_same_seed_same_problem_different_seed_different_problem():
    assert core.generate(prompt(7)) == core.generate(prompt(7))
    assert core.generate(prompt(7))["equation"] != core.generate(prompt(8))["equation"]


def test_answers_are_exact_rationals_not_floats():
    gen = core.generate(prompt(3, "fractional"))
    value = Fraction(gen["answer"])
    assert value.denominator > 1 or gen["answer"].lstrip("-").isdigit()
    assert gen["answer"] == f"{value.numerator}/{value.denominator}" or value.denominator == 1


def test_error_rate_injects_seeded_slips():
    slipped = [core.generate(prompt(s, error_rate="1")) for s in range(50)]
    clean = [core.generate(prompt(s, error_rate="0")) for s in range(50)]
    assert all(a["steps"] != b["steps"] or a["answer"] != b["answer"] for a, b in zip(slipped, clean))
    assert slipped == [core.generate(prompt(s, error_rate="1")) for s in range(50)]


@pytest.mark.parametrize("domain,phrase", [("algebra", "Solve for x"), ("finance", "savings plan"),
                                           ("physics", "uniform motion"), ("chemistry", "chemistry setting")])
def test_domain_selects_the_framing(domain, phrase):
    assert phrase in core.generate(prompt(1, domain=domain))["problem"]


def test_unknown_task_and_difficulty_are_poison():
    with pytest.raises(PoisonRecord) as exc:
        core.generate(dict(prompt(1), task="code.python"))
    assert exc.value.reason == "unknown_task"
    with pytest.raises(PoisonRecord) as exc:
        core.generate(prompt(1, difficulty="impossible"))
    assert exc.value.reason == "invalid_record" and "impossible" in exc.value.detail
    with pytest.raises(PoisonRecord) as exc:
        core.generate(prompt(1, error_rate="lots"))
    assert "error_rate" in exc.value.detail


@pytest.mark.parametrize("difficulty", core.DIFFICULTIES)
def test_a_story_framing_is_used_only_where_its_answer_makes_sense(difficulty):
    """A count of monthly deposits is a whole number of at least one and a time is not negative;
    other solutions get the domain's neutral framing (a trainer read x = -61/12 deposits)."""
    told = {"finance": 0, "physics": 0}
    for seed in range(400):
        for domain in told:
            gen = core.generate(prompt(seed, difficulty, domain))
            x = Fraction(gen["reference_answer"])
            if "monthly deposits" in gen["problem"]:
                told[domain] += 1
                assert x.denominator == 1 and x >= 1, gen["problem"]
            elif "time in seconds" in gen["problem"]:
                told[domain] += 1
                assert x >= 0, gen["problem"]
            else:
                assert f"In a {domain} setting the unknown x satisfies" in gen["problem"]
                assert not core.FITS[domain](x)
    if difficulty == "integer":  # every integer-level solution is a positive whole number: all get their story
        assert told == {"finance": 400, "physics": 400}
    else:
        assert 0 < told["physics"] < 400

import random
from fractions import Fraction

import pytest
import sympy

from synthstream.agents.generation.tasks import linear_procedural as gen_core
from synthstream.agents.verification import algebra
from synthstream.agents.verification.core import verify
from synthstream.agents.verification.linear import NotLinear, parse_linear


def generation(seed: int = 1, difficulty: str = "negative", **changes) -> dict:
    g = gen_core.generate({"prompt_id": "p", "task": "math.linear", "seed": seed, "instruction": "Solve.",
                           "dimensions": {"difficulty": difficulty, "domain": "algebra"}, "params": {},
                           "threshold": 0.85})
    g.update(changes)
    return g


@pytest.mark.parametrize("difficulty", gen_core.DIFFICULTIES)
def test_correct_generations_are_accepted_with_full_score(difficulty):
    for seed in range(300):
        checked = verify(generation(seed, difficulty))
        assert checked.accepted and checked.score == 1.0 and checked.reasons == []


def test_wrong_answer_is_rejected_with_reason():
    g = generation(4)
    wrong = str(Fraction(g["answer"]) + 1)
    checked = verify(dict(g, answer=wrong, steps=g["steps"][:-1] + [f"x = {wrong}"]))
    assert not checked.accepted
    assert any(r.startswith("answer_wrong: x = " + wrong) for r in checked.reasons)
    assert any(r.startswith("step_invalid: step 3") for r in checked.reasons)
    assert checked.score < 0.85


def test_one_wrong_step_rejects_even_with_the_right_answer():
    g = generation(5)
    steps = list(g["steps"])
    lhs = steps[1].split("=")[0]
    steps[1] = f"{lhs}= 999"
    checked = verify(dict(g, steps=steps))
    assert not checked.accepted
    assert checked.reasons == [f"step_invalid: step 2 {steps[1]!r} is not equivalent to the equation"]


def test_unparseable_and_missing_pieces_are_reasons_not_crashes():
    g = generation(6)
    assert verify(dict(g, answer="banana")).reasons[0].startswith("answer_unparseable")
    assert not verify(dict(g, steps=[])).accepted
    assert "steps_missing: no reasoning steps" in verify(dict(g, steps=[])).reasons
    assert verify(dict(g, equation="x = = 3")).reasons[0].startswith("problem_unparseable")
    assert verify(dict(g, equation="0*x + 1 = 1")).reasons == [
        "problem_degenerate: the equation has no unique solution"]
    assert verify(dict(g, steps=["x**2 = 4"] + g["steps"][1:])).reasons[0].startswith("step_unparseable: step 1")


def test_unreduced_answer_is_accepted_or_not_by_threshold():
    g = generation(7, "integer")
    value = Fraction(g["answer"])
    unreduced = f"{value.numerator * 2}/{value.denominator * 2}"
    checked = verify(dict(g, answer=unreduced))
    assert checked.score == pytest.approx(0.9)
    assert checked.accepted  # 0.9 >= 0.85
    assert checked.reasons == [f"answer_not_reduced: {unreduced!r} is not written as a reduced fraction"]
    strict = verify(dict(g, answer=unreduced, threshold=0.95))
    assert not strict.accepted and strict.reasons[-1].startswith("below_threshold: score 0.900 < 0.950")


def test_reference_answer_that_does_not_solve_is_flagged():
    g = generation(8)
    checked = verify(dict(g, reference_answer="12345"))
    assert not checked.accepted and checked.reasons[0].startswith("reference_mismatch")


@pytest.mark.parametrize("text,expected", [
    ("3*x + 5", (3, 5)), ("3x - 5", (3, -5)), ("(3/4)*x - 5/2", (Fraction(3, 4), Fraction(-5, 2))),
    ("-x", (-1, 0)), ("2(x + 1)", (2, 2)), ("x/4 + 1", (Fraction(1, 4), 1)), ("-(-7)", (0, 7)),
    ("2.5*x", (Fraction(5, 2), 0)),
])
def test_fast_parser(text, expected):
    assert parse_linear(text) == (Fraction(expected[0]), Fraction(expected[1]))


@pytest.mark.parametrize("text", ["x*x", "x/x", "1/0", "3 +", "sin(x)", "2^x", "(x"])
def test_fast_parser_refuses_what_it_cannot_prove(text):
    with pytest.raises(NotLinear):
        parse_linear(text)


def test_sympy_fallback_reads_what_the_fast_parser_cannot():
    assert algebra.solution("2**2*x = 8") == 2
    assert algebra.solution("x + x*0 = 3") == 3
    with pytest.raises(algebra.Unparseable):
        algebra.solution("x**2 = 4")


def test_fast_parser_agrees_with_sympy_on_random_expressions():
    rng = random.Random(0)
    x = sympy.Symbol("x")
    for _ in range(300):
        a, b, c = (Fraction(rng.randint(-20, 20), rng.randint(1, 9)) for _ in range(3))
        text = f"({a})*x + ({b}) - ({c})*(x - 1)"
        expr = sympy.nsimplify(sympy.sympify(text.replace("x", "_x_").replace("_x_", "x"), locals={"x": x}))
        poly = sympy.Poly(expr, x)
        assert parse_linear(text) == (Fraction(str(poly.coeff_monomial(x))), Fraction(str(poly.coeff_monomial(1))))


def _random_linear(rng: random.Random, depth: int = 0) -> tuple[str, tuple[Fraction, Fraction]]:
    """A random expression in the fast parser's syntax and its (coefficient, constant), built
    together: integers, decimals, x, unary signs, parentheses, + - * / and implicit products."""
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        kind = rng.randrange(4)
        if kind == 0:
            n = rng.randint(0, 10**rng.randint(1, 13))
            return str(n), (Fraction(0), Fraction(n))
        if kind == 1:
            text = f"{rng.randint(0, 99)}.{rng.randint(0, 999)}"
            return text, (Fraction(0), Fraction(text))
        if kind == 2:
            return "x", (Fraction(1), Fraction(0))
        n = rng.randint(1, 50)
        return f"{n}x", (Fraction(n), Fraction(0))
    if roll < 0.45:
        text, value = _random_linear(rng, depth + 1)
        return f"({text})", value
    if roll < 0.55:
        text, (a, b) = _random_linear(rng, depth + 1)
        return f"-({text})", (-a, -b)
    (lt, (a, b)), (rt, (c, d)) = _random_linear(rng, depth + 1), _random_linear(rng, depth + 1)
    op = rng.choice("+-*/")
    if op == "+":
        return f"{lt} + {rt}", (a + c, b + d)
    if op == "-":
        return f"{lt} - ({rt})", (a - c, b - d)
    if op == "*":
        if a and c:
            return f"{lt} + {rt}", (a + c, b + d)
        return f"({lt})*({rt})", (a * d + c * b, b * d)
    if c or not d:
        return f"{lt} - ({rt})", (a - c, b - d)
    return f"({lt}) / ({rt})", (a / d, b / d)


def test_fast_parser_gives_exact_fractions_on_random_expressions():
    """Big integers, decimals, nesting, division: exact, and always a pair of Fractions (the
    parser computes in ints while it can)."""
    rng = random.Random(3)
    for _ in range(3000):
        text, expected = _random_linear(rng)
        got = parse_linear(text)
        assert got == expected, text
        assert type(got[0]) is Fraction and type(got[1]) is Fraction

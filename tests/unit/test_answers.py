"""Reading final answers the way models write them."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from synthstream.agents.generation.tasks.answers import NoAnswer, canonical, extract, numbers, parse_canonical


@pytest.mark.parametrize("text,value", [
    ("Step 1: ...\nAnswer: x = 5", F(5)),
    ("so x = 5/3.\nAnswer: x = 5/3\n\nProblem: next one", F(5, 3)),
    ("We get \\boxed{\\frac{5}{3}} as the result.", F(5, 3)),
    ("The answer is \\boxed{-\\frac{7}{2}}", F(-7, 2)),
    ("**Final answer:** 1.5", F(3, 2)),
    ("```\nx = 4\n```\nAnswer: 4\nI hope this helps!", F(4)),
    ("The sale price is $68.00.", F(68)),
    ("Answer: 25%", F(25)),
    ("Answer: 2 2/3 cups", F(8, 3)),
    ("Answer: The new population is 12,600.", F(12600)),
    ("Answer: x = −3", F(-3)),
    ("Thus x equals 7", F(7)),
    ("answer: x = 10/4", F(5, 2)),
])
def test_scalar_answers(text: str, value: F) -> None:
    assert extract(text, "scalar").value == value


@pytest.mark.parametrize("text,value", [
    ("Answer: x = 2, y = -1", (F(2), F(-1))),
    ("Answer: y = 3 and x = 1/2", (F(1, 2), F(3))),
    ("The solution is \\boxed{(2, -1)}", (F(2), F(-1))),
    ("Answer: (x, y) = (4, 5)", (F(4), F(5))),
])
def test_pair_answers(text: str, value: tuple[F, F]) -> None:
    assert extract(text, "pair").value == value


@pytest.mark.parametrize("text,value", [
    ("Answer: x = 2 or x = 3", {F(2), F(3)}),
    ("Answer: x = -1/2, x = 4", {F(-1, 2), F(4)}),
    ("\\boxed{x = 3 \\text{or} x = -\\frac{2}{3}}", {F(3), F(-2, 3)}),
    ("Answer: x_1 = 5 and x_2 = -5", {F(5), F(-5)}),
    ("Answer: x = 3 (a double root)", {F(3)}),
])
def test_root_answers(text: str, value: set[F]) -> None:
    assert extract(text, "roots").value == frozenset(value)


@pytest.mark.parametrize("text,shape", [
    ("", "scalar"), ("I don't know.", "scalar"), ("Answer: x = 2", "pair"), ("Answer: none", "roots"),
])
def test_what_cannot_be_read_is_refused_with_a_reason(text: str, shape: str) -> None:
    with pytest.raises(NoAnswer):
        extract(text, shape)  # type: ignore[arg-type]


@pytest.mark.parametrize("value,shape,text", [
    (F(5, 3), "scalar", "5/3"), ((F(2), F(-1)), "pair", "x = 2, y = -1"),
    (frozenset({F(3), F(-2, 3)}), "roots", "x = -2/3 or x = 3"),
])
def test_canonical_round_trip(value: object, shape: str, text: str) -> None:
    assert canonical(value, shape) == text  # type: ignore[arg-type]
    assert parse_canonical(text, shape) == value  # type: ignore[arg-type]


def test_division_by_zero_is_not_a_number() -> None:
    assert numbers("3/0 and \\frac{1}{0}") == []

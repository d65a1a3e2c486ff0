"""Exact rational numbers written the way a textbook writes them (never 1.6666667)."""

from __future__ import annotations

from fractions import Fraction


def fmt(value: Fraction) -> str:
    """3, -2, 5/3, -7/4."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def coef_term(coef: Fraction, var: str = "x") -> str:
    """The term coef*var: 'x', '-x', '3*x', '(3/4)*x', '(-3/4)*x'."""
    if coef == 1:
        return var
    if coef == -1:
        return f"-{var}"
    if coef.denominator == 1:
        return f"{coef.numerator}*{var}"
    return f"({fmt(coef)})*{var}"


def linear(coef: Fraction, const: Fraction, var: str = "x") -> str:
    """coef*var + const with the sign folded in: '3*x - 5', '(1/2)*x + 7/3'."""
    head = coef_term(coef, var)
    if const == 0:
        return head
    sign = "-" if const < 0 else "+"
    return f"{head} {sign} {fmt(abs(const))}"

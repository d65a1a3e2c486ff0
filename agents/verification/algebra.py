"""Equations in x as exact (coefficient, constant) forms: fast path first, sympy otherwise."""

from __future__ import annotations

from fractions import Fraction

from synthstream.agents.verification.linear import Linear, NotLinear, parse_linear


class Unparseable(ValueError):
    """Neither the fast parser nor sympy can read the text as a linear equation in x."""


def _sympy_linear(text: str) -> Linear:
    import sympy
    from sympy.parsing.sympy_parser import implicit_multiplication, parse_expr, standard_transformations

    x = sympy.Symbol("x")
    try:
        expr = parse_expr(text, local_dict={"x": x},
                          transformations=standard_transformations + (implicit_multiplication,))
        poly = sympy.Poly(sympy.nsimplify(expr, rational=True), x)
    except Exception as exc:  # sympy raises SyntaxError, TokenError, PolynomialError, ...
        raise Unparseable(f"cannot read {text!r}: {type(exc).__name__}") from exc
    if poly.degree() > 1:
        raise Unparseable(f"{text!r} is not linear in x")
    coef = poly.coeff_monomial(x)
    const = poly.coeff_monomial(1)
    if not (coef.is_Rational and const.is_Rational):
        raise Unparseable(f"{text!r} has non-rational coefficients")
    return Fraction(int(coef.p), int(coef.q)), Fraction(int(const.p), int(const.q))


def linear_form(expr: str) -> Linear:
    try:
        return parse_linear(expr)
    except NotLinear:
        return _sympy_linear(expr)


def equation_form(text: str) -> Linear:
    """lhs - rhs of 'lhs = rhs' as (coef, const)."""
    if text.count("=") != 1:
        raise Unparseable(f"{text!r} is not one equation (needs exactly one '=')")
    lhs, rhs = text.split("=")
    (a, b), (c, d) = linear_form(lhs), linear_form(rhs)
    return a - c, b - d


def solution(text: str) -> Fraction | None:
    """The unique solution of a linear equation, or None when it has none or infinitely many."""
    a, b = equation_form(text)
    return None if a == 0 else -b / a


def parse_number(text: str) -> Fraction:
    """An answer such as '-5/3', 'x = 7', '2.5' as an exact Fraction."""
    body = text.split("=", 1)[1] if "=" in text else text
    a, b = linear_form(body)
    if a != 0:
        raise Unparseable(f"answer {text!r} still contains x")
    return b

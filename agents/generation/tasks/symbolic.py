"""A second reader for final answers: math-verify (LaTeX and expressions, via sympy), exact only.

The project's own reader (``answers.py``) reads the forms models write most and is exact by
construction. When it finds no answer, this one tries math-verify's parser, which reads more LaTeX
(``\\dfrac``, ``\\frac{-4}{6}``, ``x=\\frac{1}{2}``, nested braces), and keeps the result only when
sympy holds it as an exact rational or a set of them. A float is refused: math-verify's own
``verify`` rounds to 6 digits and would take 1.6666667 for 5/3, the flaw this pipeline exists to
catch. The parser's signal-based timeout only works on the main thread, so it is off and inputs are
capped in length instead.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any

logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns once that its timeout is off
MAX_CHARS = 400


def _exact(value: Any) -> Fraction | None:
    import sympy

    if isinstance(value, sympy.Equality):
        value = value.rhs
    if isinstance(value, sympy.Basic) and not value.atoms(sympy.Float):
        try:
            value = value.doit()  # math-verify keeps 3*4, 2**-1, sqrt(16)/2 unevaluated
        except Exception:  # noqa: BLE001 - sympy on model output: any failure means "not exact"
            return None
    if isinstance(value, sympy.Rational):  # Integer and Rational; a Float is not one
        return Fraction(int(value.p), int(value.q))
    return None


def read_exact(text: str) -> Fraction | frozenset[Fraction] | None:
    """The answer in ``text`` as an exact rational (or a set of them), or None."""
    if not text.strip() or len(text) > MAX_CHARS:
        return None
    import sympy
    from math_verify import parse

    if "$" not in text and "\\boxed" not in text:
        text = f"${text}$"  # math-verify reads LaTeX only between delimiters
    try:
        found = parse(text, parsing_timeout=None)
    except Exception:  # noqa: BLE001 - a third-party parser on model output: any failure means "cannot read"
        return None
    if not found:
        return None
    value = found[0]
    if isinstance(value, sympy.FiniteSet):
        members = [_exact(v) for v in value]
        return frozenset(m for m in members if m is not None) if members and None not in members else None
    return _exact(value)


def equivalent(answer: str, reference: str) -> bool | None:
    """math-verify's and sympy's judgement of two final answers, exact values only; None when
    either side cannot be read as one."""
    a, r = read_exact(answer), read_exact(reference)
    if a is None or r is None:
        return None
    return a == r

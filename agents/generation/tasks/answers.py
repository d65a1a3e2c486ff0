"""Final answers as models really write them, read into exact values.

A model may end with ``Answer: x = 5/3``, ``\\boxed{\\frac{5}{3}}``, ``**Final answer:** 1.5``,
``x = 2, y = -1``, ``$68.00``, ``25%`` or ``2 2/3``, inside code fences, followed by chatter.
:func:`extract` finds the final-answer region and reads it into one of three shapes:

- ``Scalar``: one exact number (``Fraction``)
- ``Pair``: values of x and y
- ``RootSet``: the set of solutions of a polynomial equation

and :func:`canonical` writes a value back in one canonical text form, so equal values compare
equal as text too (used for majority voting across samples).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Union

from synthstream.agents.generation.rational import fmt

Shape = Literal["scalar", "pair", "roots"]
Value = Union[Fraction, tuple[Fraction, Fraction], frozenset[Fraction]]

_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*\n?|```")
_BOXED = re.compile(r"\\boxed\s*\{")
_ANSWER_LINE = re.compile(r"(?im)^[\s>*_#-]*(?:the\s+)?(?:final\s+)?answer\s*(?:is)?\s*[:=]?\s*\**\s*(.+)$")
_NUMBER = re.compile(
    r"""(?P<sign>[-−])?\s*(?:
        \\[dt]?frac\s*\{\s*(?P<fn>-?\d+)\s*\}\s*\{\s*(?P<fd>\d+)\s*\}      # \frac{a}{b}
      | (?P<whole>\d+)\s+(?P<mn>\d+)\s*/\s*(?P<md>\d+)(?![\d.])           # mixed 2 2/3
      | (?P<n>\d+)\s*/\s*(?P<d>\d+)(?![\d.])                              # 5/3
      | (?P<dec>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)         # 12,600.50 / 1.5 / 7
    )""", re.VERBOSE)
_VAR = re.compile(r"\b([xy])\s*(?:_?\{?\d\}?)?\s*=\s*")


class NoAnswer(ValueError):
    """The text has no final answer of the expected shape."""


@dataclass(frozen=True)
class Found:
    value: Value
    text: str  # the region it was read from


def clean(text: str) -> str:
    """Drop code fences, markdown emphasis and LaTeX inline delimiters."""
    text = _FENCE.sub("", text)
    text = text.replace("**", "").replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    text = text.replace("$", " ").replace("\\left", "").replace("\\right", "").replace("\\,", "")
    return text.strip()


def _boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, braces balanced."""
    matches = list(_BOXED.finditer(text))
    if not matches:
        return None
    start = matches[-1].end()
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def numbers(text: str) -> list[Fraction]:
    out = []
    for m in _NUMBER.finditer(text):
        sign = -1 if m.group("sign") else 1
        if m.group("fn") is not None:
            value = Fraction(int(m.group("fn")), int(m.group("fd"))) if int(m.group("fd")) else None
        elif m.group("whole") is not None:
            den = int(m.group("md"))
            value = Fraction(int(m.group("whole"))) + Fraction(int(m.group("mn")), den) if den else None
        elif m.group("n") is not None:
            den = int(m.group("d"))
            value = Fraction(int(m.group("n")), den) if den else None
        else:
            value = Fraction(m.group("dec").replace(",", ""))
        if value is not None:
            out.append(sign * value)
    return out


def answer_region(text: str) -> str:
    """Where the final answer is: the last \\boxed{}, else the last 'Answer:' line, else the last
    line that has a number in it."""
    text = clean(text)
    boxed = _boxed(text)
    if boxed is not None:
        return boxed
    lines = _ANSWER_LINE.findall(text)
    if lines:
        return lines[-1].strip()
    for line in reversed(text.splitlines()):
        if _NUMBER.search(line):
            return line.strip()
    raise NoAnswer("no final answer: no 'Answer:' line, no \\boxed{} and no number")


def _by_variable(region: str) -> dict[str, Fraction]:
    found: dict[str, Fraction] = {}
    for m in _VAR.finditer(region):
        nums = numbers(region[m.end():m.end() + 40].split(",")[0].split(" and ")[0].split(";")[0])
        if nums and m.group(1) not in found:
            found[m.group(1)] = nums[0]
    return found


_APPROX = re.compile(r"(?i)\s*(?:≈|\\approx|\\sim|approximately|approx\.?|about|roughly)\s")
# an expression, not a number: powers, products, sums, roots, pi, a fraction of non-digits or a negative denominator
_EXPRESSION = re.compile(r"\^|\\cdot|\\times|\\sqrt|\\pi|[\d}]\s*[+*]\s*[\d\\(]|[\d}]\s+-\s+[\d\\(]|\\[dt]?frac\s*\{[^}]*[^\d\s}-][^}]*\}"
                         r"|\\[dt]?frac\s*\{[^}]*\}\s*\{\s*-")


def extract(text: str, shape: Shape) -> Found:
    region = answer_region(text)
    exact_part = _APPROX.split(region, maxsplit=1)[0]  # '5/3 ≈ 1.67': the exact part
    if _NUMBER.search(exact_part):
        region = exact_part
    if shape == "scalar" and _EXPRESSION.search(region):
        return _symbolic(region)
    region_plain = region.replace("\\text{or}", " or ").replace("\\quad", " ")
    if shape == "scalar":
        nums = numbers(region_plain.split("=")[-1]) or numbers(region_plain)
        if not nums:
            raise NoAnswer(f"no number in the final answer {region[:80]!r}")
        return Found(nums[0] if "=" in region_plain else nums[-1], region)
    if shape == "pair":
        by_var = _by_variable(region_plain)
        if set(by_var) == {"x", "y"}:
            return Found((by_var["x"], by_var["y"]), region)
        nums = numbers(region_plain)
        if len(nums) == 2 and not by_var:
            return Found((nums[0], nums[1]), region)
        raise NoAnswer(f"the final answer {region[:80]!r} does not give both x and y")
    if shape == "roots":
        roots = []
        if "=" in region_plain:  # only 'x = r' assignments count; '(x - 3)(x + 2) = 0' is not a solution
            for m in _VAR.finditer(region_plain):
                nums = numbers(re.split(r"\bor\b|,|;|\band\b", region_plain[m.end():])[0])
                if m.group(1) == "x" and nums:
                    roots.append(nums[0])
        else:
            roots = numbers(region_plain)
        if not roots:
            raise NoAnswer(f"no solution in the final answer {region[:80]!r}")
        return Found(frozenset(roots), region)
    raise ValueError(f"unknown answer shape {shape!r}")


def canonical(value: Value, shape: Shape) -> str:
    if shape == "scalar":
        assert isinstance(value, Fraction)
        return fmt(value)
    if shape == "pair":
        assert isinstance(value, tuple)
        return f"x = {fmt(value[0])}, y = {fmt(value[1])}"
    assert isinstance(value, frozenset)
    return " or ".join(f"x = {fmt(r)}" for r in sorted(value))


def _symbolic(region: str) -> Found:
    """An expression ('2^{-1}', '\\frac{\\sqrt{16}}{2}', '3 \\cdot 4') read and evaluated exactly with
    math-verify and sympy; NoAnswer when it has no exact rational value."""
    from synthstream.agents.generation.tasks.symbolic import read_exact

    expr = region.split("=")[-1]
    value = read_exact(expr)
    if not isinstance(value, Fraction):
        raise NoAnswer(f"the final answer {region[:80]!r} is an expression without an exact rational value")
    return Found(value, region)


def parse_canonical(text: str, shape: Shape) -> Value:
    """Inverse of :func:`canonical` (used on the reference answer a generator wrote)."""
    return extract(f"Answer: {text}", shape).value


@dataclass(frozen=True)
class Vote:
    """k solutions read and voted on: their canonical answers ('' when unreadable), the majority
    (None when no sample is readable; ties go to the earliest), and the chosen solution's text."""

    answers: list[str]
    values: dict[str, Value]
    majority: str | None
    chosen: str
    steps: list[str]
    first_error: str | None


def vote(texts: list[str], shape: Shape) -> Vote:
    answers: list[str] = []
    values: dict[str, Value] = {}
    first_error = None
    for text in texts:
        try:
            value = extract(text, shape).value
            answers.append(canonical(value, shape))
            values[answers[-1]] = value
        except NoAnswer as exc:
            answers.append("")
            first_error = first_error or str(exc)
    counts = Counter(a for a in answers if a)
    if not counts:
        return Vote(answers, values, None, clean(texts[0]) if texts else "", [], first_error)
    best = max(counts.values())
    majority = next(a for a in answers if a and counts[a] == best)
    chosen = clean(texts[answers.index(majority)])
    steps = [line.strip() for line in chosen.splitlines()
             if line.strip() and not line.strip().lower().startswith("answer")]
    return Vote(answers, values, majority, chosen, steps, first_error)


"""Step checking for written solutions: every equality the solution states between numbers (and
x, y) must hold, exactly, with the ground truth put in for the unknowns.

``7 boxes hold 7 * 6 = 42`` is checked as 7 * 6 = 42; ``2x + 3 = 11`` with x = 4 as 11 = 11; a
chain ``12 + 3 = 15 = 5 * 3`` link by link. A side written with decimals may be rounded to the
places it shows (``5/3 = 1.67`` holds, ``5/3 = 1.6`` does not). What cannot be read as arithmetic
(words, units, functions) is not checked, so a step is never rejected for its wording.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from fractions import Fraction

_TOKEN = (r"(?:(?<![A-Za-z])[xy](?![A-Za-z])|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
          r"|[-+*/^()×÷·−]|\\cdot|\\times|[ \t])")
_TAIL = re.compile(rf"{_TOKEN}+$")
_HEAD = re.compile(rf"{_TOKEN}+")
_DECIMALS = re.compile(r"\d\.(\d+)")
# a word that joins the number before it to more of the sentence ('10% of 20', '3 times 4'): the
# arithmetic on that side is only part of what is said, so the equality is not checked
_JOINED_BEFORE = re.compile(r"(?i)(?:%|\b(?:of|times|plus|minus|by|per|over|divided|multiplied|and|percent))\s*$")
_JOINED_AFTER = re.compile(r"(?i)^\s*(?:%|percent\b|times\b|of\b|per\b|squared\b|cubed\b|\w*\()")
MAX_EXPONENT = 12


class NotArithmetic(ValueError):
    """A segment that is not plain arithmetic over numbers, x and y."""


def _python(expr: str) -> str:
    expr = expr.replace("\\cdot", "*").replace("\\times", "*").replace("×", "*").replace("·", "*")
    expr = expr.replace("÷", "/").replace("−", "-").replace("^", "**")
    expr = re.sub(r"(\d),(\d{3})", r"\1\2", expr)
    expr = re.sub(r"(\d|\))\s*(?=[xy(])", r"\1*", expr)  # 2x, 3(x + 1), )(
    return expr


def evaluate(expr: str, values: Mapping[str, Fraction]) -> Fraction:
    try:
        tree = ast.parse(_python(expr).strip(), mode="eval")
    except SyntaxError as exc:
        raise NotArithmetic(expr) from exc
    return _eval(tree.body, values)


def _eval(node: ast.AST, values: Mapping[str, Fraction]) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return Fraction(str(node.value))
    if isinstance(node, ast.Name) and node.id in values:
        return values[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand, values)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div) and b != 0:
            return a / b
        if isinstance(node.op, ast.Pow) and b.denominator == 1 and abs(b) <= MAX_EXPONENT and (a != 0 or b > 0):
            return a ** int(b)
    raise NotArithmetic(ast.dump(node)[:60])


def equalities(line: str) -> list[tuple[str, str]]:
    """Adjacent (left, right) arithmetic around each '=' of a line."""
    parts = re.split(r"(?<![<>!=])=(?!=)", line.replace("\\(", " ").replace("\\)", " ").replace("$", " "))
    pairs = []
    for left, right in zip(parts, parts[1:]):
        tail, head = _TAIL.search(left), _HEAD.match(right)
        if tail is None or head is None or _JOINED_BEFORE.search(left[:tail.start()]) \
                or _JOINED_AFTER.match(right[head.end():]):
            continue
        if tail.start() > 0 and not tail.group(0)[0].isspace() and re.match(r"[\w\\{}]", left[tail.start() - 1]):
            continue  # 'sqrt(16)', '\\frac{..}': the arithmetic is an argument of something unread
        lhs, rhs = tail.group(0).strip(), head.group(0).strip().rstrip(".")
        if re.fullmatch(r"\d+", lhs) and re.search(r"[A-Za-z]\s*$", left[:tail.start()]):
            continue  # 'Term 50 = ...', 'Step 3 = ...': a label, not a value
        if re.search(r"[\dxy]", lhs) and re.search(r"[\dxy]", rhs):
            pairs.append((lhs, rhs))
    return pairs


def _tolerance(*sides: str) -> Fraction:
    places = [len(m.group(1)) for s in sides for m in _DECIMALS.finditer(s)]
    return Fraction(1, 2 * 10 ** min(places)) if places else Fraction(0)


def wrong_steps(text: str, assignments: Iterable[Mapping[str, Fraction]]) -> tuple[int, list[str]]:
    """(equalities checked, the ones that do not hold) over every line of a solution.

    ``assignments``: the ground truth for the unknowns, one mapping per solution (a quadratic has
    two roots: an equality about x holds when it holds for one of them); empty when there is none,
    and then only equalities without x and y are checked."""
    options = list(assignments) or [{}]
    checked, wrong = 0, []
    for line in text.splitlines():
        if re.search(r"(?i)≈|\\approx|approx", line):
            continue
        for lhs, rhs in equalities(line):
            verdicts = []
            for values in options:
                try:
                    left, right = evaluate(lhs, values), evaluate(rhs, values)
                except (NotArithmetic, ZeroDivisionError, OverflowError, ValueError):
                    continue
                verdicts.append(abs(left - right) <= _tolerance(lhs, rhs))
            if not verdicts:
                continue
            checked += 1
            if not any(verdicts):
                wrong.append(f"{lhs} = {rhs}")
    return checked, wrong

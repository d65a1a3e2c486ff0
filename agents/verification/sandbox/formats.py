"""The three test formats, run through a :class:`Sandbox`, each ending in one :class:`RunResult`.

(a) HumanEval-style: ``check(candidate)`` from the test runs in the judge process, the entry point
    relayed to the candidate process; a test of literal asserts only is relayed by the zygote
    itself, with the same verdicts and one process fewer. (b) Input/expected-output pairs: the candidate's returned
    values come back as data and are compared here, in the worker, so expected values never enter
    the jail. (c) Assert statements: ``assert f(<literals>) == <literal>`` lines become pairs (b);
    anything else becomes a ``check`` function for (a).
"""

from __future__ import annotations

import ast
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from synthstream.agents.verification.sandbox import wire
from synthstream.agents.verification.sandbox.pool import Limits, Sandbox, TaskResult

ATTEMPTS = 3  # a jail that failed to start or a fork refused (a neighbour's thread bomb) is retried


@dataclass(frozen=True)
class RunResult:
    status: str  # passed | failed | timeout | error | refused | sandbox
    detail: str
    duration_ms: float


@dataclass(frozen=True)
class IoCase:
    args: list[Any]
    expected: Any
    kwargs: dict[str, Any] = field(default_factory=dict)


def _run(sandbox: Sandbox, request: dict[str, Any], limits: Limits) -> TaskResult:
    for attempt in range(ATTEMPTS):
        result = sandbox.run(request, limits)
        if result.status != "sandbox":
            return result
        time.sleep(0.2 * (attempt + 1))
    return result


def _final(result: TaskResult) -> RunResult:
    if result.status == "passed":
        return RunResult("passed", "passed", result.duration_ms)
    return RunResult(result.status, result.detail, result.duration_ms)


def run_humaneval(sandbox: Sandbox, prompt: str, completion: str, test: str, entry_point: str,
                  limits: Limits = Limits()) -> RunResult:
    """(a): the program is prompt + completion; the test defines ``check(candidate)``.

    A test whose ``check`` is only ``assert candidate(<literals>) == <literal>`` lines (most of
    HumanEval, and the tests models write) runs without a judge process: the zygote relays the
    same calls and compares each answer with Python's ``==`` as the test would, stopping at the
    first that fails, and the verdict reads as the judge's would have.
    """
    plan = _relay_plan(test)
    request = {"kind": "check", "prompt": prompt, "test": test} if plan is None else {"kind": "expect", **plan}
    return _final(_run(sandbox, dict(request, program=prompt + completion, entry_point=entry_point), limits))


@lru_cache(maxsize=1024)  # a test is run against every sample of its problem
def _relay_plan(test: str) -> dict[str, list[Any]] | None:
    """A test's literal asserts as the zygote relays them: the calls and expected values, encoded
    once, and where each assert is (for the verdict's wording, roles.assertion_failed)."""
    cases = literal_check(test)
    if cases is None:
        return None
    return {"calls": [{"args": wire.encode(list(c.args)), "kwargs": wire.encode(dict(c.kwargs))} for c in cases],
            "expected": [wire.encode(c.expected) for c in cases],
            "where": [[c.line, c.text, c.message or ""] for c in cases]}


@dataclass(frozen=True)
class LiteralAssert:
    """``assert candidate(*args, **kwargs) == expected[, message]`` at ``line`` of the test."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    expected: Any
    line: int
    text: str
    message: str | None


def literal_check(test: str) -> tuple[LiteralAssert, ...] | None:
    """The asserts of a test that is only ``def check(candidate)`` of literal asserts (besides
    docstrings, ``assert True`` and literal assignments such as HumanEval's METADATA); None for
    anything else, which then runs in a judge as written."""
    try:
        module = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    check = None
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check" and check is None:
            check = node
        elif not (_is_docstring(node) or (isinstance(node, ast.Assign) and _is_literal(node.value)
                                          and all(isinstance(t, ast.Name) for t in node.targets))):
            return None
    if check is None or check.decorator_list or check.returns is not None or not _one_plain_parameter(check.args):
        return None
    name, lines, cases = check.args.args[0].arg, test.splitlines(), []
    for node in check.body:
        if _is_docstring(node):
            continue
        if not isinstance(node, ast.Assert):
            return None
        message = None
        if node.msg is not None:
            if not (isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str)):
                return None
            message = node.msg.value
        if isinstance(node.test, ast.Constant) and node.test.value is True:
            continue  # HumanEval's "assert True, 'This prints if this assert fails'"
        case = _literal_case(node.test, name)
        if case is None:
            return None
        cases.append(LiteralAssert(tuple(case.args), case.kwargs, case.expected, node.lineno,
                                   lines[node.lineno - 1].strip() if node.lineno <= len(lines) else "", message))
    return tuple(cases) or None


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _one_plain_parameter(args: ast.arguments) -> bool:
    return (len(args.args) == 1 and not args.posonlyargs and not args.kwonlyargs and args.vararg is None
            and args.kwarg is None and not args.defaults)


def run_io(sandbox: Sandbox, program: str, entry_point: str, cases: list[IoCase], limits: Limits = Limits(),
           loose_sequences: bool = False, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> RunResult:
    """(b): every case's returned value must equal its expected value (floats within tolerance;
    with ``loose_sequences`` a list equals a tuple, for cases written in JSON)."""
    calls = [{"args": wire.encode(list(c.args)), "kwargs": wire.encode(dict(c.kwargs))} for c in cases]
    result = _run(sandbox, {"kind": "calls", "program": program, "entry_point": entry_point, "calls": calls}, limits)
    if result.status != "done":
        return _final(result)
    outputs = result.outputs if isinstance(result.outputs, list) else []
    if len(outputs) != len(cases):
        return RunResult("error", f"the judge returned {len(outputs)} answers for {len(cases)} calls", result.duration_ms)
    for n, (case, out) in enumerate(zip(cases, outputs), 1):
        failure = _compare(n, case, out, loose_sequences, rel_tol, abs_tol)
        if failure:
            return RunResult("failed", failure, result.duration_ms)
    return RunResult("passed", "passed", result.duration_ms)


def call(sandbox: Sandbox, program: str, entry_point: str, args: list[Any], limits: Limits = Limits()) -> tuple[str, Any]:
    """One call of ``entry_point(*args)`` in the jail: ("ok", the returned value) or (status, detail)
    when it raised, timed out or the jail failed."""
    request = {"kind": "calls", "program": program, "entry_point": entry_point,
               "calls": [{"args": wire.encode(list(args)), "kwargs": wire.encode({})}]}
    result = _run(sandbox, request, limits)
    if result.status != "done":
        return result.status, result.detail
    outputs = result.outputs if isinstance(result.outputs, list) else []
    out = outputs[0] if outputs else None
    if not isinstance(out, dict):
        return "error", "the jail gave no answer for the call"
    if "raise" in out:
        name, message = (list(out["raise"]) + ["", ""])[:2] if isinstance(out["raise"], list) else ("?", "")
        return "error", f"{name}: {str(message)[:200]}"
    try:
        return "ok", wire.decode(out.get("ok"))
    except wire.WireError as exc:
        return "error", f"the answer is not a plain value: {exc}"


def _compare(n: int, case: IoCase, out: Any, loose: bool, rel_tol: float, abs_tol: float) -> str:
    if not isinstance(out, dict):
        return f"case {n}: the candidate's answer is not a reply"
    if "raise" in out:
        name, message = (list(out["raise"]) + ["", ""])[:2] if isinstance(out["raise"], list) else ("?", "")
        return f"case {n}: the candidate raised {name}: {str(message)[:200]}"
    try:
        got = wire.decode(out.get("ok"))
    except wire.WireError as exc:
        return f"case {n}: the candidate's answer is not a plain value: {exc}"
    if not same(got, case.expected, loose, rel_tol, abs_tol):
        return f"case {n}: expected {_short(case.expected)}, got {_short(got)}"
    return ""


def same(got: Any, expected: Any, loose: bool = False, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> bool:
    """Equality of decoded builtin values, floats within tolerance, recursively."""
    numbers = (int, float)
    if type(got) in numbers and type(expected) in numbers and float in (type(got), type(expected)):
        return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol) or (got != got and expected != expected)
    seqs = (list, tuple)
    if type(got) in seqs and type(expected) in seqs:
        if (type(got) is not type(expected) and not loose) or len(got) != len(expected):
            return False
        return all(same(g, e, loose, rel_tol, abs_tol) for g, e in zip(got, expected))
    if type(got) is dict and type(expected) is dict:
        return got.keys() == expected.keys() and all(same(got[k], expected[k], loose, rel_tol, abs_tol) for k in got)
    return bool(got == expected)  # both are builtins rebuilt from data: == is Python's own


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:119] + "…"


def run_asserts(sandbox: Sandbox, program: str, entry_point: str, asserts: list[str],
                limits: Limits = Limits()) -> RunResult:
    """(c): a list of ``assert`` statements about ``entry_point``."""
    cases = [_as_case(a, entry_point) for a in asserts]
    if cases and all(c is not None for c in cases):
        return run_io(sandbox, program, entry_point, cases, limits)  # type: ignore[arg-type]
    body = "".join(f"    {line.strip()}\n" for a in asserts for line in a.strip().splitlines()) or "    pass\n"
    # prompt "": the judge must not run the candidate's program to get helpers
    return run_humaneval(sandbox, "", program, f"def check(candidate):\n{body}", entry_point, limits)


def _as_case(statement: str, entry_point: str) -> IoCase | None:
    """``assert f(1, [2]) == 3`` as a case; None for anything that is not literal calls and values."""
    try:
        (node,) = ast.parse(statement.strip()).body
    except (SyntaxError, ValueError):
        return None
    if not isinstance(node, ast.Assert):
        return None
    return _literal_case(node.test, entry_point)


def _literal_case(test: ast.expr, entry_point: str) -> IoCase | None:
    if not isinstance(test, ast.Compare):
        return None
    cmp = test
    if len(cmp.ops) != 1 or not isinstance(cmp.ops[0], ast.Eq):
        return None
    call = cmp.left
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == entry_point):
        return None
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
        expected = ast.literal_eval(cmp.comparators[0])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if len(kwargs) != len(call.keywords):
        return None
    return IoCase(args, expected, kwargs)

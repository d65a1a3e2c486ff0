"""Tasks the user defines in the spec (template.text): a Jinja2 prompt over their rows, free text
or JSON with a schema, verified by the checks they declare (a regex, the JSON Schema, the
reference field compared exactly, numerically or fuzzily, a Python check(record) run in the
code sandbox, never in the worker), with the semantic validators and, where a model server is
configured, the LLM judge."""

from __future__ import annotations

import json
from typing import Any

from rapidfuzz import fuzz

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import Criterion, Rubric, SandboxNeeds, TaskFamily
from synthstream.agents.generation.tasks.template import TemplateTask
from synthstream.agents.verification.checks import Checked, _finish
from synthstream.streams.runtime.records import Reason

VERIFIER = "template.checks@1"


def _field(value: Any, path: str | None, text: str) -> Any:
    if path is None:
        return text
    node = value
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def _same(got: Any, reference: str, mode: str, min_ratio: float) -> bool:
    text = got if isinstance(got, str) else json.dumps(got)
    if mode == "numeric":  # the math verifier's reading: exact values in any notation (4.5 is 9/2)
        from synthstream.agents.generation.tasks.answers import NoAnswer, parse_canonical
        from synthstream.agents.generation.tasks.symbolic import equivalent

        try:
            return parse_canonical(str(text), "scalar") == parse_canonical(reference, "scalar")
        except NoAnswer:
            return equivalent(str(text), reference) is True
    a, b = " ".join(str(text).casefold().split()), " ".join(reference.casefold().split())
    return a == b if mode == "exact" else fuzz.ratio(a, b) >= min_ratio


def verify(gen: dict[str, Any], sandbox: Any = None, limits: Any = None) -> Checked:
    """Every declared check; a failed one vetoes (with what failed), a Python check's score in
    [0, 1] counts toward the score. With no check, a parsed output scores 1."""
    if gen.get("parse_error"):
        return Checked(False, 0.0, [Reason("output_invalid", gen["parse_error"])], VERIFIER, veto=True)
    declared = json.loads(gen.get("checks") or "{}")
    response = gen.get("response") or ""
    if not response.strip():
        return Checked(False, 0.0, [Reason("output_empty", "the model wrote nothing")], VERIFIER, veto=True)
    value = json.loads(response) if declared.get("output") == "json" else None
    critical: list[str] = []
    scores: list[float] = []
    for n, check in enumerate(declared.get("checks") or [], start=1):
        kind, where = check["type"], check.get("field")
        try:
            target = _field(value, where, response)
        except KeyError:
            critical.append(Reason("check_failed", f"check {n} ({kind}): the output has no field {where!r}"))
            scores.append(0.0)
            continue
        if kind == "regex":
            import re

            ok = re.search(check["pattern"], target if isinstance(target, str) else json.dumps(target)) is not None
            if not ok:
                critical.append(Reason("regex_mismatch", f"check {n}: {where or 'the output'} does not match "
                                                         f"{check['pattern']!r}"))
            scores.append(float(ok))
        elif kind == "reference":
            reference = gen.get("reference_answer")
            ok = reference is not None and _same(target, reference, check.get("mode", "exact"),
                                                 check.get("min_ratio", 90.0))
            if not ok:
                critical.append(Reason("reference_mismatch", f"check {n}: {str(target)[:80]!r} does not equal "
                                                             f"{str(reference)[:80]!r} ({check.get('mode', 'exact')})"))
            scores.append(float(ok))
        else:  # python: check(record) in the code sandbox
            if sandbox is None:
                critical.append(Reason("sandbox_unavailable", f"check {n} needs the code sandbox"))
                scores.append(0.0)
                continue
            from synthstream.agents.verification.sandbox.formats import call

            record = {"response": response, "json": value, "params": {"reference": gen.get("reference_answer")},
                      "problem": gen.get("problem")}
            status, got = call(sandbox, check["code"], "check", [record], limits or sandbox.limits)
            if status != "ok":
                critical.append(Reason("check_error", f"check {n} (python) {status}: {str(got)[:160]}"))
                scores.append(0.0)
                continue
            score = float(got) if isinstance(got, (bool, int, float)) else -1.0
            if not 0.0 <= score <= 1.0:
                critical.append(Reason("check_error", f"check {n} (python) returned {got!r}, not a bool or a score "
                                                      "in [0, 1]"))
                score = 0.0
            elif score == 0.0:
                critical.append(Reason("check_failed", f"check {n} (python) returned {got!r}"))
            scores.append(score)
    score = sum(scores) / len(scores) if scores else 1.0
    return _finish(critical, [], score, gen["threshold"], VERIFIER)


def judge_samples(gen: dict[str, Any], sandbox: Any = None, limits: Any = None) -> list[tuple[bool, str]] | None:
    """Each output drawn (``samples`` > 1) through the declared checks, as the record's own;
    None with one sample or no check to tell them apart."""
    outputs = gen.get("sample_answers") or []
    if len(outputs) < 2 or not json.loads(gen.get("checks") or "{}").get("checks"):
        return None
    out = []
    for output in outputs:
        if not output:
            out.append((False, "output_invalid: the sample never gave a valid output"))
            continue
        checked = verify(dict(gen, response=output, parse_error=None), sandbox, limits)
        out.append((checked.accepted, checked.reasons[0] if checked.reasons else f"checks_passed: score "
                                                                                f"{checked.score:.2f}"))
    return out


def sample_text(gen: dict[str, Any], i: int) -> str:
    return (gen.get("sample_answers") or [""] * (i + 1))[i]


FAMILY = TaskFamily(
    name="template",
    summary="your own tasks: a Jinja2 template over your rows, text or JSON, your checks",
    tasks=(TemplateTask(),),
    verify=verify,
    verifier=VERIFIER,
    gate_weights={"task": 1.0, "relevance": 0.05},
    # rows whose expected answers differ are different items however alike their wording ("the capital
    # of Peru? Lima" against "... of Spain? Madrid": fuzz.ratio 92); without a reference, one scope
    dedup=DedupFields(("problem", "response"), ("task", "reference_answer"), semantic=True),
    sandbox=SandboxNeeds(limit_params={}),
    judge_samples=judge_samples,
    sample_text=sample_text,
    rubric=Rubric((
        Criterion("instructions", "Does the reply do exactly what the user's message asks, in the form asked for?"),
        Criterion("correct", "Is what it says correct, with no invented facts?"),
    ), by_default=True),
)

"""The verification stage's gate, offline (``synthstream verify``): records from a JSONL file,
the same code path as the stage (``core.assess``, then ``core.verdict``), one verdict per line.

Input, one JSON object per line: ``id``, ``task`` (any task the registry knows), ``messages``
(chat format, user first), ``dimensions`` (e.g. topic, style, turns, domain), and for grounded QA
``grounding`` with ``context``, ``evidence``, ``question`` and ``answer``. Optional, for the tasks
whose verifiers read them: ``answer``, ``reference_answer``, ``steps``, ``samples``,
``sample_answers``, ``equation``, ``code`` (prompt, completion, test, entry_point) and
``threshold`` (default: the spec's for the task, else 0.85).

Output, one line per input line and in its order: ``id``, ``task``, ``accepted``,
``quality_score``, ``reasons`` (``{"code", "detail"}``) and ``validators`` (each validator's
name, version, score, weight, veto and reasons). A line that cannot be used is not skipped: it
gets ``accepted: false`` and the reason ``invalid_input`` saying what is wrong.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from synthstream.agents.deps import DatasetConfig
from synthstream.agents.families import REGISTRY, UnknownTask
from synthstream.agents.verification import core
from synthstream.agents.verification.sandbox import Sandbox
from synthstream.agents.verification.validators import Validator
from synthstream.streams.runtime.records import Generation, Reason

DEFAULT_THRESHOLD = 0.85
OFFLINE_DATASET = "offline"


class InvalidInput(ValueError):
    """What is wrong with an input line (the verdict's ``invalid_input`` detail)."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} must be a string, got {type(value).__name__}")
    return value


def to_generation(row: Any, number: int, threshold_for: Callable[[str], float],
                  dataset: str = OFFLINE_DATASET) -> Generation:
    """The Generation the stage would see for one input record; InvalidInput says what is missing."""
    if not isinstance(row, dict):
        raise InvalidInput(f"line {number} is not a JSON object")
    task = row.get("task")
    if not isinstance(task, str) or not task:
        raise InvalidInput(f"line {number} has no 'task'")
    try:
        REGISTRY.family_of(task)
    except UnknownTask:
        raise InvalidInput(f"unknown task {task!r}; the registry knows: {', '.join(sorted(REGISTRY.tasks))}") from None
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("'messages' must be a non-empty list of {role, content}")
    msgs = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise InvalidInput(f"messages[{i}] must be an object with role user, assistant or system")
        msgs.append({"role": m["role"], "content": _text(m.get("content"), f"messages[{i}].content")})
    dims = row.get("dimensions") or {}
    if not isinstance(dims, dict):
        raise InvalidInput("'dimensions' must be an object")
    dimensions = {str(k): str(v) for k, v in dims.items()}
    users = [m["content"] for m in msgs if m["role"] == "user"]
    replies = [m["content"] for m in msgs if m["role"] == "assistant"]
    grounding = row.get("grounding")
    if grounding is not None:
        if not isinstance(grounding, dict):
            raise InvalidInput("'grounding' must be an object")
        grounding = {"doc_id": str(grounding.get("doc_id", "")), "chunk": int(grounding.get("chunk") or 0),
                     **{k: _text(grounding.get(k, ""), f"grounding.{k}")
                        for k in ("context", "evidence", "question", "answer")}}
    code = row.get("code")
    if code is not None:
        if not isinstance(code, dict):
            raise InvalidInput("'code' must be an object")
        code = {k: _text(code.get(k, ""), f"the code sample's {k!r}")
                for k in ("prompt", "completion", "test", "entry_point")}
        code["spec_source"] = "offline"
    answer = row.get("answer")
    if answer is None:
        answer = grounding["answer"] if grounding else (replies[-1] if replies else "")
    threshold = row.get("threshold", threshold_for(task))
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold {threshold!r} is not a number in [0, 1]")

    def strings(name: str) -> list[str]:
        value = row.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"'{name}' must be a list of strings")
        return value

    ident = row.get("id")
    return Generation(
        prompt_id=str(ident) if ident is not None else f"line-{number}", task=task,
        problem=users[0] if users else "", equation=row.get("equation"), steps=strings("steps"),
        answer=_text(answer, "answer"), response=replies[-1] if replies else "",
        reference_answer=row.get("reference_answer"), dimensions=dimensions, threshold=float(threshold),
        checks=json.dumps(row["checks"]) if isinstance(row.get("checks"), dict) else row.get("checks"),
        lineage={"dataset": dataset, "dataset_version": "", "spec_hash": "", "producer_version": "",  # type: ignore
                 "generator": None, "model": None, "verifier": None, "prompted_at": 0, "generated_at": None,
                 "verified_at": None, "accepted_at": None},
        messages=msgs, samples=strings("samples"), sample_answers=strings("sample_answers"),
        code=code, grounding=grounding, usage=None, parse_error=None)  # type: ignore[typeddict-item]


def reasons_out(reasons: Iterable[str]) -> list[dict[str, str]]:
    return [{"code": r.code, "detail": r.detail} for r in map(Reason.read, reasons)]


@dataclass
class Summary:
    lines: int = 0
    invalid: int = 0
    per_task: Counter = field(default_factory=Counter)  # (task, "accepted" | "rejected")
    reasons: Counter = field(default_factory=Counter)  # reason code of rejected records (the first one)

    def add(self, verdict: dict[str, Any]) -> None:
        self.lines += 1
        kind = "accepted" if verdict["accepted"] else "rejected"
        self.per_task[(verdict["task"] or "(no task)", kind)] += 1
        if not verdict["accepted"] and verdict["reasons"]:
            code = verdict["reasons"][0]["code"]
            self.reasons[code] += 1
            self.invalid += code == "invalid_input"


async def verify_lines(lines: Iterable[str], config: DatasetConfig, validators: list[Validator],
                       sandbox_for: Callable[[], Sandbox | None], threshold_for: Callable[[str], float],
                       on_done: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """One verdict per non-blank input line, in order; ``on_done`` sees each as it is made.
    ``sandbox_for`` is asked for the sandbox only when a task runs code."""
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        verdict = await verify_line(line, number, config, validators, sandbox_for, threshold_for)
        out.append(verdict)
        if on_done is not None:
            on_done(verdict)
    return out


async def verify_line(line: str, number: int, config: DatasetConfig, validators: list[Validator],
                      sandbox_for: Callable[[], Sandbox | None], threshold_for: Callable[[str], float]) -> dict[str, Any]:
    row: Any = None
    try:
        row = json.loads(line)
        gen = to_generation(row, number, threshold_for, config.name)
    except (ValueError, TypeError) as exc:
        why = f"line {number} is not JSON ({exc})" if row is None else str(exc)
        ident = row.get("id") if isinstance(row, dict) else None
        task = row.get("task") if isinstance(row, dict) and isinstance(row.get("task"), str) else None
        return {"id": ident if ident is not None else f"line-{number}", "task": task, "accepted": False,
                "quality_score": 0.0, "reasons": [{"code": "invalid_input", "detail": why}], "validators": []}
    judge = config.judged(gen["task"])
    extra = [await judge.judge(gen)] if judge is not None else []
    sandbox = sandbox_for() if core.runs_code(gen["task"]) else None
    verifier, decision = core.assess(gen, config, sandbox, validators, extra)
    verified = core.verdict(gen, verifier, decision, config, 1, 0)
    v = verified.verdict
    return {"id": row.get("id", gen["prompt_id"]), "task": gen["task"], "accepted": v["accepted"],
            "quality_score": v["quality_score"], "threshold": v["threshold"], "verifier": verifier,
            "reasons": reasons_out(v["reasons"]),
            "validators": [dict(s, reasons=reasons_out(s["reasons"])) for s in v["validators"]]}

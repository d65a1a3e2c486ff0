"""The LLM judge: a model grades a record criterion by criterion, against its family's rubric.

Each task family declares its rubric (``TaskFamily.rubric``: for dialogue on topic, answers what
was asked, coherent, correct, in the requested style; for QA correct, supported by the passage,
complete; for math and code the explanation). The judge asks for one JSON object with an
integer from 1 to 5 per criterion and a one-sentence reason, as the server's structured output
(``response_format`` with a JSON schema) where the server accepts it, else by instruction; the
reply is parsed and validated, and a reply that does not validate is asked for once more with
what was wrong. Score = the mean of (grade - 1) / 4 over the criteria; a criterion graded at or
below ``veto_at`` (1: "fails it") vetoes; grades below 3 are reasons.

When the model cannot be reached, or twice gives no valid JSON, the judge *abstains*: its
judgement is reported with the reason and counts for nothing, so a judge outage neither rejects
nor accepts a record. Several judges (``JudgePanel``) are averaged over the ones that answered. Requests go through the model client with ``task="judge"``, so the
judge's requests, tokens and cost are in the model metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from synthstream.agents.generation.backends.client import BackendFailure, ModelReply, ModelRequest, Sampling
from synthstream.agents.verification.text_checks import transcript
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.streams.runtime.records import Reason

logger = logging.getLogger(__name__)

NAME, VERSION = "judge", "rubric-json@2"
Complete = Callable[[ModelRequest], Awaitable[ModelReply]]
INSTRUCTIONS = ("You grade one record of synthetic training data for a language model. Grade each criterion with "
                "an integer from 1 (fails it) to 5 (fully meets it). Be strict: fluent text that is wrong, off "
                "topic, unsupported by the passage, evasive or self-contradictory fails.")
GENERIC = (("quality", "Is the assistant's reply correct, on point and useful for what was asked?"),)


class Unreadable(ValueError):
    """What is wrong with a judge's reply (sent back to it once)."""


@dataclass(frozen=True)
class JudgeConfig:
    model: str | None = None  # None: the client's default
    api: str = "chat"
    guidance: str = ""  # the spec's own instructions, added to the built-in ones
    max_tokens: int = 256
    structured: bool = True  # ask for the JSON schema as the server's structured output
    veto_at: int = 1  # a criterion graded at or below this vetoes
    label: str = ""  # which judge, in reasons (a panel's member)


def criteria_for(gen: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(name, question) per criterion of the record's family, dimensions filled in."""
    from synthstream.agents.families import REGISTRY

    family = REGISTRY.get(gen.get("task", ""))
    rubric = family.rubric if family is not None else None
    if rubric is None:
        return GENERIC
    dims = {k: str(v).replace("_", " ") for k, v in (gen.get("dimensions") or {}).items()}
    out = []
    for c in rubric.criteria:
        try:
            question = c.question.format(**dims)
        except (KeyError, IndexError):  # a dimension this record does not have: leave that criterion out
            continue
        out.append((c.name, question))
    return tuple(out) or GENERIC


def schema(criteria: Sequence[tuple[str, str]]) -> dict[str, Any]:
    props: dict[str, Any] = {name: {"type": "integer", "minimum": 1, "maximum": 5} for name, _ in criteria}
    props["reason"] = {"type": "string"}
    return {"type": "object", "properties": props, "required": [*(n for n, _ in criteria), "reason"],
            "additionalProperties": False}


def read_grades(text: str, criteria: Sequence[tuple[str, str]]) -> tuple[dict[str, int], str]:
    """The grades and the reason in a reply; Unreadable says what is wrong."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise Unreadable("no JSON object in the reply")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise Unreadable(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise Unreadable("the JSON is not an object")
    grades = {}
    for name, _ in criteria:
        value = data.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise Unreadable(f"{name!r} must be an integer from 1 to 5, got {value!r}")
        grades[name] = value
    reason = data.get("reason")
    return grades, reason.strip() if isinstance(reason, str) else ""


def judgement_of(grades: dict[str, int], why: str, veto_at: int, label: str = "") -> Judgement:
    score = clamp(sum((g - 1) / 4 for g in grades.values()) / len(grades))
    who = f"{label}: " if label else ""
    low = [f"{n} {g}/5" for n, g in grades.items() if g < 3]
    failed = [n for n, g in grades.items() if g <= veto_at]
    reasons = []
    if failed:
        reasons.append(Reason("judge_fail", f"{who}{', '.join(low)}: {why}"[:300]))
    elif low:
        reasons.append(Reason("judge_low", f"{who}{', '.join(low)}: {why}"[:300]))
    return Judgement(NAME, VERSION, score, reasons, veto=bool(failed))


class JudgeValidator:
    name, version = NAME, VERSION

    def __init__(self, complete: Complete, config: JudgeConfig = JudgeConfig()) -> None:
        self.complete = complete
        self.config = config
        self.structured = config.structured and config.api == "chat"

    def request(self, gen: dict[str, Any], criteria: Sequence[tuple[str, str]],
                retry: tuple[str, str] | None = None) -> ModelRequest:
        sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=self.config.max_tokens, seed=0)
        keys = ", ".join(f'"{n}": 1-5' for n, _ in criteria)
        system = " ".join(p for p in (INSTRUCTIONS, self.config.guidance) if p)
        system += f' Reply with one JSON object only: {{{keys}, "reason": "one sentence on the lowest grade"}}.'
        body = "Criteria:\n" + "\n".join(f"- {n}: {q}" for n, q in criteria) + f"\n\nRecord:\n{transcript(gen)}"
        context = (gen.get("grounding") or {}).get("context")
        if context and context not in body:  # a grounded record is judged against its passage
            body += f"\n\nPassage the record must be grounded in:\n{context}"
        if self.config.api == "completion":
            prompt = f"{system}\n\n{body}\n\n"
            if retry is not None:
                prompt += f"{retry[0]}\n\nThat reply is not valid: {retry[1]}. The JSON object only:\n"
            return ModelRequest(task="judge", api="completion", sampling=sampling, model=self.config.model,
                                prompt=prompt + "JSON: ")
        messages: tuple[dict[str, str], ...] = ({"role": "system", "content": system}, {"role": "user", "content": body})
        if retry is not None:
            messages += ({"role": "assistant", "content": retry[0]},
                         {"role": "user", "content": f"That reply is not valid: {retry[1]}. Reply with the JSON "
                                                     "object only."})
        fmt = {"type": "json_schema", "json_schema": {"name": "grades", "strict": True, "schema": schema(criteria)}}
        return ModelRequest(task="judge", api="chat", sampling=sampling, model=self.config.model, messages=messages,
                            response_format=fmt if self.structured else None)

    async def _ask(self, request: ModelRequest) -> str:
        try:
            reply = await self.complete(request)
        except BackendFailure as exc:
            if request.response_format is None or exc.reason != "backend_rejected":
                raise
            # a server that does not take response_format: ask by instruction from now on
            logger.warning("the judge's server refused structured output (%s); asking for JSON by instruction",
                           exc.detail[:200])
            self.structured = False
            reply = await self.complete(replace(request, response_format=None))
        return (reply.texts or [""])[0].strip()

    async def judge(self, gen: dict[str, Any]) -> Judgement:
        criteria = criteria_for(gen)
        label = self.config.label
        try:
            text = await self._ask(self.request(gen, criteria))
            try:
                grades, why = read_grades(text, criteria)
            except Unreadable as first:
                text = await self._ask(self.request(gen, criteria, retry=(text[:2000], str(first))))
                grades, why = read_grades(text, criteria)
        except BackendFailure as exc:
            return Judgement(NAME, VERSION, 0.0, [Reason("judge_unavailable", f"{label + ': ' if label else ''}"
                                                                             f"{exc.detail[:200]}")], abstain=True)
        except Unreadable as exc:
            return Judgement(NAME, VERSION, 0.0, [Reason("judge_unreadable", f"{label + ': ' if label else ''}{exc} "
                                                                            f"(twice): {text[:120]!r}")], abstain=True)
        return judgement_of(grades, why, self.config.veto_at, label)


class JudgePanel:
    """Several judges (another model, another server each): the score is the mean of the scores of
    those that answered, a veto needs most of them; it abstains only when every judge did."""

    name, version = NAME, VERSION

    def __init__(self, judges: Sequence[JudgeValidator | UnreachableJudge], veto_at: int = 1) -> None:
        if not judges:
            raise ValueError("a judge panel needs at least one judge")
        self.judges = list(judges)
        self.veto_at = veto_at

    async def judge(self, gen: dict[str, Any]) -> Judgement:
        if len(self.judges) == 1:
            return await self.judges[0].judge(gen)
        results = await asyncio.gather(*(j.judge(gen) for j in self.judges))
        answered = [r for r in results if not r.abstain]
        if not answered:
            return Judgement(NAME, VERSION, 0.0, [r for res in results for r in res.reasons][:4], abstain=True)
        score = clamp(sum(r.score for r in answered) / len(answered))
        reasons = [r for res in results for r in res.reasons]
        veto = sum(r.veto for r in answered) * 2 > len(answered)  # most of the judges that answered fail it
        return Judgement(NAME, VERSION, score, reasons, veto=veto)


class UnreachableJudge:
    """Stands in for a judge whose server did not answer at start (``synthstream verify``): every
    record gets an immediate abstention with the reason instead of waiting out the retries."""

    name, version = NAME, VERSION

    def __init__(self, why: str) -> None:
        self.why = why

    async def judge(self, gen: dict[str, Any]) -> Judgement:
        return Judgement(NAME, VERSION, 0.0, [Reason("judge_unavailable", self.why[:200])], abstain=True)

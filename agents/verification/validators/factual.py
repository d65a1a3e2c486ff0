"""The seed's FactualValidator (its ``assess_factual_accuracy``): claims checked against a
reference knowledge base of subject / relation / object facts.

A sentence speaks about a fact when it names the subject (or an alias) and one of the relation's
cue words. A numeric fact is supported when a number in the sentence matches it (years exactly,
other values within 2 %), contradicted when the sentence gives another number of the same order
of magnitude and none that matches; a text fact is supported when the object appears, and
contradicted when one of its known confusions does instead. The score is the supported share of
checked facts; a contradiction vetoes. With nothing to check it gives no judgement at all (the seed
scores that 1.0, which would raise the combined score of every record the KB knows nothing about).

The knowledge base is JSONL, one fact per line: ``subject``, ``relation``, ``object`` (required),
``aliases``, ``cues``, ``kind`` (``text`` or ``number``), ``contradicts``, ``source``. A small one
about the bundled QA corpus ships with the project; bring your own with
``SYNTHSTREAM_VERIFY_KNOWLEDGE_BASE``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthstream.streams.runtime.errors import ConfigError
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.agents.verification.validators.lexical import NUMBER
from synthstream.streams.runtime.records import Reason

NAME, VERSION = "factual", "kb-claims@1"
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "facts.jsonl"
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    object: str
    names: tuple[str, ...]  # subject and aliases, lower case
    cues: tuple[str, ...]
    kind: str = "text"
    contradicts: tuple[str, ...] = ()
    source: str = ""

    def describe(self) -> str:
        return f"{self.subject} {self.relation} = {self.object}"


def load_kb(path: Path = BUNDLED) -> list[Fact]:
    """Facts from a JSONL file; ConfigError naming the file and line for anything malformed."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the knowledge base {path}: {exc.strerror}") from exc
    facts = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            subject, relation, obj = (str(row[k]).strip() for k in ("subject", "relation", "object"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: a fact needs subject, relation and object as JSON ({exc})") from exc
        kind = row.get("kind", "text")
        if kind not in ("text", "number") or not (subject and relation and obj):
            raise ConfigError(f"{path}:{n}: kind must be 'text' or 'number' and subject/relation/object non-empty")
        if kind == "number" and _to_number(obj) is None:
            raise ConfigError(f"{path}:{n}: object {obj!r} of a number fact is not a number")
        names = tuple(s.lower() for s in [subject, *row.get("aliases", [])])
        cues = tuple(c.lower() for c in row.get("cues") or relation.replace("_", " ").split())
        facts.append(Fact(subject, relation, obj, names, cues, kind,
                          tuple(c.lower() for c in row.get("contradicts", [])), str(row.get("source", ""))))
    return facts


def _to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(phrase)}(?![\w])", text) is not None


def check(fact: Fact, sentence: str) -> str | None:
    """'supported', 'contradicted', or None when the sentence does not speak about the fact."""
    low = sentence.lower()
    if not any(_mentions(low, n) for n in fact.names) or not any(c in low for c in fact.cues):
        return None
    if fact.kind == "number":
        truth = float(fact.object.replace(",", ""))
        said = [v for v in (_to_number(m) for m in NUMBER.findall(low)) if v is not None]
        year = "year" in fact.relation
        if any((v == truth) if year else abs(v - truth) <= 0.02 * abs(truth) for v in said):
            return "supported"
        near = [v for v in said if truth / 2 <= v <= truth * 2 and v != truth]
        return "contradicted" if near else None
    if fact.object.lower() in low:
        return "supported"
    return "contradicted" if any(_mentions(low, c) for c in fact.contradicts) else None


def claims(gen: dict[str, Any]) -> list[str]:
    """The sentences a record asserts: a QA pair as one claim, a dialogue's assistant sentences."""
    g = gen.get("grounding")
    if g:
        return [f"{g.get('question', '').rstrip('?')} {g.get('answer', '')}"]
    said = [m["content"] for m in gen.get("messages") or [] if m.get("role") == "assistant"]
    return [s for text in said for s in _SENTENCE.split(text) if s.strip()]


class FactualValidator:
    name, version = NAME, VERSION

    def __init__(self, facts: list[Fact] | None = None) -> None:
        self.facts = load_kb() if facts is None else facts

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        if not (gen.get("grounding") or gen.get("messages")):
            return None
        supported, reasons = 0, []
        for sentence in claims(gen):
            for fact in self.facts:
                verdict = check(fact, sentence)
                if verdict == "supported":
                    supported += 1
                elif verdict == "contradicted":
                    reasons.append(Reason("fact_contradicted", f"{sentence.strip()[:120]!r} disagrees with "
                                   f"{fact.describe()} ({fact.source or 'knowledge base'})"))
        checked = supported + len(reasons)
        if not checked:
            return None
        return Judgement(NAME, VERSION, clamp(supported / checked), reasons, veto=bool(reasons))

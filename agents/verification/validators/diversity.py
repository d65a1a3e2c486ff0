"""The seed's DiversityValidator: lexical diversity of one record's text.

The seed's ``calculate_diversity_score`` counts unique 1-, 2- and 3-grams over all n-grams; here it
is computed per record (over the assistant's text), so a record that loops on itself ("the answer
is the answer is ...") scores low wherever it appears.
"""

from __future__ import annotations

from typing import Any

from synthstream.agents.verification.text_checks import words
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.streams.runtime.records import Reason

NAME, VERSION = "diversity", "distinct-123@1"
TARGET = 0.6  # distinct-1/2/3 at or above this scores 1
MIN_WORDS = 12  # shorter texts say little about diversity


def distinct_123(tokens: list[str]) -> float:
    unique: set[tuple[str, ...]] = set()
    total = 0
    for n in (1, 2, 3):
        grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        unique.update(grams)
        total += len(grams)
    return len(unique) / total if total else 0.0


def assistant_text(gen: dict[str, Any]) -> str:
    msgs = gen.get("messages") or []
    said = [m["content"] for m in msgs if m.get("role") == "assistant"]
    if said:
        return "\n".join(said)
    return str(gen.get("response") or "")


class DiversityValidator:
    name, version = NAME, VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        tokens = words(assistant_text(gen))
        if len(tokens) < MIN_WORDS:
            return None
        ratio = distinct_123(tokens)
        reasons = [] if ratio >= TARGET else [Reason("low_diversity", f"distinct-1/2/3 {ratio:.2f} < {TARGET:.2f}")]
        return Judgement(NAME, VERSION, clamp(ratio / TARGET), reasons)

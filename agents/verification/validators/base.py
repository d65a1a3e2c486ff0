"""The one small interface every validator has: a score in [0, 1] and the reasons for it.

A validator looks at one Generation and returns a :class:`Judgement`, or ``None`` when it has
nothing to say about that kind of record (a style check on a math solution). ``veto`` marks a
failure no weighting may outvote: a wrong answer, failing tests, a fact the knowledge base
contradicts. ``abstain`` marks a validator that could not judge (its reasons say why). The gate (``gate.py``) combines the judgements with the spec's weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Judgement:
    name: str  # the validator's name, as weights in the spec refer to it
    version: str
    score: float
    reasons: list[str] = field(default_factory=list)
    veto: bool = False
    abstain: bool = False  # it could not judge (a judge model that did not answer): reported, never counted

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"{self.name}: score {self.score} is outside [0, 1]")


class Validator(Protocol):
    name: str
    version: str

    def validate(self, gen: dict[str, Any]) -> Judgement | None: ...


def clamp(score: float) -> float:
    return round(min(1.0, max(0.0, score)), 6)

"""The quality gate: validators' scores combined with per-task weights, against a threshold.

Combined score = the weighted mean of the judgements whose weight is above zero (a validator with
nothing to say about a record, weight 0, or that abstained, does not count). Accepted = no counted validator vetoed
and the combined score reaches the threshold (the spec's, 0.85 by default as in the seed). Every
judgement, counted or not, goes into the Verdict with its weight, so a trainer can re-filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.streams.runtime.records import Reason

#: every validator a gate can weigh (the weights' defaults are each task family's)
KNOWN = ("task", "factual", "style", "diversity", "judge",
         "topic", "relevance", "coherence", "novelty", "triviality", "roles",  # conversations (semantic.py)
         "answer_type", "answer_support", "answer_complete", "answer_relevance",  # grounded QA (grounded.py)
         "passage_support")  # grounded dialogues (grounded_dialogue.py)


@dataclass(frozen=True)
class Decision:
    accepted: bool
    score: float
    reasons: list[str]
    scores: list[dict] = field(default_factory=list)  # ValidatorScore records for the Verdict
    abstained: list[str] = field(default_factory=list)  # validators that could not judge (no model, no judge)


def decide(judgements: Sequence[Judgement | None], weights: Mapping[str, float], threshold: float) -> Decision:
    """The gate's decision; reasons start with those of the validators that vetoed (task first),
    then the other counted validators' own, so the first reason is why a record was rejected."""
    present = [j for j in judgements if j is not None]
    counted = [(j, float(weights.get(j.name, 0.0))) for j in present if weights.get(j.name, 0.0) > 0 and not j.abstain]
    total = sum(w for _, w in counted)
    score = clamp(sum(j.score * w for j, w in counted) / total) if total else 0.0
    veto = any(j.veto for j, _ in counted)
    ordered = [j for j, _ in counted if j.veto] + [j for j, _ in counted if not j.veto]  # a veto's reason leads
    reasons = [r for j in ordered for r in map(Reason.read, j.reasons) if r.code != "below_threshold"]
    if not counted:
        reasons.append(Reason("no_validator", "no validator with a weight above 0 judged this record"))
    elif not veto and score < threshold:
        reasons.append(Reason("below_threshold", f"score {score:.3f} < {threshold:.3f}"))
    scores = [{"name": j.name, "version": j.version, "score": j.score, "weight": float(weights.get(j.name, 0.0)),
               "veto": j.veto, "reasons": list(j.reasons)} for j in present]
    return Decision(bool(counted) and not veto and score >= threshold, score, reasons, scores,
                    [j.name for j in present if j.abstain])

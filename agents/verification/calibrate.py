"""The gate calibrated by people: reviewers' labels against the gate's verdicts, per task.

Input: pairs of a reviewer's label (accept or reject) and the Verdict the gate gave the same
record (from the human-review topic, which holds the whole verdict with every validator's score).
Output per task:

- the gate's precision (of the records it accepted, the share reviewers accept) and recall (of
  the records reviewers accept, the share it accepted), with the counts;
- per validator, how well its score orders the records the way reviewers do (AUC: the chance
  that a record reviewers accept scores above one they reject; 0.5 is no better than chance) and,
  for a validator that vetoed anything, Cohen's kappa between "not vetoed" and "reviewer accepts";
- the lowest threshold on the quality score at which the records the gate would accept (not
  vetoed, score at or above it) reach a target precision, and the recall there; None when no
  threshold reaches it.

Pure: no Kafka. ``synthstream review calibrate`` feeds it and can write the thresholds into a copy
of the spec.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

MIN_LABELS = 10  # fewer labels than this for a task: figures are shown, no threshold is suggested


@dataclass(frozen=True)
class Labelled:
    prompt_id: str
    task: str
    human_accepts: bool
    gate_accepted: bool
    score: float
    vetoed: bool  # some counted validator vetoed it (the threshold cannot accept it)
    validators: Mapping[str, tuple[float, bool]]  # name -> (score, veto)


def labelled(label: str, verdict: Mapping[str, Any]) -> Labelled:
    scores = {s["name"]: (float(s["score"]), bool(s["veto"])) for s in verdict.get("validators") or []}
    vetoed = any(s["veto"] and s["weight"] > 0 for s in verdict.get("validators") or [])
    return Labelled(verdict["prompt_id"], verdict["generation"]["task"], label == "accept", bool(verdict["accepted"]),
                    float(verdict["quality_score"]), vetoed, scores)


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a positive scores above a negative), ties half; None without both kinds."""
    if not positives or not negatives:
        return None
    ranked = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum, i = 0.0, 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        avg = (i + j + 1) / 2  # ranks are 1-based
        rank_sum += avg * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two yes/no ratings of the same items; None when it is undefined."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return None if expected == 1 else (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class ValidatorAgreement:
    name: str
    n: int
    auc: float | None
    vetoes: int
    kappa: float | None  # of "not vetoed" against the reviewers' accept; None when it never vetoed


@dataclass(frozen=True)
class TaskCalibration:
    task: str
    labels: int
    human_accepts: int
    gate_accepts: int
    both_accept: int
    precision: float | None  # of the gate's accepts
    recall: float | None  # of the reviewers' accepts
    validators: list[ValidatorAgreement] = field(default_factory=list)
    threshold: float | None = None  # for the target precision
    threshold_precision: float | None = None
    threshold_recall: float | None = None
    note: str = ""


def suggest_threshold(rows: list[Labelled], target: float) -> tuple[float, float, float] | None:
    """(threshold, precision, recall) with the lowest threshold whose would-be accepts reach
    ``target`` precision; None when none does."""
    liked = sum(r.human_accepts for r in rows)
    candidates = sorted({r.score for r in rows if not r.vetoed})
    for t in candidates:  # lowest first: the most recall at the target
        chosen = [r for r in rows if not r.vetoed and r.score >= t]
        good = sum(r.human_accepts for r in chosen)
        if chosen and good / len(chosen) >= target:
            return t, good / len(chosen), (good / liked if liked else 0.0)
    return None


def calibrate(rows: Iterable[Labelled], target_precision: float) -> list[TaskCalibration]:
    by_task: dict[str, list[Labelled]] = defaultdict(list)
    for r in rows:
        by_task[r.task].append(r)
    out = []
    for task, items in sorted(by_task.items()):
        human = sum(r.human_accepts for r in items)
        gate = sum(r.gate_accepted for r in items)
        both = sum(r.human_accepts and r.gate_accepted for r in items)
        agreements = []
        for name in sorted({n for r in items for n in r.validators}):
            judged = [r for r in items if name in r.validators]
            pos = [r.validators[name][0] for r in judged if r.human_accepts]
            neg = [r.validators[name][0] for r in judged if not r.human_accepts]
            vetoes = sum(r.validators[name][1] for r in judged)
            k = kappa([not r.validators[name][1] for r in judged], [r.human_accepts for r in judged]) if vetoes else None
            agreements.append(ValidatorAgreement(name, len(judged), auc(pos, neg), vetoes, k))
        cal = TaskCalibration(task, len(items), human, gate, both, both / gate if gate else None,
                              both / human if human else None, agreements)
        if len(items) < MIN_LABELS:
            cal = replace(cal, note=f"{len(items)} labels; {MIN_LABELS} are needed to suggest a threshold")
        else:
            found = suggest_threshold(items, target_precision)
            if found is None:
                cal = replace(cal, note=f"no threshold reaches precision {target_precision:.2f}: the records reviewers "
                                      "reject score as high as those they accept (see the validators' AUC)")
            else:
                cal = replace(cal, threshold=found[0], threshold_precision=found[1], threshold_recall=found[2])
        out.append(cal)
    return out


def join(labels: Iterable[tuple[str, str]], verdicts: Mapping[str, Mapping[str, Any]]) -> tuple[list[Labelled], int]:
    """(the labels whose verdict is known, how many have none): ``labels`` are (prompt_id,
    label) with the latest label per prompt winning; ``verdicts`` by prompt id."""
    latest = dict(labels)
    rows, missing = [], 0
    for prompt_id, label in latest.items():
        verdict = verdicts.get(prompt_id)
        if verdict is None:
            missing += 1
            continue
        rows.append(labelled(label, verdict))
    return rows, missing

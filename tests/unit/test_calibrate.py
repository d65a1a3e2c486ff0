"""`synthstream review calibrate`'s core: the gate's precision and recall against reviewers, each
validator's agreement, and the threshold that meets a target precision, on planted labels whose
figures are worked out by hand below."""

from __future__ import annotations

import pytest

from synthstream.agents.verification.calibrate import auc, calibrate, join, kappa, labelled
from tests.records import GENERATION, VERDICT

# (score, the reviewer's label, vetoed by 'novelty'); the gate's threshold is 0.85
PLANTED = [(0.95, "accept", False), (0.92, "accept", False), (0.90, "reject", False), (0.88, "accept", False),
           (0.86, "accept", False), (0.80, "accept", False), (0.75, "reject", False), (0.70, "reject", False),
           (0.60, "reject", False), (0.97, "reject", True)]


def verdict(i: int, score: float, vetoed: bool, task: str = "dialogue.chat") -> dict:
    validators = [{"name": "task", "version": "v", "score": 1.0, "weight": 0.6, "veto": False, "reasons": []},
                  {"name": "relevance", "version": "v", "score": score, "weight": 0.4, "veto": False, "reasons": []},
                  {"name": "novelty", "version": "v", "score": 0.0 if vetoed else 1.0, "weight": 0.05,
                   "veto": vetoed, "reasons": []}]
    return dict(VERDICT, prompt_id=f"p{i}", accepted=not vetoed and score >= 0.85, quality_score=score,
                generation=dict(GENERATION, prompt_id=f"p{i}", task=task), validators=validators)


def planted(task: str = "dialogue.chat", rows=PLANTED) -> tuple[list[tuple[str, str]], dict[str, dict]]:
    labels = [(f"p{i}", label) for i, (_, label, _) in enumerate(rows)]
    verdicts = {f"p{i}": verdict(i, s, v, task) for i, (s, _, v) in enumerate(rows)}
    return labels, verdicts


def test_precision_recall_agreement_and_the_threshold_for_a_target() -> None:
    rows, missing = join(*planted())
    assert missing == 0 and len(rows) == 10
    (c,) = calibrate(rows, 0.95)
    # the gate accepts 0.95, 0.92, 0.90, 0.88, 0.86; reviewers reject 0.90 of those and accept 0.80 too
    assert (c.labels, c.human_accepts, c.gate_accepts, c.both_accept) == (10, 5, 5, 4)
    assert c.precision == pytest.approx(0.8) and c.recall == pytest.approx(0.8)
    # lowest threshold with precision >= 0.95 among the not-vetoed: 0.92 (0.95 and 0.92, both accepted)
    assert (c.threshold, c.threshold_precision, c.threshold_recall) == (0.92, 1.0, pytest.approx(0.4))
    by_name = {v.name: v for v in c.validators}
    # relevance's score orders 17 of the 25 (accepted, rejected) pairs rightly
    assert by_name["relevance"].auc == pytest.approx(17 / 25) and by_name["relevance"].kappa is None
    # novelty vetoed the one 0.97 record reviewers reject: observed agreement 0.6, chance 0.5
    assert by_name["novelty"].vetoes == 1 and by_name["novelty"].kappa == pytest.approx(0.2)
    (lenient,) = calibrate(rows, 0.8)
    assert (lenient.threshold, lenient.threshold_precision, lenient.threshold_recall) == (
        0.80, pytest.approx(5 / 6), 1.0)


def test_too_few_labels_or_an_unreachable_target_say_so() -> None:
    few, _ = join(*planted("qa.grounded", PLANTED[:3]))
    (c,) = calibrate(few, 0.95)
    assert c.threshold is None and c.note == "3 labels; 10 are needed to suggest a threshold"
    inverted = [(s, "reject" if label == "accept" else "accept", v) for s, label, v in PLANTED]
    inverted[0] = (0.99, "reject", False)
    rows, _ = join(*planted("qa.grounded", inverted))
    (c,) = calibrate(rows, 0.95)
    assert c.threshold is None and c.note.startswith("no threshold reaches precision 0.95")


def test_the_latest_label_wins_and_labels_without_their_verdict_are_counted() -> None:
    labels, verdicts = planted()
    labels = [*labels, ("p0", "reject"), ("gone", "accept")]
    rows, missing = join(labels, verdicts)
    assert missing == 1 and next(r for r in rows if r.prompt_id == "p0").human_accepts is False


def test_auc_and_kappa_edge_cases() -> None:
    assert auc([1.0, 1.0], [1.0]) == 0.5  # ties count half
    assert auc([0.9], []) is None
    assert kappa([True, True], [True, True]) is None  # no variation: undefined
    assert kappa([True, False], [True, False]) == 1.0
    assert labelled("accept", verdict(0, 0.9, True)).vetoed

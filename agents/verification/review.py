"""Human review sampling (the seed's "periodic human evaluation"): which verdicts people see, what
a reviewer's sheet holds, and how their labels are read back and compared with the gate.

Pure: the sample is chosen by a hash of the prompt id, so it needs no state and a replayed verdict
is sampled again (and keyed by prompt id, so reviewers still see it once).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import xxhash

from synthstream.agents.verification.text_checks import transcript
from synthstream.streams.runtime.records import ReviewLabel

LABELS = ("accept", "reject")
COLUMNS = ("prompt_id", "task", "gate", "quality_score", "reasons", "dimensions", "content", "label", "note",
           "reviewer")
SCALE = 1 << 64


def sampled(prompt_id: str, fraction: float) -> bool:
    """True for about ``fraction`` of prompt ids, always the same ones."""
    return fraction > 0 and xxhash.xxh3_64_intdigest(prompt_id.encode()) < fraction * SCALE


def content(gen: dict[str, Any]) -> str:
    """What a reviewer reads: the conversation, and the code's test or the QA evidence with it."""
    parts = [transcript(gen, "\n\n")]
    if gen.get("code"):
        parts.append(f"TESTS:\n{gen['code']['test']}")
    if gen.get("grounding"):
        g = gen["grounding"]
        parts.append(f"PASSAGE: {g.get('context', '')}\nEVIDENCE: {g.get('evidence', '')}")
    if gen.get("reference_answer"):
        parts.append(f"REFERENCE ANSWER: {gen['reference_answer']}")
    return "\n\n".join(parts)


def sheet_row(verdict: dict[str, Any]) -> dict[str, Any]:
    """One row of the reviewers' sheet; label, note and reviewer are theirs to fill in."""
    gen = verdict["generation"]
    return {"prompt_id": verdict["prompt_id"], "task": gen["task"],
            "gate": "accept" if verdict["accepted"] else "reject", "quality_score": round(verdict["quality_score"], 4),
            "reasons": "; ".join(verdict["reasons"]), "dimensions": json.dumps(gen["dimensions"], sort_keys=True),
            "content": content(gen), "label": "", "note": "", "reviewer": ""}


class BadRow(ValueError):
    """A row of a labelled sheet that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class Label:
    prompt_id: str
    task: str
    label: str
    gate_accepted: bool
    quality_score: float
    reviewer: str | None
    note: str | None

    @property
    def agrees(self) -> bool:
        return (self.label == "accept") == self.gate_accepted

    def record(self, labelled_at: int) -> ReviewLabel:
        return ReviewLabel(prompt_id=self.prompt_id, task=self.task, label=self.label,
                           gate_accepted=self.gate_accepted, quality_score=self.quality_score,
                           reviewer=self.reviewer, note=self.note, labelled_at=labelled_at)


def read_label(row: dict[str, Any], where: str, default_reviewer: str | None = None) -> Label | None:
    """The row's label; None when the reviewer left it empty; BadRow for anything unreadable."""
    label = str(row.get("label") or "").strip().lower()
    if not label:
        return None
    if label not in LABELS:
        raise BadRow(f"{where}: label {label!r} is not one of {', '.join(LABELS)} (or empty to skip)")
    missing = [c for c in ("prompt_id", "task", "gate") if not str(row.get(c) or "").strip()]
    if missing:
        raise BadRow(f"{where}: column(s) {missing} are empty; keep the exported columns as they are")
    gate = str(row["gate"]).strip().lower()
    if gate not in LABELS:
        raise BadRow(f"{where}: gate {gate!r} is not accept or reject; keep the exported columns as they are")
    try:
        score = float(row.get("quality_score") or 0.0)
    except ValueError as exc:
        raise BadRow(f"{where}: quality_score {row.get('quality_score')!r} is not a number") from exc
    reviewer = str(row.get("reviewer") or "").strip() or default_reviewer
    note = str(row.get("note") or "").strip() or None
    return Label(str(row["prompt_id"]).strip(), str(row["task"]).strip(), label, gate == "accept", score,
                 reviewer, note)


class Agreement:
    """How often reviewers' labels agree with the gate's decision, per task and over all tasks
    under '*', counted as labels arrive (the review agent) or over a sheet (``agreement``)."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, int]] = {}  # task -> (agreeing, labelled)

    def add(self, task: str, agrees: bool) -> float:
        """Count one label; the task's agreement so far."""
        for key in (task, "*"):
            agree, total = self.counts.get(key, (0, 0))
            self.counts[key] = (agree + agrees, total + 1)
        agree, total = self.counts[task]
        return agree / total


def agreement(labels: list[Label]) -> dict[str, tuple[int, int]]:
    """(agreeing, labelled) per task, and over all tasks under '*'."""
    tally = Agreement()
    for lab in labels:
        tally.add(lab.task, lab.agrees)
    return tally.counts

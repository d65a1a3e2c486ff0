"""Human review sampling, the reviewers' sheet, and labels read back (pure parts and files)."""

from __future__ import annotations

import csv
import re
import json
from pathlib import Path

import pytest

from synthstream.agents.verification.review import BadRow, agreement, read_label, sampled, sheet_row
from synthstream.streams.runtime.errors import ConfigError
from synthstream.streams.app.review_io import read_sheet
from tests.records import CODE, GENERATION, VERDICT


def test_sampling_is_stable_and_close_to_the_fraction() -> None:
    ids = [f"demo-run-{i:06d}" for i in range(20_000)]
    picked = [i for i in ids if sampled(i, 0.05)]
    assert 0.045 <= len(picked) / len(ids) <= 0.055
    assert picked == [i for i in ids if sampled(i, 0.05)]  # a replay picks the same
    assert set(picked) <= {i for i in ids if sampled(i, 0.2)}  # a larger fraction keeps the smaller sample
    assert not any(sampled(i, 0.0) for i in ids[:100]) and all(sampled(i, 1.0) for i in ids[:100])


def test_a_sheet_row_shows_what_a_reviewer_needs() -> None:
    row = sheet_row(dict(VERDICT, accepted=False, reasons=["answer_wrong: x", "samples_disagree: y"],
                         generation=dict(GENERATION, code=CODE)))
    assert row["gate"] == "reject" and row["reasons"] == "answer_wrong: x; samples_disagree: y"
    assert row["content"].startswith("USER: Solve for x: 2*x + 1 = 5\n\nASSISTANT: Step 1")
    assert "TESTS:\ndef check(candidate)" in row["content"] and "REFERENCE ANSWER: 2" in row["content"]
    assert (row["label"], row["note"], row["reviewer"]) == ("", "", "")


BASE = {"prompt_id": "p1", "task": "math.linear", "gate": "accept", "quality_score": "0.9", "label": "Reject",
        "note": " wrong step ", "reviewer": ""}


def test_labels_read_back_and_agreement() -> None:
    lab = read_label(BASE, "s.csv:2", default_reviewer="ana")
    assert (lab.label, lab.gate_accepted, lab.reviewer, lab.note, lab.agrees) == ("reject", True, "ana", "wrong step", False)
    assert read_label(dict(BASE, label=""), "s.csv:3") is None
    other = read_label(dict(BASE, prompt_id="p2", task="qa.grounded", label="accept"), "s.csv:4")
    assert agreement([lab, other]) == {"math.linear": (0, 1), "qa.grounded": (1, 1), "*": (1, 2)}


@pytest.mark.parametrize("row, message", [
    (dict(BASE, label="maybe"), "s.csv:9: label 'maybe' is not one of accept, reject"),
    (dict(BASE, prompt_id=""), "s.csv:9: column(s) ['prompt_id'] are empty"),
    (dict(BASE, gate="ok"), "s.csv:9: gate 'ok' is not accept or reject"),
    (dict(BASE, quality_score="high"), "s.csv:9: quality_score 'high' is not a number"),
])
def test_a_bad_row_says_where_and_why(row: dict, message: str) -> None:
    with pytest.raises(BadRow, match=re.escape(message)):
        read_label(row, "s.csv:9")


def test_sheets_in_csv_and_jsonl_list_bad_rows_and_count_empty_ones(tmp_path: Path) -> None:
    rows = [sheet_row(dict(VERDICT, prompt_id=f"p{i}")) for i in range(4)]
    rows[0]["label"], rows[1]["label"], rows[2]["label"] = "accept", "nope", "reject"
    path = tmp_path / "s.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    res = read_sheet(path, reviewer="bo")
    assert [lab.prompt_id for lab in res.labels] == ["p0", "p2"] and res.skipped == 1
    assert res.bad == ["s.csv:3: label 'nope' is not one of accept, reject (or empty to skip)"]
    assert all(lab.reviewer == "bo" for lab in res.labels)
    jl = tmp_path / "s.jsonl"
    jl.write_text(json.dumps(rows[0]) + "\n{broken\n" + json.dumps(rows[2]) + "\n")
    res = read_sheet(jl)
    assert len(res.labels) == 2 and res.bad[0].startswith("s.jsonl:2: not JSON")
    with pytest.raises(ConfigError, match="use a .csv or .jsonl file"):
        read_sheet(tmp_path / "s.xlsx")
    (tmp_path / "h.csv").write_text("id,label\n1,accept\n")
    with pytest.raises(ConfigError, match=r"the header lacks column\(s\) \['prompt_id', 'task', 'gate'\]"):
        read_sheet(tmp_path / "h.csv")

"""Every export format reads back to the records written (streams/app/formats.py): JSONL, Parquet
(row groups streamed) and a Hugging Face dataset with its card."""

from __future__ import annotations

import json

import pytest

from synthstream.agents.spec import parse_spec
from synthstream.streams.app import formats
from synthstream.streams.app.exporter import to_jsonl
from synthstream.streams.app.formats import card_text, from_row, to_row, write
from tests.records import ACCEPTED, BIAS, GROUNDING, LINEAGE


def records(n: int = 5) -> list[dict]:
    """Math, code and QA records with and without seed lineage, scores spread out."""
    out = []
    for i in range(n):
        kind = ("math.linear", "code.python", "qa.grounded")[i % 3]
        lineage = dict(LINEAGE, accepted_at=1_700_000_000_000 + i)
        if i % 2:
            lineage.update(seed_source="mine.jsonl", seed_row=i, seed_hash=f"{i:016x}")
        out.append(dict(ACCEPTED, record_id=f"{i:032x}", prompt_id=f"t-{i}", task=kind,
                        quality_score=0.8 + 0.2 * i / max(1, n - 1), lineage=lineage,
                        code=ACCEPTED["code"] if kind == "code.python" else None,
                        grounding=GROUNDING if kind == "qa.grounded" else None,
                        messages=[{"role": "user", "content": f"question {i} ✓"},
                                  {"role": "assistant", "content": f"answer {i}"}],
                        dimensions={"difficulty": "integer", "n": str(i)}, usage=ACCEPTED["usage"] if i else None))
    return out


def expected(record: dict) -> dict:
    """What a Parquet / HF row keeps of a record (from_row's shape)."""
    keep = {"id": record["record_id"], "task": record["task"], "messages": record["messages"],
            "answer": record["answer"], "quality_score": record["quality_score"], "prompt_id": record["prompt_id"],
            "lineage": {k: record["lineage"].get(k) for k in formats.LINEAGE}}
    for name in formats.JSON_COLUMNS:
        value = record.get(name)
        keep[name] = None if value in (None, [], {}) and name != "dimensions" else value
    return keep


def test_jsonl_round_trip(tmp_path):
    recs = records()
    written = write(iter(recs), tmp_path / "a.jsonl", "jsonl")
    assert written.records == 5 and written.per_task == {"math.linear": 2, "code.python": 2, "qa.grounded": 1}
    lines = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert lines == [json.loads(json.dumps(to_jsonl(r))) for r in recs]


def test_parquet_round_trip_in_row_groups(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setattr(formats, "ROW_GROUP", 2)
    recs = records(5)
    write(iter(recs), tmp_path / "a.parquet", "parquet")
    source = pq.ParquetFile(tmp_path / "a.parquet")
    assert source.metadata.num_row_groups == 3 and source.metadata.num_rows == 5
    assert source.schema_arrow == formats.schema()
    rows = source.read().to_pylist()
    assert [from_row(r) for r in rows] == [expected(r) for r in recs]
    assert rows[1]["seed_source"] == "mine.jsonl" and rows[0]["seed_row"] is None
    assert rows[0]["messages"][0] == {"role": "user", "content": "question 0 ✓"}
    empty = write(iter([]), tmp_path / "none.parquet", "parquet")
    assert empty.records == 0 and pq.read_table(tmp_path / "none.parquet").num_rows == 0


def test_a_hugging_face_dataset_with_its_card(tmp_path):
    import datasets

    recs = records(6)
    spec = parse_spec({"dataset": {"name": "mine", "version": "3", "license": "cc-by-4.0"},
                       "tasks": [{"name": "math.linear", "weight": 1}]})
    context = {"spec": spec, "outcomes": {"math.linear": {"ACCEPTED": 2, "REJECTED": 5, "DUPLICATE": 1}},
               "bias": {"t": BIAS}, "version": "mine@v1"}
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "stale").write_text("an earlier export")  # replaced, not merged
    written = write(iter(recs), tmp_path / "hf", "hf", lambda w: card_text(w, context))
    data = datasets.load_from_disk(str(tmp_path / "hf"))
    assert len(data) == 6 and [from_row(r) for r in data] == [expected(r) for r in recs]
    assert data.features["messages"].feature["role"].dtype == "string"  # a list of {role, content}: chat format
    assert not (tmp_path / "hf" / "stale").exists()
    card = (tmp_path / "hf" / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-4.0\n") and "# mine" in card and "Version: `mine@v1`" in card
    assert "| math.linear | 2 |" in card and "| **all** | **6** |" in card
    assert "| math.linear | 2 | 5 | 1 | 0 | 0 |" in card  # outcomes per task
    assert "task PSI 0.000 (ok)" in card and "`seed_source`" in card
    assert f"mean {sum(written.scores) / 6:.3f}" in card and "| 0.95–1.00 | 2 |" in card
    assert not list(tmp_path.glob("synthstream-export-*"))  # the work directory is gone


def test_unknown_formats_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown export format 'csv'"):
        write(iter([]), tmp_path / "a.csv", "csv")


def test_rows_keep_what_the_record_says():
    row = to_row(ACCEPTED)
    assert row["id"] == ACCEPTED["record_id"] and json.loads(row["code"]) == ACCEPTED["code"]
    assert row["grounding"] is None and json.loads(row["validators"]) == ACCEPTED["validators"]

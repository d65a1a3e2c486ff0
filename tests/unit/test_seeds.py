"""Seed data sets (streams/app/seeds.py, producer.plan_seeded, the spec's seeds section, math.seeded):
every format read as a stream, bad rows reported with their number while the rest go on, the
field mapping, lineage and deterministic ids, and the seeded math task's verification."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from synthstream.agents.families import REGISTRY
from synthstream.agents.generation.backends.client import ModelReply, Usage
from synthstream.agents.generation.tasks.base import PromptModel
from synthstream.agents.generation.tasks.math_seeded import SeededMathTask, reference
from synthstream.agents.spec import parse_spec
from synthstream.streams.app.producer import plan_prompts, plan_seeded
from synthstream.streams.app.seeds import BadRow, Row, detect_format, map_row, read_rows, row_hash
from synthstream.streams.runtime.errors import ConfigError

ROWS = [{"problem": "Ana has 3 boxes of 4 pens. How many pens?", "solution": "3 * 4 = 12\n#### 12", "id": 1},
        {"problem": "What is 7 + 5?", "solution": "12", "id": 2},
        {"problem": "Half of 9?", "solution": "9/2", "id": 3}]


def rows_of(source) -> list[Row | BadRow]:
    return list(read_rows(str(source)))


def test_jsonl_rows_stream_with_bad_lines_reported_by_number(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n{broken\n[1, 2]\n" + json.dumps(ROWS[1]) + "\n")
    got = rows_of(path)
    assert [type(r).__name__ for r in got] == ["Row", "BadRow", "BadRow", "Row"]
    assert got[0] == Row(1, ROWS[0]) and got[3] == Row(5, ROWS[1])  # numbers are the file's line numbers
    assert str(got[1]).startswith("row 3: not JSON") and str(got[2]) == "row 4: a JSON list, not an object"


def test_csv_rows_and_ragged_records(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('problem,solution\n"What is 7 + 5?",12\n"too, many",1,2\nonly one\n"Half of 9?",9/2\n')
    got = rows_of(path)
    assert got[0] == Row(1, {"problem": "What is 7 + 5?", "solution": "12"})
    assert isinstance(got[1], BadRow) and "3 cells, but the header names 2" in got[1].reason
    assert isinstance(got[2], BadRow) and "1 cells" in got[2].reason
    assert got[3] == Row(4, {"problem": "Half of 9?", "solution": "9/2"})
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match="empty CSV"):
        rows_of(tmp_path / "empty.csv")


def test_parquet_rows_come_a_batch_at_a_time(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    many = [dict(ROWS[i % 3], id=i) for i in range(2500)]
    pq.write_table(pa.Table.from_pylist(many), tmp_path / "s.parquet", row_group_size=1000)
    got = read_rows(str(tmp_path / "s.parquet"))
    first = next(got)
    assert first == Row(1, many[0])  # without reading the rest
    rest = list(got)
    assert len(rest) == 2499 and rest[-1] == Row(2500, many[-1])
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(ConfigError, match="not a readable Parquet file"):
        rows_of(tmp_path / "fake.parquet")


def test_a_saved_hugging_face_dataset_and_its_splits(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "one"))
    assert detect_format(str(tmp_path / "one")) == "hf"
    assert rows_of(tmp_path / "one") == [Row(i + 1, r) for i, r in enumerate(ROWS)]
    both = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:2]),
                                 "test": datasets.Dataset.from_list(ROWS[2:])})
    both.save_to_disk(str(tmp_path / "two"))
    assert list(read_rows(str(tmp_path / "two"), split="test")) == [Row(1, ROWS[2])]
    with pytest.raises(ConfigError, match=r"has the splits \['test', 'train'\]"):
        rows_of(tmp_path / "two")


def test_formats_are_told_by_suffix_or_said_to_be_unknown(tmp_path):
    assert detect_format("a.jsonl") == detect_format("b.ndjson") == "jsonl"
    assert detect_format("a.CSV") == "csv" and detect_format("a.pq") == "parquet"
    assert detect_format("openai/gsm8k") == "hf"  # not a local path: a hub id
    (tmp_path / "plain").mkdir()
    for bad, message in ((tmp_path / "x.txt", "cannot tell the format"), (tmp_path / "plain", "not a saved")):
        with pytest.raises(ConfigError, match=message):
            detect_format(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        read_rows(str(tmp_path / "missing.jsonl"))


def test_the_mapping_names_what_is_missing_and_keeps_types_as_json():
    row = Row(7, {"q": "What?", "meta": {"answer": 12, "tags": ["a"]}, "blank": " "})
    assert map_row(row, {"question": "q", "answer": "meta.answer", "tags": "meta.tags"}) == {
        "question": "What?", "answer": "12", "tags": '["a"]'}
    missing = map_row(row, {"question": "problem"})
    assert isinstance(missing, BadRow) and missing.number == 7
    assert "no field 'problem' (for question); the row has ['blank', 'meta', 'q']" in missing.reason
    assert "is empty" in map_row(row, {"question": "blank"}).reason
    assert row_hash(row) == row_hash(Row(1, {"blank": " ", "meta": {"tags": ["a"], "answer": 12}, "q": "What?"}))
    assert row_hash(row) != row_hash(Row(7, {"q": "What else?"}))


# ---- the spec and the producer ------------------------------------------------------------------

def seeded_spec(**seeds) -> dict:
    return {"dataset": {"name": "mine", "version": "1"}, "seed": 3,
            "model": {"name": "m", "api": "chat"},
            "tasks": [{"name": "math.seeded", "weight": 1, "params": {"samples": 2}}],
            "seeds": {"path": "rows.jsonl", "fields": {"question": "problem", "answer": "solution"}, **seeds}}


def test_the_spec_says_what_a_seeded_task_needs():
    spec = parse_spec(seeded_spec())
    assert spec.seeds.fields == {"question": "problem", "answer": "solution"} and spec.seeds.per_row == 1
    no_seeds = seeded_spec()
    del no_seeds["seeds"]
    with pytest.raises(ConfigError, match="take each problem from a seed data set"):
        parse_spec(no_seeds)
    with pytest.raises(ConfigError, match=r"must map \['answer'\] for task math.seeded"):
        parse_spec(seeded_spec(fields={"question": "problem"}))
    with pytest.raises(ConfigError, match="which task math.seeded does not take"):
        parse_spec(seeded_spec(fields={"question": "problem", "answer": "solution", "hint": "x"}))
    with pytest.raises(ConfigError, match="is not one of the spec's tasks"):
        parse_spec(seeded_spec(task="math.open"))
    with pytest.raises(ValueError, match="seed data set"):
        next(plan_prompts(spec, 1, "r", 0))  # nothing to sample without the rows


def test_seeded_prompts_carry_the_row_in_params_and_lineage_and_skip_what_was_published():
    spec = parse_spec(seeded_spec(per_row=2))
    rows = [Row(1, ROWS[0]), BadRow(2, "not JSON"), Row(3, {"problem": "x?"}), Row(4, dict(ROWS[1], solution="lots")),
            Row(5, ROWS[2])]
    out = list(plan_seeded(spec, iter(rows), "run1", 1000, "rows.jsonl"))
    prompts = [p for p in out if not isinstance(p, BadRow)]
    bad = [p for p in out if isinstance(p, BadRow)]
    assert [(b.number, b.reason.split(" ")[0]) for b in bad] == [(2, "not"), (3, "no"), (4, "answer")]
    assert "not one exact number" in bad[2].reason
    assert [p["prompt_id"] for p in prompts] == ["mine-run1-r00000001-0", "mine-run1-r00000001-1",
                                                 "mine-run1-r00000005-0", "mine-run1-r00000005-1"]
    first = prompts[0]
    assert first["task"] == "math.seeded" and first["params"] == {"samples": "2", "question": ROWS[0]["problem"],
                                                                  "answer": ROWS[0]["solution"]}
    assert first["lineage"]["seed_source"] == "rows.jsonl" and first["lineage"]["seed_row"] == 1
    assert first["lineage"]["seed_hash"] == row_hash(Row(1, ROWS[0]))
    assert prompts[0]["seed"] != prompts[1]["seed"]  # each sample of a row draws its own
    again = list(plan_seeded(spec, iter(rows), "run1", 2000, "rows.jsonl",
                             skip={"mine-run1-r00000001-0", "mine-run1-r00000001-1"}))
    assert [p["prompt_id"] for p in again if not isinstance(p, BadRow)] == ["mine-run1-r00000005-0",
                                                                            "mine-run1-r00000005-1"]
    assert [p["seed"] for p in again if not isinstance(p, BadRow)] == [p["seed"] for p in prompts[2:]]


# ---- math.seeded ----------------------------------------------------------------------------------

def test_reference_answers_are_read_exactly():
    assert reference("3 * 4 = 12\n#### 12") == "12" and reference("9/2") == "9/2" and reference("4.50") == "9/2"
    with pytest.raises(Exception):
        reference("lots")


def solved_by(texts: list[str]):
    """A model that answers the solve requests with ``texts``, in turn (a fake: the pure core only)."""
    replies = iter(texts)

    async def complete(request):
        return ModelReply(texts=[next(replies)], finish_reasons=["stop"], model="fake", usage=Usage())

    return complete


@pytest.mark.parametrize("answers, accepted", [(["12", "12"], True), (["12", "13"], True), (["13", "13"], False)])
def test_a_seeded_problem_is_verified_against_the_rows_answer(answers, accepted):
    spec = parse_spec(seeded_spec())
    prompt = next(p for p in plan_seeded(spec, iter([Row(1, ROWS[0])]), "r", 0, "rows.jsonl"))
    model = PromptModel(solved_by([f"3 boxes of 4 pens: 3 * 4 = {a}\nAnswer: {a}" for a in answers]), prompt)
    out = asyncio.run(SeededMathTask().write(prompt, SeededMathTask().params(prompt["params"]), model, None))
    assert out.reference_answer == "12" and out.sample_answers == answers
    gen = dict(out.fields(), task="math.seeded", threshold=prompt["threshold"], prompt_id=prompt["prompt_id"])
    checked = REGISTRY.family_of("math.seeded").verify(gen)
    assert checked.accepted is accepted, checked.reasons
    if not accepted:
        assert any(r.code == "answer_wrong" for r in checked.reasons)


def test_the_bundled_example_spec_is_valid():
    root = Path(__file__).resolve().parents[2]
    spec = parse_spec(yaml.safe_load((root / "specs" / "seeded-math.yaml").read_text()))
    assert spec.seeds is not None and (root / "specs" / spec.seeds.path).exists()
    rows = [r for r in read_rows(str(root / "specs" / spec.seeds.path)) if isinstance(r, Row)]
    assert len(rows) >= 10 and all(map_row(r, spec.seeds.fields) for r in rows)


# ---- code.seeded ----------------------------------------------------------------------------------

def code_spec(**seeds) -> dict:
    return {"dataset": {"name": "mycode", "version": "1"}, "model": {"name": "m", "api": "completion"},
            "tasks": [{"name": "code.seeded", "weight": 1}],
            "seeds": {"path": "specs.jsonl", "fields": {"prompt": "prompt", "test": "test", "entry_point": "fn"},
                      **seeds}}


ADD = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'


def test_seed_rows_in_humaneval_or_mbpp_shape_become_specs_and_bad_ones_say_why():
    from synthstream.agents.generation.tasks.code import CodeParseError, seed_spec

    humaneval_style = seed_spec(ADD, "def check(candidate):\n    assert candidate(2, 3) == 5\n", "add")
    mbpp_style = seed_spec(ADD, json.dumps(["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]), "add")
    assert humaneval_style.test.startswith("def check(candidate):")
    assert mbpp_style.test == "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
    for prompt, test, fn, message in ((ADD, "assert add(1, 1) == 2", "plus", "not the entry point 'plus'"),
                                      (ADD, "print('no test')", "add", "neither a def check"),
                                      (ADD, "def check(candidate):\n    assert candidate(1 ==", "add", "do not compile"),
                                      ("def add(a, b:\n", "assert add(1, 1) == 2", "add", None)):
        with pytest.raises(CodeParseError, match=message):
            seed_spec(prompt, test, fn)
    spec = parse_spec(code_spec())
    rows = [Row(1, {"prompt": ADD, "test": "assert add(2, 3) == 5", "fn": "add"}),
            Row(2, {"prompt": ADD, "test": "assert add(2, 3) == 5", "fn": "plus"})]
    out = list(plan_seeded(spec, iter(rows), "r", 0, "specs.jsonl"))
    assert out[0]["task"] == "code.seeded" and out[0]["params"]["entry_point"] == "add"
    assert isinstance(out[1], BadRow) and "not the entry point 'plus'" in out[1].reason


@pytest.mark.parametrize("body, passed", [("    return a + b\n", True), ("    return a - b\n", False)])
def test_a_seeded_spec_is_implemented_by_the_model_and_tested_in_the_jail(sandbox, body, passed):
    from synthstream.agents.generation.tasks.code import SeededCodeTask

    spec = parse_spec(code_spec())
    row = Row(1, {"prompt": ADD, "test": json.dumps(["assert add(2, 3) == 5", "assert add(0, 0) == 0"]), "fn": "add"})
    prompt = next(p for p in plan_seeded(spec, iter([row]), "r", 0, "specs.jsonl"))
    out = asyncio.run(SeededCodeTask().write(prompt, SeededCodeTask().params(prompt["params"]),
                                             PromptModel(solved_by([body]), prompt), None))
    assert out.code["completion"] == body and out.code["spec_source"] == "seed"
    gen = dict(out.fields(), task="code.seeded", threshold=prompt["threshold"], prompt_id=prompt["prompt_id"])
    checked = REGISTRY.family_of("code.seeded").verify(gen, sandbox)
    assert checked.accepted is passed, checked.reasons

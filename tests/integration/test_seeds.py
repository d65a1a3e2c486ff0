"""A seed data set through the real pipeline: `synthstream produce --from FILE` publishes one
prompt per good row and names the bad ones by row number; math.seeded solves them with a model
(the fault-injecting test server, scripted to get one problem wrong), the verifier checks the
answers against the rows', the accepted records say which row they came from, and a re-run with
the same run id publishes nothing twice; a problem whose samples split into right and wrong gives
a preference pair, exported in TRL's DPO shape."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from synthstream.streams.app.outcomes import OutcomeWatcher
from synthstream.streams.app.seeds import Row, row_hash
from synthstream.streams.runtime.kafka_io import read_to_end
from synthstream.streams.runtime.serde import registry
from tests.fakellm import FakeLLM
from tests.integration.conftest import free_port, wait_until

pytestmark = pytest.mark.integration

ROWS = [{"q": "A box holds 6 eggs. How many eggs are in 9 boxes?", "a": "6 * 9 = 54\n#### 54"},
        {"q": "Tom has 50 marbles and gives 15 away. How many are left?", "a": "35"},
        {"q": "Four friends share 36 stickers equally. How many does each get?", "a": "#### 9"},
        {"q": "What is 7 + 5?"},  # no answer field
        {"q": "How many legs does a spider have?", "a": "eight"},  # not a number the verifier reads
        {"q": "A rope 45 metres long is cut into 5 pieces. How long is each, in metres?", "a": "9"}]
# three samples per problem, answered in turn: the rope always wrong, one egg sample wrong
SAYS = {"eggs": ["54", "55", "54"], "marbles": ["35"] * 3, "stickers": ["9"] * 3, "rope": ["8", "8", "7"]}
ASKED: Counter = Counter()


def solver(api: str, body: dict) -> str:
    asked = body.get("prompt") or json.dumps(body.get("messages"))
    last = asked.rsplit("Problem:", 1)[-1]
    word = next((w for w in SAYS if w in last), None)
    if word is None:
        return "I do not know.\nAnswer: 0"
    said = SAYS[word][ASKED[word] % 3]
    ASKED[word] += 1
    return f"Read the numbers in the problem and compute.\nSo the result is {said}.\nAnswer: {said}"


def produce(bootstrap: str, prefix: str, spec: Path, source: Path, run_id: str) -> str:
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=prefix, COLUMNS="200")
    done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "produce", "--spec", str(spec),
                           "--from", str(source), "--run-id", run_id], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return " ".join((done.stdout + done.stderr).split())


def test_a_seed_file_becomes_verified_records_that_name_their_rows(names, bootstrap, worker_factory, tmp_path):
    source = tmp_path / "mine.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    spec = tmp_path / "seeded.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "it-seeded", "version": "1"},
        "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 64}},
        "tasks": [{"name": "math.seeded", "weight": 1, "params": {"samples": 3}}],
        "seeds": {"path": "unused.jsonl", "fields": {"question": "q", "answer": "a"}}}))
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    with FakeLLM(responder=solver) as llm:
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url)
        said = produce(bootstrap, names.prefix, spec, source, "run1")
        assert f"published 4 prompts from {source}" in said and "2 bad rows skipped" in said
        assert "row 4: no field 'a' (for answer); the row has ['q']" in said
        assert re.search(r"row 5: answer 'eight' is not one exact number", said), said
        ids = {f"it-seeded-run1-r{n:08d}" for n in (1, 2, 3, 6)}
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"no outcome for {sorted(pending)}; log:\n{proc.log_path.read_text()[-3000:]}"
        again = produce(bootstrap, names.prefix, spec, source, "run1")
        assert "4 prompts of it are already" in again and "published 0 prompts" in again
    assert {p: watcher.outcomes[p] for p in ids} == {
        "it-seeded-run1-r00000001": "ACCEPTED", "it-seeded-run1-r00000002": "ACCEPTED",
        "it-seeded-run1-r00000003": "ACCEPTED", "it-seeded-run1-r00000006": "REJECTED"}
    prompts = [m.key.decode() for m in read_to_end(bootstrap, names.prompts)]
    assert sorted(prompts) == sorted(ids)  # the re-run published nothing
    accepted = [serde.decode(m.value, "AcceptedRecord")[1] for m in read_to_end(bootstrap, names["accepted-records"])]
    by_row = {r["lineage"]["seed_row"]: r for r in accepted}
    assert set(by_row) == {1, 2, 3}
    for number, record in by_row.items():
        assert record["lineage"]["seed_source"] == str(source)
        assert record["lineage"]["seed_hash"] == row_hash(Row(number, ROWS[number - 1]))
        assert record["task"] == "math.seeded" and ROWS[number - 1]["q"] in record["messages"][0]["content"]
    assert by_row[1]["answer"] == "54"

    # the egg problem's samples split into right and wrong: one preference pair, exported for DPO
    pairs = [serde.decode(m.value, "PreferencePair")[1] for m in read_to_end(bootstrap, names["preference-pairs"])]
    assert [(p["prompt_id"], p["chosen"][-10:], p["rejected"][-10:]) for p in pairs] == [
        ("it-seeded-run1-r00000001", "Answer: 54", "Answer: 55")]
    assert pairs[0]["rejected_reasons"] == ["answer_wrong: 55 is not 54"]
    out = tmp_path / "pairs.jsonl"
    env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=names.prefix)
    done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "export", "--format", "dpo", "--out",
                           str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["prompt"][0]["role"] == "user" and ROWS[0]["q"] in line["prompt"][0]["content"]
    assert line["chosen"][0]["content"].endswith("Answer: 54") and line["rejected"][0]["role"] == "assistant"
    assert (line["score_chosen"], line["score_rejected"]) == (1.0, 0.0)


CODE_ROWS = [  # HumanEval-style and MBPP-style rows; the model's body is right for the first two only
    {"prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n', "fn": "add",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
    {"prompt": 'def double(x: int) -> int:\n    """Return twice x."""\n', "fn": "double",
     "test": ["assert double(4) == 8", "assert double(0) == 0"]},
    {"prompt": 'def square(x: int) -> int:\n    """Return x squared."""\n', "fn": "square",
     "test": ["assert square(3) == 9"]},
    {"prompt": 'def half(x: int) -> int:\n    """Half of x."""\n', "fn": "halve", "test": ["assert half(4) == 2"]},
]
BODIES = {"add": "    return a + b\n", "double": "    return 2 * x\n", "square": "    return x + x\n"}


def coder(api: str, body: dict) -> str:
    asked = body.get("prompt") or ""
    name = next((n for n in BODIES if f"def {n}(" in asked), None)
    return BODIES.get(name, "    return None\n")


def test_seed_function_specs_are_implemented_and_tested_in_the_jail(names, bootstrap, worker_factory, tmp_path):
    source = tmp_path / "specs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in CODE_ROWS))
    spec = tmp_path / "code.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "it-code", "version": "1"},
        "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 64}},
        "tasks": [{"name": "code.seeded", "weight": 1}],
        "seeds": {"path": "x.jsonl", "fields": {"prompt": "prompt", "test": "test", "entry_point": "fn"}}}))
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    with FakeLLM(responder=coder) as llm:
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url)
        said = produce(bootstrap, names.prefix, spec, source, "c1")
        assert "published 3 prompts" in said and "row 4: the prompt defines ['half'], not the entry point 'halve'" in said
        ids = [f"it-code-c1-r{n:08d}" for n in (1, 2, 3)]
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"no outcome for {sorted(pending)}; log:\n{proc.log_path.read_text()[-3000:]}"
    assert [watcher.outcomes[i] for i in ids] == ["ACCEPTED", "ACCEPTED", "REJECTED"]
    accepted = [serde.decode(m.value, "AcceptedRecord")[1] for m in read_to_end(bootstrap, names["accepted-records"])]
    assert sorted(r["code"]["entry_point"] for r in accepted) == ["add", "double"]
    assert all(r["code"]["spec_source"] == "seed" and r["lineage"]["seed_row"] in (1, 2) for r in accepted)


def test_the_main_job_runs_a_seeded_spec(bootstrap, tmp_path):
    """`synthstream run` with a seeds section publishes the rows (bad ones said and skipped), waits
    for every outcome and exports the accepted records, which name their rows."""
    import uuid

    from tests.integration.conftest import free_ports

    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    spec = tmp_path / "run.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "it-run-seeded", "version": "1"},
        "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 64}},
        "tasks": [{"name": "math.seeded", "weight": 1, "params": {"samples": 1}}],
        "seeds": {"path": "rows.jsonl", "fields": {"question": "q", "answer": "a"}}}))  # relative to the spec
    out = tmp_path / "out.jsonl"
    with FakeLLM(responder=solver) as llm:
        env = dict(os.environ, SYNTHSTREAM_BOOTSTRAP=bootstrap, SYNTHSTREAM_TOPIC_PREFIX=f"s{uuid.uuid4().hex[:8]}.",
                   SYNTHSTREAM_METRICS_PORT=str(free_ports(4)), SYNTHSTREAM_WORKER_DATA_DIR=str(tmp_path / "w"),
                   SYNTHSTREAM_LLM_BASE_URL=llm.url, COLUMNS="120")
        done = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "run", "--spec", str(spec),
                               "--out", str(out), "--timeout", "180"], env=env, capture_output=True, text=True,
                              timeout=300)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "row 4: no field 'a'" in said and "row 5: answer 'eight'" in said
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4 and cells[1]:
            rows[cells[1]] = cells[2]
    assert rows["prompts produced"] == "4" and rows["no outcome (lost)"] == "0"
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert records and all(r["metadata"]["lineage"]["seed_source"] == str(source) for r in records)


QA_ROWS = [{"q": "What is the capital of Peru?", "a": "Lima"}, {"q": "What is the capital of Chile?", "a": "Santiago"},
           {"q": "What is the capital of Spain?", "a": "Madrid"}]
CAPITALS = {"Peru": '{"answer": "Lima", "source": "atlas"}', "Chile": '{"answer": "Valparaiso", "source": "atlas"}',
            "Spain": 'Madrid!'}  # Chile: wrong; Spain: not JSON at first, then right after the retry


def capitals(api: str, body: dict) -> str:
    messages = body.get("messages") or []
    if len(messages) > 2 and "not JSON" in messages[-1]["content"]:
        return '{"answer": "Madrid", "source": "atlas"}'
    asked = messages[-1]["content"] if messages else ""
    return next((v for k, v in CAPITALS.items() if k in asked), '{"answer": "?"}')


def test_a_task_defined_in_yaml_with_structured_output_and_checks(names, bootstrap, worker_factory, tmp_path):
    source = tmp_path / "capitals.csv"
    source.write_text("q,a\n" + "".join(f'"{r["q"]}",{r["a"]}\n' for r in QA_ROWS))
    spec = tmp_path / "template.yaml"
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "source": {"type": "string"}},
              "required": ["answer", "source"]}
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "it-template", "version": "1"},
        "model": {"name": "fake-model", "api": "chat", "sampling": {"max_tokens": 64}},
        "tasks": [{"name": "template.text", "weight": 1, "params": {
            "system": "You answer geography questions in JSON.",
            "template": "{{ question }} Answer with the city's name.",
            "output": "json", "schema": schema, "reference": "answer",
            "checks": [{"type": "regex", "field": "answer", "pattern": "^[A-Z][a-z]+$"},
                       {"type": "reference", "field": "answer", "mode": "exact"}]}}],
        "seeds": {"path": "x.csv", "fields": {"question": "q", "answer": "a"}}}))
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    with FakeLLM(responder=capitals) as llm:
        proc = worker_factory(names, spec, free_port(), ["generation", "verification", "dedup"],
                              SYNTHSTREAM_LLM_BASE_URL=llm.url, SYNTHSTREAM_JUDGE_AUTO="false")
        assert "published 3 prompts" in produce(bootstrap, names.prefix, spec, source, "t1")
        ids = [f"it-template-t1-r{n:08d}" for n in (1, 2, 3)]
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"no outcome for {sorted(pending)}; log:\n{proc.log_path.read_text()[-3000:]}"
        asked = [r for r in llm.requests if r.get("messages")]
    assert all(r["response_format"]["type"] == "json_schema" for r in asked)  # structured output asked for
    assert [watcher.outcomes[i] for i in ids] == ["ACCEPTED", "REJECTED", "ACCEPTED"]
    accepted = {r["lineage"]["seed_row"]: r
                for r in (serde.decode(m.value, "AcceptedRecord")[1]
                          for m in read_to_end(bootstrap, names["accepted-records"]))}
    assert json.loads(accepted[1]["messages"][-1]["content"]) == {"answer": "Lima", "source": "atlas"}
    assert accepted[1]["messages"][0] == {"role": "system", "content": "You answer geography questions in JSON."}
    assert json.loads(accepted[3]["answer"])["answer"] == "Madrid"  # right after one retry
    verdicts = [serde.decode(m.value, "Verdict")[1] for m in read_to_end(bootstrap, names.verdicts)]
    chile = next(v for v in verdicts if v["prompt_id"] == ids[1])
    assert any("reference_mismatch" in r and "Valparaiso" in r for r in chile["reasons"]), chile["reasons"]


DOCS = [{"id": "landmarks/eiffel", "text": "# The tower\n\nThe Eiffel Tower was built for the 1889 World's Fair in "
                                           "Paris. It is 330 metres tall, and about 7 million people visit it every "
                                           "year."},
        {"id": "landmarks/bridge", "text": "The Golden Gate Bridge opened in 1937. Its main span is 1,280 metres "
                                           "long, and its towers rise 227 metres above the water."},
        {"id": "empty", "text": "# only a heading\n"}]


def guide(api: str, body: dict) -> str:
    """A user who asks about the passage, and an assistant who answers the tower's questions from
    it and invents the bridge's numbers."""
    asked = body.get("prompt") or ""
    passage = asked.rsplit("Passage:", 1)[-1]
    if asked.endswith("User:"):
        return " How tall is it?" if "User: How tall" not in passage else " When was it built or opened?"
    if "Eiffel" in passage:
        return " It is 330 metres tall." if asked.count("User:") == 1 + 2 else " It was built for the 1889 World's Fair."
    return " Its towers rise 300 metres." if asked.count("User:") == 1 + 2 else " It opened in 1950, over the bay."


def test_seed_documents_ground_dialogues_checked_against_their_passage(names, bootstrap, worker_factory, tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in DOCS))
    spec = tmp_path / "docs.yaml"
    spec.write_text(yaml.safe_dump({
        "dataset": {"name": "it-docs", "version": "1"},
        "model": {"name": "fake-model", "api": "completion", "sampling": {"max_tokens": 64}},
        "tasks": [{"name": "dialogue.grounded", "weight": 1, "dimensions": {"turns": {"2": 1}}}],
        "seeds": {"path": "x.jsonl", "fields": {"document": "text", "doc_id": "id"}}}))
    serde = registry()
    watcher = OutcomeWatcher(bootstrap, names, serde)
    watcher.seek_to_beginning()
    with FakeLLM(responder=guide) as llm:
        proc = worker_factory(names, spec, free_port(), SYNTHSTREAM_LLM_BASE_URL=llm.url,
                              SYNTHSTREAM_JUDGE_AUTO="false")
        assert "published 3 prompts" in produce(bootstrap, names.prefix, spec, source, "d1")
        ids = [f"it-docs-d1-r{n:08d}" for n in (1, 2, 3)]
        pending = set(ids)
        assert wait_until(lambda: watcher.poll(pending) >= 0 and not pending, 120), \
            f"no outcome for {sorted(pending)}; log:\n{proc.log_path.read_text()[-3000:]}"
    assert [watcher.outcomes[i] for i in ids] == ["ACCEPTED", "REJECTED", "DEAD_LETTER"]  # the third has no text
    [record] = [serde.decode(m.value, "AcceptedRecord")[1] for m in read_to_end(bootstrap, names["accepted-records"])]
    passage = record["grounding"]["context"]
    assert record["grounding"]["doc_id"] == "landmarks/eiffel" and passage.startswith("The Eiffel Tower")
    assert record["messages"][0]["content"].endswith(f"Passage: {passage}\n\nHow tall is it?")
    assert [m["content"] for m in record["messages"][1:]] == ["It is 330 metres tall.", "When was it built or opened?",
                                                              "It was built for the 1889 World's Fair."]
    verdicts = [serde.decode(m.value, "Verdict")[1] for m in read_to_end(bootstrap, names.verdicts)]
    bridge = next(v for v in verdicts if v["prompt_id"] == ids[1])
    assert bridge["reasons"][0] == "number_unsupported: turn 1: 300 not in the passage", bridge["reasons"]

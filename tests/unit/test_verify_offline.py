"""`synthstream verify`: the stage's gate over a JSONL file, one verdict per line, by the same code
path as the verification stage."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import yaml

from synthstream.agents.deps import DatasetConfig
from synthstream.agents.verification import core
from synthstream.agents.verification.offline import Summary, to_generation, verify_lines
from synthstream.agents.verification.validators import DiversityValidator, FactualValidator, StyleConsistencyValidator

ROOT = Path(__file__).resolve().parents[2]
VALIDATORS = [FactualValidator(), StyleConsistencyValidator(), DiversityValidator()]

GOOD = {"id": "d1", "task": "dialogue.chat", "dimensions": {"topic": "science", "style": "formal", "turns": "2"},
        "messages": [
            {"role": "user", "content": "How do volcanoes form over hot spots?"},
            {"role": "assistant", "content": "Magma rises from a plume deep in the mantle and breaks through the "
                                             "crust, building a volcano as the plate drifts over it."},
            {"role": "user", "content": "Is Hawaii an example of that?"},
            {"role": "assistant", "content": "Indeed: the Hawaiian islands formed one after another as the Pacific "
                                             "plate moved over a single hot spot."}]}
ECHO = {"id": "d2", "task": "dialogue.chat", "dimensions": {"topic": "science"},
        "messages": [{"role": "user", "content": "Tell me about the Moon."},
                     {"role": "assistant", "content": "Tell me about the Moon."}]}
QA = {"id": "q1", "task": "qa.grounded", "dimensions": {"domain": "geography"},
      "messages": [{"role": "user", "content": "Which way does the Nile flow?"}, {"role": "assistant", "content": "North"}],
      "grounding": {"context": "The Nile flows north into the Mediterranean Sea.",
                    "evidence": "The Nile flows north into the Mediterranean Sea.",
                    "question": "Which way does the Nile flow?", "answer": "North"}}
UNGROUNDED = dict(QA, id="q2", grounding=dict(QA["grounding"], evidence="The Amazon is in Brazil."))


def run(rows: list, config: DatasetConfig | None = None, threshold: float = 0.85) -> list[dict]:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    return asyncio.run(verify_lines(lines, config or DatasetConfig("offline"), VALIDATORS, lambda: None,
                                    lambda task: threshold))


def test_each_line_gets_a_verdict_with_reasons_and_every_validator():
    good, echo, qa, ungrounded = run([GOOD, ECHO, QA, UNGROUNDED])
    assert good["accepted"] and good["id"] == "d1" and good["quality_score"] >= 0.85
    assert [v["name"] for v in good["validators"]] == ["task", "style", "diversity"]  # factual: no fact to check
    assert all({"score", "weight", "veto", "reasons"} <= set(v) for v in good["validators"])
    assert not echo["accepted"] and {r["code"] for r in echo["reasons"]} >= {"turn_echo"}
    assert all(set(r) == {"code", "detail"} for r in echo["reasons"])
    assert qa["accepted"] and qa["verifier"] == "qa.grounding@1"
    assert not ungrounded["accepted"] and ungrounded["reasons"][0]["code"] == "evidence_not_in_passage"


def test_the_verdict_is_the_stage_s_verdict():
    """No second implementation: the offline verdict equals what the stage's core decides."""
    config = DatasetConfig("offline")
    for row in (GOOD, ECHO, QA, UNGROUNDED):
        gen = to_generation(row, 1, lambda task: 0.85)
        verifier, decision = core.assess(gen, config, None, VALIDATORS)
        stage = core.verdict(gen, verifier, decision, config, 4, 0).verdict
        [offline] = run([row])
        assert (offline["accepted"], offline["quality_score"]) == (stage["accepted"], stage["quality_score"])
        assert [f"{r['code']}: {r['detail']}" if r["detail"] else r["code"] for r in offline["reasons"]] == \
            stage["reasons"]


def test_lines_it_cannot_use_say_what_is_wrong():
    out = run(["not json", ["a", "list"], {"id": "n", "messages": []}, {"id": "u", "task": "nope.x", "messages": []},
               {"id": "m", "task": "dialogue.chat", "messages": [{"role": "bot", "content": "hi"}]},
               {"id": "t", "task": "dialogue.chat", "messages": GOOD["messages"], "threshold": 3}, "   "])
    assert [v["id"] for v in out] == ["line-1", "line-2", "n", "u", "m", "t"]  # the blank line is no record
    assert all(not v["accepted"] and v["reasons"][0]["code"] == "invalid_input" for v in out)
    details = [v["reasons"][0]["detail"] for v in out]
    assert "not JSON" in details[0] and "not a JSON object" in details[1] and "no 'task'" in details[2]
    assert "unknown task 'nope.x'" in details[3] and "messages[0]" in details[4] and "threshold 3" in details[5]


def test_the_spec_s_weights_and_thresholds_apply():
    technical = dict(GOOD, dimensions=dict(GOOD["dimensions"], style="technical"))  # no technical marker
    [lenient] = run([technical], threshold=0.85)
    [strict] = run([technical], threshold=0.99)
    assert lenient["accepted"] and lenient["quality_score"] < 0.99
    assert not strict["accepted"] and strict["reasons"][-1]["code"] == "below_threshold"
    assert strict["threshold"] == 0.99
    [task_only] = run([technical], DatasetConfig("d", gates={"dialogue.chat": {"task": 1.0}}), threshold=0.99)
    assert [s["name"] for s in task_only["validators"]] == ["task"] and task_only["accepted"]


def test_the_summary_counts_per_task_and_reason():
    s = Summary()
    for v in run([GOOD, ECHO, QA, "oops"]):
        s.add(v)
    assert s.per_task[("dialogue.chat", "accepted")] == 1 and s.per_task[("dialogue.chat", "rejected")] == 1
    assert s.per_task[("(no task)", "rejected")] == 1 and s.invalid == 1
    assert s.reasons["invalid_input"] == 1 and sum(s.reasons.values()) == 2


def test_the_command_writes_verdicts_and_a_summary(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in (GOOD, ECHO, QA)) + "\nnot json\n")
    spec = yaml.safe_load((ROOT / "specs" / "dialogue.yaml").read_text())
    spec["verification"] = {**spec.get("verification", {}), "threshold": 0.5}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    for extra in ([], ["--spec", str(spec_path)]):
        proc = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "verify", "--in", str(src),
                               "--out", str(out), *extra], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        verdicts = [json.loads(line) for line in out.read_text().splitlines()]
        assert [v["id"] for v in verdicts] == ["d1", "d2", "q1", "line-4"]
        assert "dialogue.chat" in proc.stderr and "invalid_input 1" in proc.stderr
    assert verdicts[0]["threshold"] == 0.5  # the spec's


def test_the_command_uses_the_worker_s_semantic_validators_and_says_when_they_abstain(tmp_path):
    """The same validators as the stage (streams/app/worker.make_validators): a tautology that
    passes every structural check is rejected by novelty; without the model the embedding
    validators abstain with the reason, the lexical ones still judge."""
    tautology = {"id": "t1", "task": "dialogue.chat", "dimensions": {"topic": "science", "style": "casual"},
                 "messages": [{"role": "user", "content": "Why is the sea salty?"},
                              {"role": "assistant", "content": "The sea is salty because it has salt in it."}]}
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in (GOOD, tautology)) + "\n")
    for semantic in ("true", "false"):
        env = {**__import__("os").environ, "SYNTHSTREAM_VERIFY_SEMANTIC": semantic}
        proc = subprocess.run([sys.executable, "-m", "synthstream.streams.app.cli", "verify", "--in", str(src),
                               "--out", str(out)], capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
        good, bad = [json.loads(line) for line in out.read_text().splitlines()]
        judged = {v["name"]: v for v in good["validators"]}
        assert {"topic", "relevance", "coherence", "novelty", "triviality", "roles"} <= set(judged)
        assert good["accepted"], good["reasons"]
        assert not bad["accepted"] and bad["reasons"][0]["code"] == "restates"
        unavailable = [n for n, v in judged.items() if v["reasons"] and v["reasons"][0]["code"] == "semantic_unavailable"]
        assert unavailable == ([] if semantic == "true" else ["topic", "relevance", "coherence"])

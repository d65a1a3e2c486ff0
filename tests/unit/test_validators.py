"""Validators (score in [0, 1] + reasons) and the quality gate that weighs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthstream.agents.generation.tasks.qa import CORPUS
from synthstream.agents.verification.core import decide_generation as assess
from synthstream.agents.verification.validators import (DiversityValidator, FactualValidator, Judgement,
                                            StyleConsistencyValidator, decide, load_kb)
from synthstream.agents.verification.validators.factual import BUNDLED
from synthstream.streams.runtime.errors import ConfigError
from tests.records import GENERATION

# ---- the gate -----------------------------------------------------------------------------------


def J(name: str, score: float, veto: bool = False, *reasons: str) -> Judgement:
    return Judgement(name, "v1", score, list(reasons), veto)


def test_the_gate_takes_the_weighted_mean_of_counted_validators() -> None:
    d = decide([J("task", 1.0), J("style", 0.5), J("diversity", 0.0, False, "low_diversity: x")],
               {"task": 0.6, "style": 0.2, "diversity": 0.0}, 0.85)
    assert d.score == pytest.approx(0.875) and d.accepted
    assert d.reasons == []  # diversity has weight 0: reported, not counted
    assert [(s["name"], s["weight"]) for s in d.scores] == [("task", 0.6), ("style", 0.2), ("diversity", 0.0)]
    assert d.scores[2]["reasons"] == ["low_diversity: x"]


def test_below_threshold_and_veto() -> None:
    low = decide([J("task", 1.0), J("style", 0.0, False, "style_mismatch: y")], {"task": 0.5, "style": 0.5}, 0.85)
    assert not low.accepted and low.reasons == ["style_mismatch: y", "below_threshold: score 0.500 < 0.850"]
    vetoed = decide([J("task", 1.0), J("factual", 0.9, True, "fact_contradicted: z")], {"task": 1, "factual": 0.1}, 0.5)
    assert not vetoed.accepted and vetoed.reasons == ["fact_contradicted: z"] and vetoed.score > 0.9
    nothing = decide([J("style", 1.0), None], {"task": 1.0}, 0.5)
    assert not nothing.accepted and nothing.reasons[0].startswith("no_validator")


def test_scores_outside_the_unit_interval_are_a_bug() -> None:
    with pytest.raises(ValueError, match="outside"):
        J("task", 1.5)


# ---- diversity and style ------------------------------------------------------------------------

def dialogue(style: str, *assistant: str) -> dict:
    msgs = []
    for text in assistant:
        msgs += [{"role": "user", "content": "Tell me more about it please."}, {"role": "assistant", "content": text}]
    return {"task": "dialogue.chat", "messages": msgs, "dimensions": {"style": style, "topic": "science"},
            "threshold": 0.85}


def test_diversity_scores_a_looping_answer_low_and_skips_short_ones() -> None:
    loop = dialogue("casual", "the answer is the answer is the answer is the answer is the answer is the answer")
    j = DiversityValidator().validate(loop)
    assert j is not None and j.score < 0.6 and j.reasons[0].startswith("low_diversity")
    varied = dialogue("casual", "Bees dance to show sisters where flowers are, and the angle points toward food "
                                "relative to the sun while the length tells the distance.")
    assert DiversityValidator().validate(varied).score == 1.0
    assert DiversityValidator().validate(dialogue("casual", "Yes, it is.")) is None


@pytest.mark.parametrize("style, text, score, reason", [
    ("formal", "Hey, yeah, that's gonna be cool stuff!", 0.0, "style_mismatch: assistant turn 1 reads casual"),
    ("formal", "Furthermore, the process releases oxygen into the atmosphere as a by-product.", 1.0, None),
    ("casual", "Oh yeah, it's super cool, you'll love it!", 1.0, None),
    ("casual", "Moreover, the results are therefore consistent; hence we conclude.", 0.0, "reads formal"),
    ("technical", "The algorithm reduces latency by batching network protocol messages.", 1.0, None),
    ("humorous", "Plants eat sunlight for breakfast, no joke!", 1.0, None),
    ("humorous", "Plants make sugar from light.", 0.5, "style_unmarked"),
])
def test_style_markers_per_turn(style: str, text: str, score: float, reason: str | None) -> None:
    j = StyleConsistencyValidator().validate(dialogue(style, text))
    assert j is not None and j.score == score
    if reason:
        assert any(reason in r for r in j.reasons), j.reasons
    else:
        assert not [r for r in j.reasons if r.startswith("style_mismatch")]


def test_style_needs_a_style_dimension() -> None:
    assert StyleConsistencyValidator().validate(dict(GENERATION, dimensions={"difficulty": "easy"})) is None


# ---- factual ------------------------------------------------------------------------------------

def qa(question: str, answer: str) -> dict:
    return {"task": "qa.grounded", "threshold": 0.85, "dimensions": {},
            "grounding": {"question": question, "answer": answer, "evidence": answer, "context": answer}}


@pytest.mark.parametrize("question, answer, score, contradicted", [
    ("How long is the Nile?", "About 6,650 kilometres long.", 1.0, False),
    ("How long is the Nile?", "It is about 4,000 kilometres long.", 0.0, True),
    ("Where does the Blue Nile begin?", "The Blue Nile begins at Lake Victoria.", 0.0, True),
    ("Where does the Blue Nile begin?", "At Lake Tana in Ethiopia.", 1.0, False),
    ("In which city did Gutenberg develop his press?", "In Mainz, around 1440.", 1.0, False),
    ("When did Apollo 11 land on the Moon?", "Apollo 11 landed in 1968.", 0.0, True),
])
def test_claims_against_the_bundled_knowledge_base(question: str, answer: str, score: float, contradicted: bool) -> None:
    j = FactualValidator().validate(qa(question, answer))
    assert j is not None and j.score == score and j.veto is contradicted
    assert bool(j.reasons) is contradicted
    if contradicted:
        assert j.reasons[0].startswith("fact_contradicted:") and ".md" in j.reasons[0]


def test_unrelated_numbers_and_unknown_subjects_are_not_checked() -> None:
    v = FactualValidator()
    assert v.validate(qa("How long does the Moon take to orbit Earth?", "The Moon orbits Earth in 27.3 days.")).score == 1
    assert v.validate(qa("What colour is the sky?", "Blue, because of scattering.")) is None
    assert v.validate(dict(GENERATION, messages=[], grounding=None)) is None


def test_every_bundled_fact_is_stated_by_its_source_document() -> None:
    facts = load_kb()
    assert len(facts) >= 30
    for fact in facts:
        doc = (CORPUS / fact.source.removeprefix("corpus/")).read_text().lower()
        if fact.kind == "number":
            value = float(fact.object)
            shown = f"{value:,.0f}" if value.is_integer() else str(value)
            assert shown.lower() in doc or fact.object in doc, fact
        else:
            assert fact.object.lower() in doc, fact


def test_a_broken_knowledge_base_names_the_file_and_line(tmp_path: Path) -> None:
    kb = tmp_path / "kb.jsonl"
    kb.write_text(json.dumps({"subject": "a", "relation": "b", "object": "c"}) + "\n{not json\n")
    with pytest.raises(ConfigError, match=r"kb.jsonl:2: a fact needs subject, relation and object"):
        load_kb(kb)
    kb.write_text(json.dumps({"subject": "a", "relation": "b", "object": "many", "kind": "number"}) + "\n")
    with pytest.raises(ConfigError, match=r"kb.jsonl:1: object 'many' of a number fact is not a number"):
        load_kb(kb)
    with pytest.raises(ConfigError, match="cannot read the knowledge base"):
        load_kb(tmp_path / "missing.jsonl")
    assert BUNDLED.exists()


# ---- one generation through the gate --------------------------------------------------------------

def test_math_runs_only_its_verifier_and_qa_is_vetoed_by_a_contradiction() -> None:
    validators = [FactualValidator(), StyleConsistencyValidator(), DiversityValidator()]
    _, math = assess(dict(GENERATION), None, validators)
    assert math.accepted and [s["name"] for s in math.scores] == ["task"]
    passage = "The Nile is about 6,650 kilometres long."
    wrong = {"task": "qa.grounded", "threshold": 0.85, "dimensions": {}, "parse_error": None,
             "grounding": {"question": "How long is the Nile river?", "answer": "about 4,000 kilometres",
                           "evidence": "about 4,000 kilometres", "context": "The Nile is about 4,000 kilometres long."}}
    verifier, decision = assess(wrong, None, validators)
    assert verifier == "qa.grounding@1" and not decision.accepted
    assert any(r.startswith("fact_contradicted") for r in decision.reasons)
    right = dict(wrong, grounding=dict(wrong["grounding"], answer="about 6,650 kilometres",
                                       evidence="about 6,650 kilometres", context=passage))
    assert assess(right, None, validators)[1].accepted

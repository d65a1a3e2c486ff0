"""Preference pairs (agents/verification/preferences.py): samples told apart by the truth become
chosen/rejected pairs with their reasons; what cannot be told apart gives none; the DPO export
shape is TRL's conversational one."""

from __future__ import annotations

from synthstream.agents.verification.preferences import MAX_PAIRS, preference_pairs
from synthstream.streams.app.exporter import to_dpo
from synthstream.streams.runtime.serde import registry
from tests.records import GENERATION


def gen(task: str, answers: list[str], reference: str | None = "12") -> dict:
    samples = [f"Working for sample {i}.\nAnswer: {a}" if a else f"no answer in sample {i}"
               for i, a in enumerate(answers)]
    return dict(GENERATION, prompt_id="p-1", task=task, samples=samples, sample_answers=answers,
                reference_answer=reference,
                messages=[{"role": "user", "content": "Solve: 3 boxes of 4 pens?"},
                          {"role": "assistant", "content": samples[0]}])


def test_right_and_wrong_samples_pair_up_each_once():
    pairs = preference_pairs(gen("math.seeded", ["12", "13", "12", "", "12/1"]))
    assert [p["pair_id"] for p in pairs] == ["p-1:0>1", "p-1:2>3"]  # 12/1 is right too, but has no wrong left
    assert pairs[1]["chosen"].endswith("Answer: 12") and pairs[1]["rejected"] == "no answer in sample 3"
    first = pairs[0]
    assert first["pair_id"] == "p-1:0>1" and first["prompt"] == [{"role": "user", "content": "Solve: 3 boxes of 4 pens?"}]
    assert first["chosen_reasons"] == ["answer_correct: 12"] and first["rejected_reasons"] == ["answer_wrong: 13 is not 12"]
    assert pairs[1]["rejected_reasons"] == ["answer_unreadable: no final answer"]
    assert (first["chosen_score"], first["rejected_score"]) == (1.0, 0.0)
    registry().encode("PreferencePair", first)  # it is a valid record
    dpo = to_dpo(first)
    assert dpo["prompt"][0]["role"] == "user" and dpo["chosen"] == [{"role": "assistant", "content": first["chosen"]}]
    assert set(dpo) >= {"prompt", "chosen", "rejected", "score_chosen", "score_rejected"}


def test_equal_values_in_other_notations_are_right_and_the_pairs_are_capped():
    assert preference_pairs(gen("math.seeded", ["12", "12/1"])) == []  # both right: nothing to prefer
    many = preference_pairs(gen("math.seeded", ["12"] * 6 + ["1"] * 6))
    assert len(many) == MAX_PAIRS and len({p["chosen"] for p in many}) == MAX_PAIRS


def test_no_truth_or_one_sample_gives_no_pair():
    assert preference_pairs(gen("math.open", ["12", "13", "12"])) == []  # agreement is not correctness
    assert preference_pairs(gen("math.seeded", ["12", "13"], reference=None)) == []
    assert preference_pairs(gen("math.seeded", ["13"])) == []
    assert preference_pairs(gen("dialogue.chat", ["a", "b"])) == []  # no family judge of samples
    assert preference_pairs(gen("no.such_task", ["12", "13"])) == []


def test_code_samples_are_each_tested_in_the_jail_and_pair_up(sandbox):
    from tests.unit.test_text_tasks import run_task

    params = {"prompt": 'def double(x):\n    """Twice x."""\n', "test": "assert double(2) == 4\nassert double(0) == 0",
              "entry_point": "double", "samples": "3"}
    bodies = ["    return x + 1\n", "    return 2 * x\n", "this is not python("]
    out, model, g = run_task("code.seeded", bodies, {}, **params)
    assert len(model.requests) == 3 and out.code["completion"] == "    return x + 1\n"  # the first that parses
    assert out.sample_answers == ["    return x + 1\n", "    return 2 * x\n", ""]
    g = dict(GENERATION, **{k: v for k, v in g.items() if k in GENERATION}, prompt_id="c-1")
    [pair] = preference_pairs(g, sandbox)
    assert pair["pair_id"] == "c-1:1>0" and pair["chosen"] == f"```python\n{params['prompt']}    return 2 * x\n```"
    assert pair["chosen_reasons"] == ["tests_passed: every test passes"]
    assert pair["rejected_reasons"][0].startswith("tests_failed")
    assert preference_pairs(g) == []  # no sandbox: the samples cannot be told apart
    one, _, g1 = run_task("code.seeded", bodies[1:2], {}, **dict(params, samples="1"))
    assert one.sample_answers == [] and preference_pairs(dict(GENERATION, **{k: v for k, v in g1.items()
                                                                             if k in GENERATION}), sandbox) == []
    none, _, _ = run_task("code.seeded", ["nope(", "nor this("], {}, **dict(params, samples="2"))
    assert none.parse_error.startswith("no sample parses (2 samples; the first:")

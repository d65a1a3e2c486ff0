"""dialogue.grounded: conversations about a passage of the corpus or of a seed row's document
(agents/generation/tasks/dialogue.py), and the passage_support validator that reads each
assistant turn against that passage (agents/verification/validators/grounded_dialogue.py)."""

from __future__ import annotations

import pytest

from synthstream.agents.families import REGISTRY
from synthstream.agents.verification.core import verify
from synthstream.agents.verification.text_checks import check_grounded_dialogue, spoken
from synthstream.agents.verification.validators.grounded_dialogue import PassageSupportValidator
from synthstream.agents.verification.validators.semantic import turns
from synthstream.streams.runtime.errors import PoisonRecord
from tests.unit.test_text_tasks import run_task

PASSAGE = ("The Eiffel Tower was built for the 1889 World's Fair in Paris. It was designed by the company of "
           "Gustave Eiffel and is 330 metres tall. About 7 million people visit it every year. Its iron was "
           "painted every seven years to protect it from rust.")


def gen(*pairs: tuple[str, str], context: str = PASSAGE) -> dict:
    msgs = []
    for i, (q, a) in enumerate(pairs):
        first = f"Answer my questions using this passage.\n\nPassage: {context}\n\n{q}" if i == 0 else q
        msgs += [{"role": "user", "content": first}, {"role": "assistant", "content": a}]
    return {"task": "dialogue.grounded", "threshold": 0.85, "dimensions": {"turns": str(len(pairs))},
            "messages": msgs, "grounding": {"doc_id": "d", "chunk": 0, "context": context, "evidence": "",
                                            "question": "", "answer": ""}}


def test_a_dialogue_about_a_corpus_passage_carries_the_passage():
    out, model, g = run_task("dialogue.grounded", [" What does the passage say about it?", " It explains it.",
                                                   " Why?", " Because of the sun."], {"domain": "science", "turns": "2"})
    passage = out.grounding["context"]
    assert out.grounding["doc_id"].startswith("science/") and out.parse_error is None
    assert out.messages[0]["content"].endswith(f"Passage: {passage}\n\nWhat does the passage say about it?")
    assert [m["role"] for m in out.messages] == ["user", "assistant"] * 2
    assert f"Passage: {passage}" in model.requests[0].prompt and model.requests[1].prompt.endswith("Assistant:")
    assert spoken(g)[0]["content"] == "What does the passage say about it?"
    assert turns(g) == (["What does the passage say about it?", "Why?"], ["It explains it.", "Because of the sun."])
    assert not check_grounded_dialogue(g)[0]  # structure holds; substance is the validator's


def test_a_seed_rows_document_is_the_passage_and_names_the_record():
    doc = f"# Heading\n\n{PASSAGE}"
    out, _, _ = run_task("dialogue.grounded", [" How tall is it?", " 330 metres."], {"turns": "1"},
                         document=doc, doc_id="landmarks/eiffel")
    assert out.grounding == {"doc_id": "landmarks/eiffel", "chunk": 0, "context": PASSAGE, "evidence": "",
                             "question": "", "answer": ""}
    qa, _, _ = run_task("qa.grounded", [" How tall is it?\nAnswer: 330 metres"], {}, document=PASSAGE)
    assert qa.grounding["context"] == PASSAGE and qa.grounding["doc_id"] == "seed#0"
    with pytest.raises(PoisonRecord, match="has no text"):
        run_task("qa.grounded", ["x"], {}, document="# only a heading\n")


def test_an_empty_turn_ends_the_dialogue_with_a_reason():
    out, _, g = run_task("dialogue.grounded", [" How tall is it?", "  "], {"turns": "2"})
    assert out.parse_error == "turn 2 (assistant) is empty" and out.grounding["context"]


def test_the_chat_api_puts_the_passage_in_the_system_turn():
    out, model, _ = run_task("dialogue.grounded", ["How tall is it?", "330 metres."], {"turns": "1"}, api="chat",
                             document=PASSAGE)
    assert "using only what the passage says" in model.requests[1].messages[0]["content"]
    assert PASSAGE in model.requests[1].messages[0]["content"] and PASSAGE in model.requests[0].messages[0]["content"]
    assert out.messages[1]["content"] == "330 metres."


GOOD = gen(("How tall is the tower?", "It stands 330 metres high."),
           ("Who designed it?", "Gustave Eiffel's company designed it, for the World's Fair of 1889."))


@pytest.mark.parametrize("bad, code", [
    (gen(("How tall is the tower?", "It is 324 metres tall.")), "number_unsupported"),
    (gen(("Who designed it?", "It was designed by Stephen Sauvestre for the fair.")), "name_unsupported"),
    (gen(("Who designed it?", "The company of Paris designed it, and it is 330 metres tall.")), "entity_substituted"),
    (gen(("What was its iron painted to protect it from?", "The passage does not mention that.")),
     "false_not_covered"),
    (gen(("How tall is it?", PASSAGE)), "copies_passage"),
    (gen(("What is it like?", "It is a fascinating subject with many interesting aspects worth exploring.")),
     "not_grounded"),
    (gen(("What should I cook tonight?", "Try a simple risotto with mushrooms and parmesan.")), "left_passage"),
])
def test_passage_support_vetoes_each_kind_of_unsupported_turn(bad, code):
    judged = PassageSupportValidator().validate(bad)
    assert judged.veto and judged.reasons[0].startswith(code), judged.reasons


def test_passage_support_keeps_paraphrase_numbers_in_words_and_honest_not_covered():
    assert not PassageSupportValidator().validate(GOOD).veto
    honest = gen(("How many visitors does it get?", "Around seven million people visit it each year."),
                 ("How much did it cost to build?", "The passage does not say what it cost."))
    judged = PassageSupportValidator().validate(honest)
    assert not judged.veto and judged.score > 0.5, judged
    assert PassageSupportValidator().validate({**GOOD, "grounding": None}) is None  # not a grounded dialogue
    qa = {**GOOD, "grounding": {**GOOD["grounding"], "question": "How tall?", "answer": "330 metres"}}
    assert PassageSupportValidator().validate(qa) is None and turns(qa) is None


def test_the_family_checks_structure_and_needs_the_passage():
    assert REGISTRY.family_of("dialogue.grounded").name == "grounded_dialogue"
    checked = verify({**GOOD, "grounding": None})
    assert not checked.accepted and any(r.startswith("passage_missing") for r in checked.reasons)
    assert verify(GOOD).accepted


@pytest.mark.parametrize("text, values", [
    ("a hundred thousand ships", [100000]), ("twenty-six metres", [26]), ("four-fifths of it", [0.8]),
    ("a tenth of a second", [0.1]), ("1.5 million people", [1500000]), ("22,000 workers", [22000]),
    ("half a million eggs", [500000]), ("two hundred and fifty", [250]), ("a dozen", [12]),
    ("in the 1500s and the 16th century", []), ("one of them is a house", []), ("three or four meals", [3, 4]),
])
def test_numbers_in_words_and_digits_read_as_values(text, values):
    from synthstream.agents.verification.validators.lexical import quantities

    assert [float(q.value) for q in quantities(text)] == values


def test_figures_worked_out_from_the_passage_are_supported_and_others_are_not():
    ratio = gen(("How tall is it?", "330 metres."), ("And the visitors?", "About seven million a year, over 20,000 "
                                                    "times its height in metres."))
    assert not PassageSupportValidator().validate(ratio).veto  # 7,000,000 / 330 is 21,212
    derived = gen(("How often was it painted?", "Every seven years."),
                  ("How much taller is it than 300 metres?", "It is 30 metres more."))
    assert not PassageSupportValidator().validate(derived).veto  # 330 - 300, with 300 from the question
    made_up = gen(("How often was it painted?", "Every 12 years, more often than most towers."))
    assert PassageSupportValidator().validate(made_up).reasons[0].startswith("number_unsupported")


def test_a_reply_that_only_restates_its_question_is_vetoed():
    # what the embedded model wrote about the bundled router document, accepted before this check
    said = gen(("Is the X2 a security router?", "Yes, it's a security router."))
    assert PassageSupportValidator().validate(said).reasons[0].startswith("restates_question")
    short = gen(("What is painted?", "Its iron."))  # one new word is an answer
    assert not PassageSupportValidator().validate(short).veto

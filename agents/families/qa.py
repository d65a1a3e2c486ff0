"""Grounded question answering: a passage, an evidence sentence drawn by the generator, and the
model's question and answer for it; checked for grounding (the evidence is in the passage, the
answer's words are in the evidence, the question does not give it away) and weighed with the
factual validator and the answer checks (type, support, completeness, relevance:
validators/grounded.py)."""

from __future__ import annotations

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import Criterion, Rubric, TaskFamily
from synthstream.agents.generation.tasks.qa import QATask
from synthstream.agents.verification import checks, text_checks

FAMILY = TaskFamily(
    name="qa",
    summary="question-answer pairs grounded in a source passage",
    tasks=(QATask(),),
    verify=checks.text_verifier(text_checks.check_qa, text_checks.QA_VERIFIER),
    verifier=text_checks.QA_VERIFIER,
    gate_weights={"task": 0.7, "factual": 0.3, "answer_type": 0.05, "answer_support": 0.05, "answer_complete": 0.05,
                  "answer_relevance": 0.05},
    # the same question on another passage is another record
    dedup=DedupFields(("grounding.question", "grounding.answer"), ("task", "grounding.doc_id", "grounding.chunk"),
                      semantic=True),
    decontaminate=("grounding.question",),
    rubric=Rubric((
        Criterion("correct", "Is the answer a correct answer to the question, according to the passage?"),
        Criterion("supported", "Is everything the answer states supported by the passage, with nothing added?"),
        Criterion("complete", "Does the answer give everything the question asks for, and nothing irrelevant?"),
    ), by_default=True),
)

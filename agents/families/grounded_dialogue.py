"""Multi-turn dialogues about a passage of the user's documents (the QA corpus loader: a
directory, the bundled corpus, or a seed data set's rows); checked for structure as every
dialogue is, and what each assistant turn says against the passage (validators/
grounded_dialogue.py), the style, diversity and roles validators, and the LLM judge, who is
shown the passage."""

from __future__ import annotations

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import Criterion, Rubric, TaskFamily
from synthstream.agents.generation.tasks.dialogue import GroundedDialogueTask
from synthstream.agents.verification import checks, text_checks

FAMILY = TaskFamily(
    name="grounded_dialogue",
    summary="multi-turn conversations grounded in a passage of your documents",
    tasks=(GroundedDialogueTask(),),
    verify=checks.text_verifier(text_checks.check_grounded_dialogue, text_checks.GROUNDED_DIALOGUE_VERIFIER),
    verifier=text_checks.GROUNDED_DIALOGUE_VERIFIER,
    # the passage is the ground truth here, so the knowledge base's facts (factual) do not weigh:
    # a document may say what the bundled knowledge base does not
    # the embedding validators are left out: on the labelled grounded set (benchmarks/bench_gate.py)
    # coherence, novelty and triviality vetoed 17 of 50 good dialogues (short factual answers that
    # reuse the question's words read as restating it) for 8 bad ones passage_support missed, and
    # relevance vetoed 1 good one and no bad one; roles is lexical
    gate_weights={"task": 0.5, "passage_support": 0.3, "style": 0.1, "diversity": 0.1, "roles": 0.05},
    # the same conversation about another passage is another record
    dedup=DedupFields(("messages",), ("task", "grounding.doc_id", "grounding.chunk"), semantic=True),
    rubric=Rubric((
        Criterion("supported", "Is everything the assistant says supported by the passage, with nothing added?"),
        Criterion("answers", "Does every assistant turn answer what the user asked just before it?"),
        Criterion("about_passage", "Do the user's questions ask about what the passage says?"),
        Criterion("coherent", "Do the turns follow from one another, with no contradiction of an earlier turn?"),
    ), by_default=True),
)

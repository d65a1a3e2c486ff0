"""Multi-turn dialogues over topics x styles x turn counts, user-simulator and assistant turns
written by the model; checked for structure (roles, turns, repeats, echoes, refusals,
repetitiveness, stock phrases) and weighed with the style, diversity and factual validators and the
semantic ones (topic, relevance, coherence, novelty, triviality, roles: validators/semantic.py)."""

from __future__ import annotations

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import Criterion, Rubric, TaskFamily
from synthstream.agents.generation.tasks.dialogue import DialogueTask
from synthstream.agents.verification import checks, text_checks

FAMILY = TaskFamily(
    name="dialogue",
    summary="multi-turn conversations",
    tasks=(DialogueTask(),),
    verify=checks.text_verifier(text_checks.check_dialogue, text_checks.DIALOGUE_VERIFIER),
    verifier=text_checks.DIALOGUE_VERIFIER,
    # the structural checks, then substance: each semantic validator vetoes its clear failures
    # (off topic, a reply that ignores the question, a restated question, ...); their soft scores
    # weigh little, so the gate's threshold is reached by what the checks measure
    gate_weights={"task": 0.6, "style": 0.2, "diversity": 0.2, "factual": 0.2, "topic": 0.05, "relevance": 0.05,
                  "coherence": 0.05, "novelty": 0.05, "triviality": 0.05, "roles": 0.05},
    # the same words on another topic or in another style are another conversation
    dedup=DedupFields(("messages",), ("task", "dimensions.topic", "dimensions.style"), semantic=True),
    rubric=Rubric((
        Criterion("on_topic", "Is the conversation about the topic {topic}?"),
        Criterion("answers", "Does every assistant turn answer what the user asked just before it?"),
        Criterion("coherent", "Do the turns follow from one another, with no contradiction of an earlier turn?"),
        Criterion("correct", "Is every factual claim the assistant makes correct?"),
        Criterion("style", "Does the assistant write in a {style} style throughout?"),
    ), by_default=True),
)

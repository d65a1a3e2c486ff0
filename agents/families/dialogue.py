"""Multi-turn dialogues over topics x styles x turn counts, user-simulator and assistant turns
written by the model; checked for structure (roles, turns, repeats, echoes, refusals,
repetitiveness, stock phrases) and weighed with the style, diversity and factual validators."""

from __future__ import annotations

from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families.base import TaskFamily
from synthstream.agents.generation.tasks.dialogue import DialogueTask
from synthstream.agents.verification import checks, text_checks

FAMILY = TaskFamily(
    name="dialogue",
    summary="multi-turn conversations",
    tasks=(DialogueTask(),),
    verify=checks.text_verifier(text_checks.check_dialogue, text_checks.DIALOGUE_VERIFIER),
    verifier=text_checks.DIALOGUE_VERIFIER,
    gate_weights={"task": 0.6, "style": 0.2, "diversity": 0.2, "factual": 0.2},
    # the same words on another topic or in another style are another conversation
    dedup=DedupFields(("messages",), ("task", "dimensions.topic", "dimensions.style")),
)

"""Which parts of a generation dedup compares, per task.

A task's ``text`` fields are joined and compared fuzzily; its ``scope`` fields must be equal
for two records to be compared at all (plus the data set: data sets never dedup each other).
Each task family's defaults (agents/families/) keep apart what differs in substance while its wording is close: two math
problems with another equation or answer, two code samples for another function, two QA pairs
on another passage, two dialogues on another topic or in another style. A spec overrides them
per task (``tasks[].dedup``). A task whose dedup is ``semantic`` also has its text's embedding
compared within the scope (the third tier, semantic.py): on for dialogues, QA pairs and template
outputs, off for code (which a sentence model does not read) and math (whose scope already holds
the substance, and whose problems the embeddings cannot tell apart).

Field paths name a generation's parts: ``problem``, ``statement`` (the problem without the
prompt's instruction in front of it: what follows its first blank line; math tasks dedup on it,
so that the same problem asked with another of the spec's instructions is still a copy),
``response``, ``answer``, ``reference_answer`` (the expected answer a task was given, e.g. a
template task's reference field), ``equation``,
``messages`` (the whole conversation), ``task``, ``code.prompt``, ``code.completion``,
``code.entry_point``, ``grounding.question``, ``grounding.answer``, ``grounding.doc_id``,
``grounding.chunk``, and ``dimensions.<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import xxhash

from synthstream.agents.dedup.normalize import normalize

FIELDS = ("problem", "statement", "response", "reference_answer", "answer", "equation", "messages", "task",
          "code.prompt", "code.completion", "code.entry_point", "grounding.question", "grounding.answer", "grounding.doc_id", "grounding.chunk")


def known_field(path: str) -> bool:
    return path in FIELDS or (path.startswith("dimensions.") and len(path) > len("dimensions."))


@dataclass(frozen=True)
class DedupFields:
    text: tuple[str, ...]
    scope: tuple[str, ...]
    semantic: bool = False  # paraphrases by embedding too

    def __post_init__(self) -> None:
        bad = [p for p in (*self.text, *self.scope) if not known_field(p)]
        if bad:
            raise ValueError(f"unknown dedup field(s) {bad}; expected some of {list(FIELDS)} or dimensions.<name>")
        if not self.text:
            raise ValueError("dedup needs at least one text field")


def value(gen: dict[str, Any], path: str) -> str:
    """One field of a generation as text ('' when the generation lacks it)."""
    if path == "messages":
        return "\n".join(m["content"] for m in gen.get("messages") or [])
    if path == "statement":  # "<instruction>\n\n<statement>", as the generators write a problem
        problem = gen.get("problem") or ""
        return problem.split("\n\n", 1)[1] if "\n\n" in problem else problem
    node: Any = gen
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return ""
    return str(node)


def text_of(gen: dict[str, Any], fields: DedupFields) -> str:
    return "\n".join(value(gen, p) for p in fields.text)


def scope_of(gen: dict[str, Any], fields: DedupFields) -> str:
    parts = [gen["lineage"]["dataset"], *(normalize(value(gen, p)) for p in fields.scope)]
    return "\x1f".join(parts)


def partition_for(scope: str, partitions: int) -> int:
    """The partition every candidate of a scope goes to, so that one index owner sees them all."""
    return xxhash.xxh3_64_intdigest(scope.encode()) % partitions


@dataclass(frozen=True)
class Route:
    text: str  # what is compared fuzzily
    scope: str  # what must be equal for two records to be compared
    partition: int  # where every candidate of the scope meets (the verdict's partition, the index's)
    semantic: bool = False  # compare the text's embedding too


def dedup_route(gen: dict[str, Any], fields: DedupFields, partitions: int) -> Route:
    """The one place that decides what dedup compares and where: verification sends the verdict
    to ``partition``, and dedup checks ``text`` within ``scope`` in that partition's index."""
    scope = scope_of(gen, fields)
    return Route(text_of(gen, fields), scope, partition_for(scope, partitions), fields.semantic)

"""Verifiers for dialogue and grounded QA: structural and grounding checks (heuristic; the
LLM-judge and style checks come with the validator framework). Pure functions."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz
from synthstream.streams.runtime.records import Reason

DIALOGUE_VERIFIER = "dialogue.structure@1"
QA_VERIFIER = "qa.grounding@1"
GROUNDED_DIALOGUE_VERIFIER = "dialogue.grounded-structure@1"
REFUSAL = re.compile(r"(?i)\b(i'?m sorry|i cannot|i can'?t (help|assist)|as an ai( language model)?|i am unable)\b")
BOILERPLATE = re.compile(r"(?i)\b(i hope this helps|feel free to (ask|reach out)|let me know if you have any (other |more )?"
                         r"questions|great question|as an? (large )?language model|happy to help|"
                         r"is there anything else i can help)")
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset("a an the of in on at to for from by with and or is are was were be been it its this that "
                      "these those as into about than then there their they he she his her we you i".split())


def transcript(gen: dict[str, Any], sep: str = "\n") -> str:
    """The conversation as 'USER: ...' / 'ASSISTANT: ...' lines (problem and response when a
    generation has no messages), for a reviewer or a judge model to read."""
    msgs = gen.get("messages") or [{"role": "user", "content": gen.get("problem", "")},
                                   {"role": "assistant", "content": gen.get("response", "")}]
    return sep.join(f"{m['role'].upper()}: {m['content']}" for m in msgs)


def is_grounded_dialogue(gen: dict[str, Any]) -> bool:
    """A conversation about a passage (dialogue.grounded): grounding with a passage and no
    question of its own (a QA record's grounding has its question and answer)."""
    g = gen.get("grounding") or {}
    return bool(g.get("context")) and not g.get("question")


def spoken(gen: dict[str, Any]) -> list[dict[str, str]]:
    """The messages as spoken: in a grounded dialogue the first user turn carries the request
    and the passage before its question ('...\n\nPassage: <passage>\n\n<question>'); this
    gives that turn as the question alone."""
    msgs = list(gen.get("messages") or [])
    if msgs and is_grounded_dialogue(gen):
        first = msgs[0]["content"]
        marker = f"Passage: {gen['grounding']['context']}"
        at = first.find(marker)
        if at >= 0:
            msgs[0] = dict(msgs[0], content=first[at + len(marker):].strip())
    return msgs


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def distinct_n(tokens: list[str], n: int) -> float:
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def check_dialogue(gen: dict[str, Any]) -> tuple[list[str], list[str], float]:
    """(critical, soft, score) for a dialogue's messages (as spoken: a grounded dialogue's
    passage is not part of its first turn here)."""
    msgs = spoken(gen)
    critical: list[str] = []
    soft: list[str] = []
    roles = [m["role"] for m in msgs]
    expected_roles = ["user", "assistant"] * (len(msgs) // 2)
    if len(msgs) < 2 or len(msgs) % 2 or roles != expected_roles:
        critical.append(Reason("roles_invalid", f"roles {roles} do not alternate user/assistant in pairs"))
    want = gen["dimensions"].get("turns")
    if want and want.isdigit() and len(msgs) != 2 * int(want):
        critical.append(Reason("turn_count", f"{len(msgs)} messages, expected {2 * int(want)}"))
    contents = [" ".join(words(m["content"])) for m in msgs]
    if any(len(c) < 2 for c in contents):
        critical.append(Reason("turn_empty", "a turn has no words"))
    repeats = len(contents) - len(set(contents))
    if repeats:
        critical.append(Reason("turn_repeated", f"{repeats} turn(s) repeat an earlier one"))
    echoes = sum(1 for a, b in zip(contents, contents[1:]) if a and b and fuzz.ratio(a, b) >= 90)
    if echoes:
        critical.append(Reason("turn_echo", f"{echoes} turn(s) echo the turn before"))
    refusals = [i for i, m in enumerate(msgs) if m["role"] == "assistant" and REFUSAL.search(m["content"])]
    if refusals:
        critical.append(Reason("refusal", f"assistant turn(s) {[i + 1 for i in refusals]} refuse or say 'as an AI'"))
    tokens = [t for c in contents for t in c.split()]
    d2 = distinct_n(tokens, 2)
    if d2 < 0.6:
        soft.append(Reason("repetitive", f"distinct-2 {d2:.2f} < 0.60"))
    long_turns = [i + 1 for i, m in enumerate(msgs) if len(m["content"]) > 1500]
    if long_turns:
        soft.append(Reason("turn_too_long", f"turn(s) {long_turns} exceed 1500 characters"))
    boiler = [i + 1 for i, m in enumerate(msgs) if m["role"] == "assistant" and BOILERPLATE.search(m["content"])]
    if boiler:
        soft.append(Reason("boilerplate", f"assistant turn(s) {boiler} pad with stock phrases ('I hope this helps', ...)"))
    score = 0.4 * (not critical) + 0.3 * min(1.0, d2 / 0.6) + 0.3 * (not long_turns) - 0.15 * bool(boiler)
    return critical, soft, score


def check_grounded_dialogue(gen: dict[str, Any]) -> tuple[list[str], list[str], float]:
    """The dialogue's structural checks, and a passage to be grounded in; what the turns say
    against the passage is the passage_support validator's (validators/grounded_dialogue.py)."""
    critical, soft, score = check_dialogue(gen)
    if not is_grounded_dialogue(gen):
        critical.append(Reason("passage_missing", "a grounded dialogue without its passage (grounding.context)"))
    return critical, soft, score


def check_qa(gen: dict[str, Any]) -> tuple[list[str], list[str], float]:
    """(critical, soft, score): the evidence is in the passage, the answer is supported by the
    evidence, and the question does not give the answer away."""
    g = gen.get("grounding") or {}
    critical: list[str] = []
    soft: list[str] = []
    context, evidence = g.get("context", ""), g.get("evidence", "")
    question, answer = g.get("question", ""), g.get("answer", "")
    if not evidence or fuzz.partial_ratio(evidence.lower(), context.lower()) < 95:
        critical.append(Reason("evidence_not_in_passage", "the evidence span is not found in the passage"))
    answer_words = [w for w in words(answer) if w not in STOPWORDS]
    evidence_words = set(words(evidence))
    if not answer_words:
        critical.append(Reason("answer_empty", "the answer has no content words"))
        support = 0.0
    else:
        support = sum(1 for w in answer_words if w in evidence_words) / len(answer_words)
        if support < 0.6:
            critical.append(Reason("answer_unsupported", f"only {support:.0%} of the answer's words are in the evidence"))
    question_words = set(words(question))
    if answer_words and all(w in question_words for w in answer_words):
        critical.append(Reason("answer_in_question", "the question already contains the answer"))
    if re.search(r"(?i)\bwhich of (the )?(following|these)\b", question):
        critical.append(Reason("question_needs_options", "a multiple-choice question without its options"))
    if not question.rstrip().endswith("?"):
        soft.append(Reason("question_form", "the question does not end with '?'"))
    if len(answer) > 300:
        soft.append(Reason("answer_too_long", "more than 300 characters"))
    copied = fuzz.ratio(question.lower(), evidence.lower()) >= 85
    if copied:
        soft.append(Reason("question_copies_evidence", "the question is the evidence sentence reworded little"))
    score = 0.5 * min(1.0, support) + 0.2 * question.rstrip().endswith("?") + 0.15 * (len(answer) <= 300) \
        + 0.15 * (not copied)
    return critical, soft, score

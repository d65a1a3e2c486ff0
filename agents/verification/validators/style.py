"""The seed's StyleConsistencyValidator: do the assistant's turns read in the requested style?

Lexical markers per assistant turn: contractions and slang (casual), formal connectives, jargon and
long words (technical), jokes, laughter and exclamations (humorous). A turn that shows the
requested style scores 1, a neutral turn 0.5, a turn with markers *against* it (slang in a formal
dialogue, formal connectives in a casual one) 0. Applies to records with a ``style`` dimension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from synthstream.agents.verification.text_checks import words
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.streams.runtime.records import Reason

NAME, VERSION = "style", "lexical-markers@2"
CONTRACTION = re.compile(r"(?i)\b[a-z]+'(?:t|re|m|ll|ve|s|d)\b")
SENTENCE = re.compile(r"[.!?]+")
SLANG = frozenset("hey yeah yep nope gonna wanna gotta kinda sorta cool awesome lol haha hehe totally stuff guys "
                  "dude btw ok okay yay wow super".split())
FORMAL = frozenset("furthermore moreover therefore hence thus regarding consequently additionally nevertheless "
                   "accordingly indeed whereas".split())
JARGON = frozenset("algorithm function parameter system data process model protocol network variable compute "
                   "latency throughput architecture implementation api configuration optimize optimization memory "
                   "cpu database query framework neural quantum molecule hypothesis equation theorem hardware "
                   "software processor energy frequency wavelength molecular statistical coefficient".split())
HUMOR = frozenset("haha lol joke jokes funny pun laugh laughing hilarious kidding lmao".split())


@dataclass(frozen=True)
class Markers:
    words: int
    contractions: int
    slang: list[str]
    formal: list[str]
    jargon: int
    long_words: int
    humor: list[str]
    exclaims: int
    avg_sentence: float


def markers(text: str) -> Markers:
    toks = words(text)
    n = max(1, len(toks))
    sentences = [s for s in SENTENCE.split(text) if s.strip()]
    return Markers(len(toks), len(CONTRACTION.findall(text)), [t for t in toks if t in SLANG],
                   [t for t in toks if t in FORMAL], sum(t in JARGON for t in toks), sum(len(t) >= 9 for t in toks),
                   [t for t in toks if t in HUMOR], text.count("!"), n / max(1, len(sentences)))


def judge_turn(style: str, m: Markers) -> tuple[float, str]:
    """(score, why) of one assistant turn against the requested style."""
    n = max(1, m.words)
    informal = (m.contractions + len(m.slang)) / n
    if style == "formal":
        if m.slang or informal >= 0.05 or m.humor:
            return 0.0, f"reads casual ({', '.join(m.slang[:3]) or f'{m.contractions} contractions'})"
        return (1.0, "") if m.formal or (informal == 0 and m.avg_sentence >= 12) else (0.5, "")
    if style == "casual":
        if len(m.formal) >= 2:
            return 0.0, f"reads formal ({', '.join(m.formal[:3])})"
        return (1.0, "") if m.slang or m.contractions or m.exclaims else (0.5, "")
    if style == "technical":
        if len(m.slang) >= 2:
            return 0.0, f"reads casual ({', '.join(m.slang[:3])})"
        return (1.0, "") if m.jargon / n >= 0.04 or m.long_words / n >= 0.15 else (0.5, "")
    if style == "humorous":
        return (1.0, "") if m.humor or m.exclaims else (0.5, "")
    return 0.5, ""


def judge_record(style: str, turns: list[str]) -> str | None:
    """Why the assistant's side as a whole reads in another register, or None. Measured on
    benchmarks/data/gate_dialogue.jsonl (good dialogues of each style against ones written in the
    wrong register): technical text has next to no contractions or slang; casual text that has
    none at all *and* long words or long sentences reads formal; humorous text with no joke, no
    exclamation and long words or sentences reads dry."""
    m = markers(" ".join(turns))
    n = max(1, m.words)
    informal = (m.contractions + len(m.slang)) / n
    long_share = m.long_words / n
    if style == "technical" and informal >= 0.04:
        return f"reads casual ({informal:.0%} contractions and slang)"
    if style == "casual" and informal == 0 and (long_share >= 0.12 or m.avg_sentence >= 25):
        return f"reads formal (no contraction or slang, {long_share:.0%} long words, {m.avg_sentence:.0f}-word sentences)"
    if style == "humorous" and not m.humor and not m.exclaims and (long_share >= 0.15 or m.avg_sentence >= 24):
        return f"reads dry (no joke or exclamation, {long_share:.0%} long words, {m.avg_sentence:.0f}-word sentences)"
    return None


class StyleConsistencyValidator:
    name, version = NAME, VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        style = (gen.get("dimensions") or {}).get("style")
        turns = [m["content"] for m in gen.get("messages") or [] if m.get("role") == "assistant"]
        if not style or not turns:
            return None
        judged = [judge_turn(style, markers(t)) for t in turns]
        reasons = [Reason("style_mismatch", f"assistant turn {i} {why}, requested {style}")
                   for i, (score, why) in enumerate(judged, 1) if score == 0.0]
        if not any(score == 1.0 for score, _ in judged):
            reasons.append(Reason("style_unmarked", f"no assistant turn shows the requested {style} style"))
        whole = judge_record(style, turns)
        if whole is not None:
            reasons.append(Reason("style_mismatch", f"the assistant's side as a whole {whole}, requested {style}"))
            return Judgement(NAME, VERSION, 0.0, reasons, veto=True)
        return Judgement(NAME, VERSION, clamp(sum(s for s, _ in judged) / len(judged)), reasons)

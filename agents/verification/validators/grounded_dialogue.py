"""What a grounded dialogue's assistant says, against its passage (dialogue.grounded).

``passage_support`` reads every assistant turn against the passage the conversation is about
(``grounding.context``), sentence by sentence:

- a number or a name the passage does not have is an unsupported claim (veto); numbers compare
  as numbers ('1,500' is 1500, 'three' is 3);
- the share of a turn's content words (crude stems) found in the passage measures grounding;
  a turn with hardly any is vague or about something else (veto below ``veto_below``);
- a sentence that draws on one passage sentence but names another name of the passage where
  that sentence has one the reply leaves out is the passage's fact with the wrong entity (veto);
- a turn that pastes most of the passage, whatever was asked, is not an answer (veto);
- "the passage does not say" is right only when no passage sentence holds what the question
  asks about (most of its content words): otherwise it is a false refusal (veto);
- a reply with no content word or number its question did not have restates it ("Is it a
  security router?" "Yes, it's a security router."; veto);
- a user turn that shares nothing with the passage while its reply shares nothing either is a
  conversation that left the passage (veto).

Lexical and pure. What still passes (measured by benchmarks/bench_gate.py on the labelled sets,
docs/BENCHMARKS.md): a reversed relation built from the passage's own words, and a reply about
another part of the passage, unless the semantic relevance validator or the LLM judge (which
is shown the passage) catches it.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from synthstream.agents.verification.text_checks import is_grounded_dialogue, spoken
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.agents.verification.validators.lexical import Quantity, names, quantities, same_quantity, stems, words
from synthstream.streams.runtime.records import Reason

VERSION = "grounded-dialogue-lexical@1"
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
NOT_COVERED = re.compile(r"(?i)\b(?:passage|text|document|article|source)\s+(?:does not|doesn't|did not|didn't|do not|"
                         r"don't|never|is silent)\b|"
                         r"\bit\s+(?:does not|doesn't)\s+(?:say|mention|state|specify|cover|give|tell|describe|explain)\b|"
                         r"\bnot\s+(?:mentioned|stated|covered|specified|given|described|said|discussed)\b|"
                         r"\bno (?:information|mention|details?)\b")

COMPARES = re.compile(r"(?i)\b(?:times|fold|more|less|fewer|longer|shorter|higher|lower|bigger|smaller|faster|slower|"
                      r"difference|ratio|tenth|half|third|quarter|fifth)\b")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _missing_names(found: list[str], where: str) -> list[str]:
    """The names not in ``where``: as a whole, word by word, or as a word of it that a demonym
    or plural starts with ('Greenlanders' for 'Greenland', six letters at least)."""
    low = where.lower()
    known = {w[:6] for w in words(where) if len(w) >= 6}

    def found_part(part: str) -> bool:
        part = part.removesuffix("'s").removesuffix("\u2019s")
        return part in low or (len(part) >= 6 and part[:6] in known)

    return [n for n in found if n not in low and not all(found_part(part) for part in n.split())]


class PassageSupportValidator:
    name, version = "passage_support", VERSION
    veto_below = 0.25  # share of a turn's content stems (and numbers) found in the passage
    good_at = 0.7
    copy_share = 0.7  # a turn holding this share of the passage's words, in its order, pastes it
    covered_share = 0.8  # of the question's content stems in one passage sentence: the passage answers it
    small_count = 10  # a count written in words up to this ('the two acids') is not checked
    aligned_at = 3  # content stems a reply sentence (with its question) shares with the passage sentence it draws on
    rules = ("number", "name", "substituted", "copy", "grounded", "not_covered", "restates")

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        if not is_grounded_dialogue(gen):
            return None
        passage = gen["grounding"]["context"]
        msgs = [m for m in spoken(gen) if m.get("role") in ("user", "assistant")]
        if not any(m["role"] == "assistant" for m in msgs):
            return None
        passage_stems = stems(passage)
        known = [q.value for q in quantities(passage)]
        passage_sentences = sentences(passage)
        sentence_stems = [stems(s) for s in passage_sentences]
        reasons: list[str] = []
        shares: list[float] = []
        question = ""
        for i, m in enumerate(msgs):
            if m["role"] == "user":
                question = m["content"]
                continue
            turn, reply = (i + 1) // 2, m["content"]
            if NOT_COVERED.search(reply):
                asked = stems(question)
                best = max((len(asked & s) / len(asked) for s in sentence_stems), default=0.0) if asked else 0.0
                if "not_covered" in self.rules and len(asked) >= 2 and best >= self.covered_share:
                    reasons.append(Reason("false_not_covered", f"turn {turn}: says the passage does not say, but "
                                                               f"it does ({best:.0%} of the question in one sentence)"))
                shares.append(1.0)
                continue
            asked_values = [q.value for q in quantities(question)]
            said_values = [q.value for q in quantities(reply)]
            if "restates" in self.rules and not (stems(reply) - stems(question)) \
                    and all(v in asked_values for v in said_values):
                reasons.append(Reason("restates_question", f"turn {turn} says nothing its question did not "
                                                           f"({reply[:80]!r})"))
            unsupported = [q for q in quantities(reply) if not self._supported(q, reply, known + asked_values)]
            said = stems(reply)
            found = len(said & passage_stems) + len(quantities(reply)) - len(unsupported)
            total = len(said) + len(quantities(reply))
            share = found / total if total else 0.0
            shares.append(share)
            if unsupported and "number" in self.rules:
                shown = ", ".join(_show(q.value) for q in unsupported[:3])
                reasons.append(Reason("number_unsupported", f"turn {turn}: {shown} not in the passage"))
            unknown = _missing_names(names(reply, sentence_initial=False), passage)
            if unknown and "name" in self.rules:
                reasons.append(Reason("name_unsupported", f"turn {turn}: {', '.join(unknown[:3])} not in the passage"))
            if not unsupported and not unknown and "substituted" in self.rules:
                swapped = self._substituted(question, reply, passage_sentences, sentence_stems)
                if swapped:
                    reasons.append(Reason("entity_substituted", f"turn {turn}: {swapped}"))
            if self._copies(reply, passage):
                if "copy" in self.rules:
                    reasons.append(Reason("copies_passage", f"turn {turn} pastes the passage instead of answering"))
            elif share < self.veto_below and "grounded" in self.rules:
                asked = stems(question)
                code = "left_passage" if asked and not (asked & passage_stems) else "not_grounded"
                reasons.append(Reason(code, f"turn {turn}: {share:.0%} of its content words are in the passage "
                                            f"(< {self.veto_below:.0%})"))
        score = clamp(sum(min(1.0, max(0.0, (s - self.veto_below) / (self.good_at - self.veto_below)))
                          for s in shares) / len(shares)) if shares else 0.0
        if reasons:
            return Judgement(self.name, self.version, min(score, 0.2), reasons[:4], veto=True)
        return Judgement(self.name, self.version, score)

    def _supported(self, q: Quantity, reply: str, known: list[Fraction]) -> bool:
        """In the passage (or the question), as a percentage of a fraction or the other way
        round, a small count in words, or, in a reply that compares ('four times as fast', 'a
        tenth of the price', '50 dB more'), the ratio or difference of two of the passage's
        figures (within -10 %/+25 %: 'more than four times' for 4.3)."""
        if any(same_quantity(q.value, k) for k in known):
            return True
        if q.words and q.value.denominator == 1 and q.value <= self.small_count:
            return True
        if COMPARES.search(reply):  # a figure the reply works out from two of the passage's
            derived = [x for a in known for b in known if a != b for x in ((a / b,) if b else ()) + (a - b,)]
            return any(q.value * Fraction(9, 10) <= x <= q.value * Fraction(5, 4) for x in derived if x > 0)
        return False

    def _substituted(self, question: str, reply: str, passage_sentences: list[str],
                     sentence_stems: list[set[str]]) -> str | None:
        """A reply sentence that draws on one passage sentence (shares ``aligned_at`` content
        words with it, with the question's, more than with any other) but names another name of
        the passage where that sentence has a name the reply leaves out: the passage's fact
        with the wrong person, place or thing in it ("Uhuru Peak, on the Mawenzi cone" for
        "Uhuru Peak on the Kibo cone")."""
        passage_low = " ".join(passage_sentences).lower()
        asked = stems(question)
        for sent in sentences(reply):
            own = stems(sent) | asked
            overlaps = [len(own & st) for st in sentence_stems]
            best = max(range(len(overlaps)), key=overlaps.__getitem__)
            if overlaps[best] < self.aligned_at or overlaps.count(overlaps[best]) > 1:
                continue
            source = passage_sentences[best].lower()
            said = [n for n in names(sent, sentence_initial=False) if n in passage_low
                    and n not in source and not all(part in source for part in n.split())]
            left_out = [n for n in names(passage_sentences[best], sentence_initial=False)
                        if n not in sent.lower() and n not in question.lower()]
            if said and left_out:
                return (f"names {said[0]!r} where the passage sentence it draws on has {left_out[0]!r} "
                        f"({passage_sentences[best][:80]!r})")
        return None

    def _copies(self, reply: str, passage: str) -> bool:
        said, source = words(reply), words(passage)
        if len(source) < 12 or len(said) < self.copy_share * len(source):
            return False
        grams = {tuple(source[i:i + 4]) for i in range(len(source) - 3)}
        hits = sum(1 for i in range(len(said) - 3) if tuple(said[i:i + 4]) in grams)
        return hits + 3 >= self.copy_share * len(source)


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"


def grounded_dialogue_validators() -> list[Any]:
    return [PassageSupportValidator()]

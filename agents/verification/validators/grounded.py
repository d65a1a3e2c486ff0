"""Validators for grounded QA: is the answer the right *kind* of thing, supported by the evidence,
complete, and about what was asked?

- ``answer_type``      who / when / where / how many (and "which country", "what year", ...) ask for
                       a person, a time, a place, a quantity: an answer of another kind is vetoed
                       ("Who built the wall?" "On 13 August 1961");
- ``answer_support``   every number and every name in the answer occurs in the evidence (veto);
- ``answer_complete``  a question asking for two or three things gets that many, and an answer
                       that is one half of "A and B" in the evidence, for a question about both, is
                       incomplete (veto);
- ``answer_relevance`` a question about nothing ("What is the answer to this question?"), an answer
                       wrapped in the prompt's words ('The answer is "..."'), a whole statement that
                       mentions nothing the question asks about ("What is the angle of the dance?"
                       "The length of the waggle run shows how far away it is."), an answer whose
                       head is a name the question itself uses ("Which river joins the Amazon near
                       Manaus?" "The city of Manaus").

All lexical. Embedding-based checks were measured and left out: on benchmarks/data/gate_qa.jsonl
the model's question-answer similarity does not separate right answers from wrong ones (AUC
0.50), nor does "question + answer" as a statement against the evidence (AUC 0.40-0.59 per kind
of failure), nor which clause of the evidence the answer sits in (it vetoed 16 of 74 good
answers). An answer that names the wrong entity of the evidence, or reuses its words in a false
relation, still passes these checks: that is the LLM judge's work.
"""

from __future__ import annotations

import re
from typing import Any

from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.agents.verification.validators.lexical import MONTHS, NUMBER_WORDS, content_words, names, numbers
from synthstream.streams.runtime.records import Reason

VERSION = "qa-lexical@1"

_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b|\b\d+(st|nd|rd|th)? (century|centuries)\b|\b(BC|AD|BCE|CE)\b")
_TIME_WORDS = re.compile(r"(?i)\b(century|centuries|decade|decades|year|years|month|months|week|weeks|day|days|"
                         r"hour|hours|minute|minutes|ago|later|earlier|before|after|during|until|since|morning|"
                         r"evening|night|noon|midnight|spring|summer|autumn|winter|today|yesterday|age|era|"
                         r"dynasty|reign|war)\b")
_BARE_NUMBER = re.compile(r"(?<![\w\-])\d{1,4}(?![\w\-])")  # '930' (a year), not 'X-1'
_PLACE_OPENER = re.compile(r"(?i)^\s*(in|at|on|from|near|inside|outside|along|across|off|beside|between|to|"
                           r"in and around)\b")
_QUANTITY_Q = re.compile(r"(?i)^\s*(?:about |roughly |approximately )?how (many|much|long|far|deep|tall|high|old|fast|"
                         r"big|large|wide|heavy|often|hot|cold)\b|\bwhat (height|depth|length|distance|percentage|"
                         r"proportion|share|fraction|speed|temperature|number|amount|population|size|age|weight)\b")
_TIME_Q = re.compile(r"(?i)^\s*(?:\w+ )?(when\b|(in |during )?(what|which) (year|century|decade|month|date|day|era|"
                     r"period|season)\b)")
_PERSON_Q = re.compile(r"(?i)^\s*(?:\w+ )?(who|whom|whose)\b")
_PLACE_Q = re.compile(r"(?i)^\s*(?:\w+ )?(where\b|(in |at |from |to |near |on )?(what|which) (country|city|town|"
                      r"village|state|province|region|continent|island|river|lake|sea|ocean|mountain|laboratory|lab|"
                      r"university|hospital|capital|place|building|museum|port|valley|desert|county|nation|region|area|site)(s|es)?\b)")
_COUNT_Q = re.compile(r"(?i)\b(?:which|what|the|name|list)\s+(two|three|four|five|six|2|3|4|5|6)\b|"
                      r"\b(two|three|four|five|six)\s+(?:most\s+\w+\s+|main\s+|core\s+|kinds?\b|types?\b|\w+s\b)|"
                      r"^\s*between (which|what)\b")
_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6}
PERSON_NOUNS = frozenset("""king queen pope emperor president minister prime chancellor scientist scientists
engineer engineers inventor inventors pilot astronaut astronauts monk monks priest priests merchant merchants
traders workers soldiers barons nobles farmers citizens people team crew government company companies army
explorer explorers author writer poet artist composer philosopher doctor physician chemist physicist biologist
mathematician officials official founder founders leader leaders group partners students teacher""".split())


PLACE_NOUNS = frozenset("""coast shore city town village country state region continent island river lake sea ocean
mountain mountains valley desert forest north south east west northern southern eastern western capital border
laboratory hospital university museum harbour harbor port bay gulf peninsula basin plain plains""".split())


def parts(gen: dict[str, Any]) -> tuple[str, str, str] | None:
    g = gen.get("grounding")
    if not g or not g.get("question") or not g.get("answer"):
        return None
    return g["question"], g["answer"], g.get("evidence") or ""


def has_time(answer: str) -> bool:
    return bool(_YEAR.search(answer) or _TIME_WORDS.search(answer) or any(w in MONTHS for w in answer.lower().split()))


def has_number(answer: str) -> bool:
    low = answer.lower()
    return bool(re.search(r"\d", answer)) or any(w in NUMBER_WORDS for w in re.findall(r"[a-z]+", low)) or \
        bool(re.search(r"\b(a|one) (few|couple|dozen|hundred|thousand|million|billion|third|quarter|fifth|tenth)\b|"
                       r"\b(twice|thrice|double|triple|half|several|dozens|hundreds|thousands|millions)\b", low))


def only_time(answer: str) -> bool:
    """A date and nothing else ('In 1628', 'On 13 August 1961')."""
    rest = _YEAR.sub(" ", answer)
    rest = re.sub(r"(?i)\b(in|on|at|during|by|around|about|early|late|mid|the|of|" + "|".join(MONTHS) + r")\b", " ", rest)
    return has_time(answer) and not re.search(r"[A-Za-z]{2,}", re.sub(r"\d+(st|nd|rd|th)?", " ", rest))


def asked_type(question: str) -> str | None:
    if _QUANTITY_Q.search(question):
        return "quantity"
    if _TIME_Q.search(question):
        return "time"
    if _PERSON_Q.search(question):
        return "person"
    if _PLACE_Q.search(question):
        return "place"
    return None


def type_mismatch(kind: str, answer: str) -> str | None:
    """Why the answer is not of the kind asked for, or None."""
    place_phrase = bool(_PLACE_OPENER.match(answer)) and not has_time(answer)
    if kind == "quantity" and not has_number(answer):
        return "asks for a quantity and the answer has no number"
    if kind == "quantity" and place_phrase:
        return "asks for a quantity and the answer is a place"
    if kind == "time" and not has_time(answer) and not _BARE_NUMBER.search(answer):
        return "asks when and the answer names no time"
    if kind == "person":
        if only_time(answer) or (has_number(answer) and not names(answer) and not _person_noun(answer)):
            return "asks who and the answer is a date or a number"
        if place_phrase:
            return "asks who and the answer is a place"
    if kind == "place":
        if only_time(answer) or (has_number(answer) and not names(answer)):
            return "asks where and the answer is a date or a number"
        if not names(answer) and not place_phrase and not _place_noun(answer):
            return "asks where and the answer names no place"
    if kind == "person" and not names(answer) and not _person_noun(answer):
        return "asks who and the answer names no one"
    return None


def _place_noun(answer: str) -> bool:
    return any(w.rstrip("s") in PLACE_NOUNS for w in re.findall(r"[a-z]+", answer.lower()))


def _person_noun(answer: str) -> bool:
    return any(w in PERSON_NOUNS for w in re.findall(r"[a-z]+", answer.lower()))


class AnswerTypeValidator:
    name, version = "answer_type", VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        got = parts(gen)
        if got is None:
            return None
        question, answer, _ = got
        kind = asked_type(question)
        if kind is None:
            return None
        why = type_mismatch(kind, answer)
        if why:
            return Judgement(self.name, self.version, 0.0, [Reason("answer_wrong_type", f"{why}: {answer[:80]!r}")],
                             veto=True)
        return Judgement(self.name, self.version, 1.0)


class AnswerSupportValidator:
    """Every number and name of the answer is in the evidence (numbers compared as numbers:
    '8,848.86' is 8848.86; 'four' is 4)."""

    name, version = "answer_support", VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        got = parts(gen)
        if got is None or not got[2]:
            return None
        _, answer, evidence = got
        have_numbers = set(numbers(evidence))
        missing_numbers = [n for n in numbers(answer) if n not in have_numbers]
        low = evidence.lower()
        missing_names = [n for n in names(answer) if n not in low and not all(p in low for p in n.split())]
        reasons = []
        if missing_numbers:
            reasons.append(Reason("number_unsupported", f"{', '.join(missing_numbers[:3])} not in the evidence"))
        if missing_names:
            reasons.append(Reason("name_unsupported", f"{', '.join(missing_names[:3])} not in the evidence"))
        return Judgement(self.name, self.version, 0.0 if reasons else 1.0, reasons, veto=bool(reasons))


def items(answer: str) -> int:
    """How many things an answer lists ('A, B and C' is 3)."""
    return len([p for p in re.split(r"\s*(?:,|;|\band\b|\bor\b|&|\bas well as\b)\s*", answer) if p.strip()])


class AnswerCompleteValidator:
    """A question asking for N things gets N; an answer that is one conjunct of 'A and B' in the
    evidence where the question asks about the pair ('Who landed Eagle?' 'Neil Armstrong')."""

    name, version = "answer_complete", VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        got = parts(gen)
        if got is None:
            return None
        question, answer, evidence = got
        match = _COUNT_Q.search(question)
        if match:
            word = next((g for g in match.groups() if g and g.lower() in _COUNTS), None)
            want = _COUNTS[word.lower()] if word else 2
            have = items(answer)
            if have < want:
                return Judgement(self.name, self.version, clamp(have / want), [Reason(
                    "answer_incomplete", f"the question asks for {want} and the answer gives {have}")], veto=True)
            return Judgement(self.name, self.version, 1.0)
        if _PERSON_Q.search(question) and evidence and items(answer) == 1:
            partner = _partner(answer, evidence)
            if partner:
                return Judgement(self.name, self.version, 0.5, [Reason(
                    "answer_incomplete", f"the evidence names {answer!r} together with {partner!r}")], veto=True)
        return None


def _partner(answer: str, evidence: str) -> str | None:
    """The name joined to ``answer`` by 'and' in the evidence ('Armstrong and Buzz Aldrin')."""
    at = evidence.lower().find(answer.lower())
    if at < 0:
        return None
    after = evidence[at + len(answer):]
    found = re.match(r"\s*(?:,\s*)?and\s+((?:[A-Z][\w'\-]+\s?)+)", after)
    before = re.search(r"((?:[A-Z][\w'\-]+\s?)+)\s*,?\s+and\s*$", evidence[:at])
    hit = found or before
    return hit.group(1).strip() if hit else None


_CLAUSE_MARK = re.compile(r"(?i)^\W*(it|he|she|they|this|these|that|those|there)\b|\b(is|are|was|were|has|have|had|"
                          r"will|would|can|could|does|did|do)\b")
_EXPLAINS = re.compile(r"(?i)^\s*(?:\w+\s+)?(why|how)\b")


def is_unrelated_clause(question: str, answer: str) -> bool:
    """A whole statement (5+ words, a clause) given for a what/which/who/where/when question that
    shares no content word with it: 'What is the angle of the dance?' 'The length of the waggle
    run shows how far away it is.' (Why and how answers explain, and may share nothing.)"""
    if _EXPLAINS.match(question) or len(answer.split()) < 5 or not _CLAUSE_MARK.search(answer):
        return False
    return not ({w[:5] for w in content_words(answer)} & {w[:5] for w in content_words(question)})


_META_WORDS = frozenset("answer question passage text say says said mention mentions mentioned according "
                        "following above given this".split())
_WRAPPED = re.compile(r"(?i)^\W*(?:the )?answer(?: to (?:the|this) question)? is\b")


class AnswerRelevanceValidator:
    """A question that asks about nothing ('What is the answer to this question?'); an answer
    wrapped in the prompt's own words ('The answer is "..."'); an answer whose head (its last
    name) is something the question itself names ('Which river joins the Amazon near Manaus?'
    'The Brazilian city of Manaus'). Each vetoes."""

    name, version = "answer_relevance", VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        got = parts(gen)
        if got is None:
            return None
        question, answer, _ = got
        asked = [w for w in content_words(question) if w not in _META_WORDS]
        if not asked:
            return Judgement(self.name, self.version, 0.0, [Reason(
                "question_empty", f"the question asks about nothing in particular: {question[:80]!r}")], veto=True)
        if _WRAPPED.match(answer):
            return Judgement(self.name, self.version, 0.0, [Reason(
                "answer_wrapped", f"the answer is wrapped in the prompt's words ({answer[:60]!r}); give the answer "
                                  "itself")], veto=True)
        if is_unrelated_clause(question, answer):
            return Judgement(self.name, self.version, 0.0, [Reason(
                "answer_unrelated", "the answer is a statement that mentions nothing the question asks about "
                                    f"({answer[:60]!r})")], veto=True)
        answer_names = names(answer)
        if answer_names and answer_names[-1] in question.lower():
            return Judgement(self.name, self.version, 0.0, [Reason(
                "answer_repeats_question", f"the answer names {answer_names[-1]!r}, which the question already "
                                           "names")], veto=True)
        return Judgement(self.name, self.version, 1.0)


def qa_validators() -> list[Any]:
    return [AnswerTypeValidator(), AnswerSupportValidator(), AnswerCompleteValidator(), AnswerRelevanceValidator()]

"""Semantic validators for conversations: does the dialogue say something, on its topic, in answer
to what was asked, with the roles the right way round?

Each is a validator (a score in [0, 1], reasons, a veto for a clear failure) that applies to any
record with chat ``messages`` of user and assistant turns (dialogue, and any open-text task):

- ``topic``      each turn against its ``topic`` dimension (its name, or the description the
                 spec's ``verification.topics`` gives);
- ``relevance``  each assistant turn against the user turn it answers;
- ``coherence``  each assistant turn against the assistant's turn before it;
- ``novelty``    an assistant turn that only restates the question or an earlier turn (tautology,
                 echo): content words it adds;
- ``triviality`` assistant turns that carry (almost) no content words;
- ``roles``      leaked ``User:``/``Assistant:`` labels, an assistant that asks the user for the
                 answer, a user who answers as the assistant.

``topic``, ``relevance`` and ``coherence`` need the embedding model: without it they *abstain*
(reported, counted in a metric, never a pass). The other three are lexical and always run. The
thresholds are measured on benchmarks/data/gate_dialogue.jsonl (benchmarks/bench_gate.py), not
guessed; docs/tasks-and-verification.md gives the figures and what still gets through.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from rapidfuzz import fuzz

from synthstream.agents.semantic.service import EmbeddingService, Unavailable
from synthstream.agents.verification.text_checks import is_grounded_dialogue, spoken
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.agents.verification.validators.lexical import content_words, stem, stems, words
from synthstream.streams.runtime.records import Reason

VERSION = "minilm-l6-int8@1"
LEXICAL_VERSION = "lexical@1"

#: how a topic is described to the model when the spec gives no description: its own name
#: ("current_events" -> "current events"). Measured on the evaluation set, the bare names separate
#: on- from off-topic conversations better (AUC 0.94) than sentences listing each topic's subjects
#: (0.84); a spec's ``verification.topics`` sets a description for its own topics.
def topic_text(topic: str, described: Mapping[str, str]) -> str:
    return described.get(topic) or topic.replace("_", " ")


def turns(gen: dict[str, Any]) -> tuple[list[str], list[str]] | None:
    """(user turns, assistant turns) in pairs, or None when the record is not a chat."""
    if gen.get("grounding") and not is_grounded_dialogue(gen):  # QA: a question and its answer, not a chat
        return None
    msgs = [m for m in spoken(gen) if m.get("role") in ("user", "assistant")]
    users = [m["content"] for m in msgs if m["role"] == "user"]
    replies = [m["content"] for m in msgs if m["role"] == "assistant"]
    if not users or not replies:
        return None
    n = min(len(users), len(replies))
    return users[:n], replies[:n]


def unavailable(name: str, why: str) -> Judgement:
    return Judgement(name, VERSION, 0.0, [Reason("semantic_unavailable", why[:200])], abstain=True)


def ramp(x: float, bad: float, good: float) -> float:
    """0 at ``bad`` or worse, 1 at ``good`` or better, linear between."""
    return clamp((x - bad) / (good - bad))


def mean_ramp(values: list[float], bad: float, good: float) -> float:
    return clamp(sum(ramp(v, bad, good) for v in values) / len(values))


class TopicValidator:
    """Every turn against the topic: the conversation is off topic (veto) when not one of its
    turns comes near it (the best turn's cosine below ``veto_below``)."""

    name, version = "topic", VERSION
    veto_below = 0.03
    good_at = 0.2

    def __init__(self, service: EmbeddingService,
                 topics_for: Callable[[str], Mapping[str, str]] = lambda _dataset: {}) -> None:
        self.service = service
        self.topics_for = topics_for  # data set -> topic -> description (the spec's verification.topics)

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        topic = (gen.get("dimensions") or {}).get("topic")
        if pair is None or not topic:
            return None
        users, replies = pair
        about = topic_text(topic, self.topics_for((gen.get("lineage") or {}).get("dataset", "")) or {})
        try:
            vecs = self.service.embed([*users, *replies, about])
        except Unavailable as exc:
            return unavailable(self.name, str(exc))
        best = float((vecs[:-1] @ vecs[-1]).max())
        score = ramp(best, self.veto_below, self.good_at)
        if best < self.veto_below:
            return Judgement(self.name, self.version, score, [Reason(
                "off_topic", f"no turn is about {topic!r} (best similarity {best:.2f} < {self.veto_below:.2f})")],
                veto=True)
        return Judgement(self.name, self.version, score)


class RelevanceValidator:
    """Each assistant turn against the user turn before it. A reply this far from its question
    (cosine below ``veto_below``) does not address it: veto."""

    name, version = "relevance", VERSION
    veto_below = 0.06
    good_at = 0.25

    def __init__(self, service: EmbeddingService) -> None:
        self.service = service

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        if pair is None:
            return None
        users, replies = pair
        try:
            vecs = self.service.embed([*users, *replies])
        except Unavailable as exc:
            return unavailable(self.name, str(exc))
        sims = [float(vecs[i] @ vecs[len(users) + i]) for i in range(len(users))]
        off = [i + 1 for i, s in enumerate(sims) if s < self.veto_below]
        score = mean_ramp(sims, self.veto_below, self.good_at)
        if off:
            return Judgement(self.name, self.version, score, [Reason(
                "reply_irrelevant", f"assistant turn(s) {off} do not address the user's turn "
                                    f"(similarity {min(sims):.2f} < {self.veto_below:.2f})")], veto=True)
        return Judgement(self.name, self.version, score)


class CoherenceValidator:
    """Each assistant turn against the one before it: consecutive replies that share nothing jump
    between subjects (veto when the least similar pair is below ``veto_below``)."""

    name, version = "coherence", VERSION
    veto_below = 0.06
    good_at = 0.25

    def __init__(self, service: EmbeddingService) -> None:
        self.service = service

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        if pair is None or len(pair[1]) < 2:
            return None
        _, replies = pair
        try:
            vecs = self.service.embed(replies)
        except Unavailable as exc:
            return unavailable(self.name, str(exc))
        sims = [float(vecs[i] @ vecs[i - 1]) for i in range(1, len(replies))]
        score = mean_ramp(sims, self.veto_below, self.good_at)
        if min(sims) < self.veto_below:
            at = sims.index(min(sims)) + 2
            return Judgement(self.name, self.version, score, [Reason(
                "incoherent", f"assistant turn {at} has nothing to do with turn {at - 1} (similarity {min(sims):.2f} "
                              f"< {self.veto_below:.2f})")], veto=True)
        return Judgement(self.name, self.version, score)


class NoveltyValidator:
    """An assistant turn must add content words of its own: ones not in the user turns so far nor
    in the assistant's earlier turns. A turn that adds at most ``min_new`` restates (veto). Any
    turn that is mostly an earlier turn again (not only the one just before, which the structural
    check sees) repeats it (veto)."""

    name, version = "novelty", LEXICAL_VERSION
    min_new = 2  # content words a reply must add, more than this
    good_at = 6
    repeat_at = 80.0  # rapidfuzz ratio of two turns' words at which the later one repeats the earlier
    sentence_words = 8  # a sentence this long, said again (ratio >= sentence_at) in a later turn, repeats
    sentence_at = 90.0

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        if pair is None:
            return None
        users, replies = pair
        spoken = [t for p in zip(users, replies) for t in p]
        said = [" ".join(words(t)) for t in spoken]
        for i, text in enumerate(said):
            for j in range(i):
                if len(text) >= 20 and fuzz.ratio(text, said[j]) >= self.repeat_at:
                    return Judgement(self.name, self.version, 0.0, [Reason(
                        "repeats_turn", f"turn {i + 1} is mostly turn {j + 1} again "
                                        f"(similarity {fuzz.ratio(text, said[j]):.0f})")], veto=True)
        repeated = repeated_sentence(spoken, self.sentence_words, self.sentence_at)
        if repeated is not None:
            i, j, sentence = repeated
            return Judgement(self.name, self.version, 0.0, [Reason(
                "repeats_sentence", f"turn {i + 1} says again what turn {j + 1} said: {sentence[:80]!r}")], veto=True)
        seen: set[str] = set()
        added = []
        for question, reply in zip(users, replies):
            seen |= stems(question)
            mine = [stem(w) for w in content_words(reply)]
            added.append(len({w for w in mine if w not in seen}))
            seen |= set(mine)
        restating = [i + 1 for i, n in enumerate(added) if n <= self.min_new]
        score = mean_ramp(added, self.min_new, self.good_at)
        if restating:
            return Judgement(self.name, self.version, score, [Reason(
                "restates", f"assistant turn(s) {restating} add at most {self.min_new} content words to what was "
                            "already said (tautology or echo)")], veto=True)
        return Judgement(self.name, self.version, score)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def repeated_sentence(spoken: list[str], min_words: int, at: float) -> tuple[int, int, str] | None:
    """(later turn, earlier turn, sentence) for the first long sentence a turn repeats from an
    earlier one, or None."""
    seen: list[tuple[int, str]] = []
    for i, turn in enumerate(spoken):
        mine = [" ".join(words(s)) for s in _SENTENCE_END.split(turn)]
        mine = [s for s in mine if len(s.split()) >= min_words]
        for s in mine:
            for j, earlier in seen:
                if j != i and fuzz.ratio(s, earlier) >= at:
                    return i, j, s
        seen += [(i, s) for s in mine]
    return None


class TrivialityValidator:
    """Assistant turns with fewer than ``min_words`` content words say nothing ('Carefully.',
    'The main ones.'); veto when that is most of them, or the mean is below ``min_mean``."""

    name, version = "triviality", LEXICAL_VERSION
    min_words = 3
    min_mean = 5.0
    good_at = 10.0

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        if pair is None:
            return None
        counts = [len(content_words(r)) for r in pair[1]]
        mean = sum(counts) / len(counts)
        empty = [i + 1 for i, c in enumerate(counts) if c < self.min_words]
        score = ramp(mean, self.min_mean - 2, self.good_at)
        if len(empty) * 2 >= len(counts) or mean < self.min_mean:
            return Judgement(self.name, self.version, score, [Reason(
                "trivial", f"assistant turns carry {mean:.1f} content words on average; turn(s) {empty} fewer than "
                           f"{self.min_words}")], veto=True)
        return Judgement(self.name, self.version, score)


LABEL = re.compile(r"(?im)^\s*\**\s*(user|assistant|human|ai|bot|system)\s*\**\s*:")
# text about the conversation rather than in it: a generation prompt's instructions leaking through
META = re.compile(r"(?i)\byou(?:'re| are) (?:a|an) (?:helpful |friendly )?(?:ai|assistant|language model|chatbot)\b|"
                  r"\b(?:the )?(?:user|assistant)'s (?:next |last )?(?:message|turn|reply|response|question)\b|"
                  r"\bwrite (?:the|a|your) (?:response|reply|next (?:message|turn))\b|\b(?:as an? )?ai language model\b")
HELPER = re.compile(r"(?i)\b(i'?m|i am) (here|happy|glad) to (help|assist)|\bhow (can|may) i (help|assist) you|"
                    r"\bwhat (would|can) i help you with")
ASKS_FOR_ANSWER = re.compile(r"(?i)\b(what|how|why) (do|would|did) you (think|recommend|suggest|say|estimate)|"
                             r"\bhow would you (recommend|suggest|approach|do|explain)|"
                             r"\b(your|you) (perspective|view|opinion|thoughts|understanding)\b|\bin your view\b|"
                             r"\bi would value your|\btell me what you (know|think)|\b(could|can) you explain to me\b|"
                             r"\bwalk me through\b|\bwhat about you\b|\bdo you know (why|how|what)\b")


def is_question(text: str) -> bool:
    return text.rstrip().rstrip("\"')").endswith("?")


class RoleValidator:
    """The assistant answers and the user asks. Veto: a ``User:``/``Assistant:`` label inside a
    turn; a turn about the roles or instructions ("You're a helpful AI, so write the response to
    the user's next message"); a user turn that offers help as an assistant would; an assistant
    that asks the user for the answer; or roles swapped (most assistant turns are questions while
    most user turns are not)."""

    name, version = "roles", LEXICAL_VERSION

    def validate(self, gen: dict[str, Any]) -> Judgement | None:
        pair = turns(gen)
        if pair is None:
            return None
        users, replies = pair
        reasons = []
        labelled = [i + 1 for i, t in enumerate(t for pair in zip(users, replies) for t in pair) if LABEL.search(t)]
        if labelled:
            reasons.append(Reason("role_label_leaked", f"turn(s) {labelled} contain a speaker label (User:/Assistant:)"))
        meta = [i + 1 for i, t in enumerate(t for pair in zip(users, replies) for t in pair) if META.search(t)]
        if meta:
            reasons.append(Reason("role_meta_leaked", f"turn(s) {meta} talk about the conversation's roles or "
                                                      "instructions instead of taking part in it"))
        if any(HELPER.search(u) for u in users):
            reasons.append(Reason("roles_swapped", "a user turn offers help the way the assistant would"))
        asking = [i + 1 for i, r in enumerate(replies) if "?" in r and ASKS_FOR_ANSWER.search(r)]
        if asking:
            reasons.append(Reason("assistant_asks_user", f"assistant turn(s) {asking} ask the user for the answer"))
        a_q = sum(map(is_question, replies)) / len(replies)
        u_q = sum("?" in u for u in users) / len(users)
        said = sum(len(content_words(r)) for r in replies)
        told = sum(len(content_words(u)) for u in users[1:])  # the first user turn is the question
        if asking and told > said:
            reasons.append(Reason("roles_swapped", f"the user's later turns carry more content ({told} content words) "
                                                   f"than the assistant's ({said}): the user is answering"))
        elif a_q >= 0.5 and u_q < 0.5:
            reasons.append(Reason("roles_swapped", f"{a_q:.0%} of assistant turns are questions and {1 - u_q:.0%} of "
                                                   "user turns are answers"))
        score = 0.0 if reasons else clamp(1.0 - 0.5 * a_q)
        return Judgement(self.name, self.version, score, reasons, veto=bool(reasons))


def dialogue_validators(service: EmbeddingService,
                        topics_for: Callable[[str], Mapping[str, str]] = lambda _d: {}) -> list[Any]:
    return [TopicValidator(service, topics_for), RelevanceValidator(service), CoherenceValidator(service),
            NoveltyValidator(), TrivialityValidator(), RoleValidator()]

"""A planted-duplicate corpus for the dedup benchmark, seeded and reproducible.

A stream of short texts (about 150-450 characters, like a math problem or a QA pair):

- originals: 3-5 sentences, each from one of a few dozen templates whose slots take names,
  objects, places and numbers drawn from large generated vocabularies;
- copies of an earlier original (the truth says: duplicate of that original), made by one or
  two of: numbers changed, adjacent words swapped, sentences reordered, typos, whitespace and
  case noise;
- hard negatives: an earlier original's exact template sequence with every name, object and
  place re-drawn and its numbers kept (the truth says: not a duplicate). They share most of
  their characters' skeleton with the original, which is what fools a loose threshold;
- only when ``heavy_share`` > 0 (default 0, so the default corpus stays byte-identical):
  heavy-edit copies of an earlier original (the truth says: duplicate of that original), in
  which a fraction r of the words, r uniform in [1 %, 15 %], are each replaced by a word from
  the vocabularies, have one inserted before them, or are deleted (mixed); half of them also
  get one character-level typo (swap, drop, double or replace a letter) in every edited word
  (for a deletion: the word now standing in its place). The number of edits is r x words
  rounded and clipped to [1, 15 % of the words], so the recorded rate is edits / words.

Each record is ``(text, group)``: copies carry their original's group, everything else a
group of its own. A dedup keeping the first of each group drops exactly the copies.
``labelled(n)`` yields ``(text, group, Planted)`` with the kind of each record and, for
heavy-edit copies, the number of edited words and the original's word count.
"""

from __future__ import annotations

import random
from collections.abc import Callable
import re
from dataclasses import dataclass
from typing import NamedTuple

TEMPLATES = [
    "{name} bought {n} {obj} at the {place} on {day}.",
    "Each {obj} costs {n} dollars, and {name} has {n} dollars to spend.",
    "How many {obj} can {name} carry from the {place} in {n} trips?",
    "The {place} opens at {n} and closes {n} hours later.",
    "{name} gave {n} {obj} to {name} and kept the rest for the {place}.",
    "A train leaves the {place} at {n} km per hour towards {name}'s farm.",
    "If {name} reads {n} pages of the {obj} guide every day, when does she finish?",
    "There are {n} rows of {obj} in the {place}, with {n} in each row.",
    "{name} shares {n} {obj} equally among {n} friends at the {place}.",
    "What is the total weight of {n} {obj} if each weighs {n} grams?",
    "The {obj} club at the {place} has {n} members and {n} new ones joined.",
    "After {n} weeks, {name} had saved {n} coins for a new {obj}.",
    "Explain why {name} thinks the {obj} from the {place} is heavier.",
    "A rectangle of {obj} tiles in the {place} is {n} by {n} metres.",
    "{name} walks {n} km to the {place} and rides back on a {obj}.",
    "The recipe for {obj} soup at the {place} needs {n} cups of water.",
    "Show each step and give the answer as a whole number of {obj}.",
    "{name} and {name} paint {n} {obj} fences at the {place} together.",
    "On {day}, the {place} sold {n} {obj} more than on the day before.",
    "Write a short reply from {name} asking the {place} about the {obj}.",
    "The ratio of {obj} to {name}'s stamps is {n} to {n}.",
    "Which {obj} at the {place} is cheapest per kilogram, and by how much?",
    "{name} plants {n} {obj} seeds in the {place}, and {n} of them sprout.",
    "A tank holds {n} litres and the {obj} pump fills it at {n} litres a minute.",
    "The {place} committee led by {name} ordered {n} boxes of {obj}.",
    "Summarise what {name} learned about the {obj} during the visit to the {place}.",
    "{name} scored {n} points in the {obj} contest, {n} fewer than {name}.",
    "The distance from the {place} to the {obj} factory is {n} km.",
    "In a survey at the {place}, {n} people preferred the {obj}.",
    "Find the mean number of {obj} that {name} collected over {n} days.",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_SLOT = re.compile(r"\{(name|obj|place|day|n)\}")
_ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr st tr sh ch th".split()
_VOWELS = "a e i o u ai ea ie ou".split()
_CODAS = ["", "", "", "n", "r", "l", "s", "m", "nd", "st", "rk"]


def _vocabulary(rng: random.Random, size: int, syllables: tuple[int, int]) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                          for _ in range(rng.randint(*syllables))))
    return sorted(words)


@dataclass
class Original:
    templates: list[int]
    names: list[str]
    objs: list[str]
    places: list[str]
    days: list[str]
    numbers: list[str]


class Planted(NamedTuple):
    """What a record is: ``kind`` is "original", "copy", "negative" or "heavy"; a heavy-edit
    copy also has its number of edited words and its original's word count."""

    kind: str
    edits: int = 0
    words: int = 0
    typos: bool = False

    @property
    def edit_rate(self) -> float | None:
        return self.edits / self.words if self.kind == "heavy" else None


HEAVY_RATE = (0.01, 0.15)  # the fraction of words a heavy-edit copy edits, drawn uniformly


class Corpus:
    """``records(n)`` yields ``(text, group)``; the share of copies, hard negatives and (off
    by default) heavy-edit copies is set here."""

    def __init__(self, seed: int = 7, copy_share: float = 0.25, negative_share: float = 0.10,
                 recent: int = 5_000, heavy_share: float = 0.0) -> None:
        if min(copy_share, negative_share, heavy_share) < 0 or copy_share + negative_share + heavy_share > 1:
            raise ValueError("the shares must be >= 0 and add up to at most 1")
        self.rng = random.Random(seed)
        self.copy_share, self.negative_share, self.recent = copy_share, negative_share, recent
        self.heavy_share = heavy_share
        self.names = [w.capitalize() for w in _vocabulary(self.rng, 20_000, (2, 3))]
        self.objs = _vocabulary(self.rng, 20_000, (1, 3))
        self.places = _vocabulary(self.rng, 5_000, (2, 3))

    def records(self, n: int):
        for text, group, _ in self.labelled(n):
            yield text, group

    def labelled(self, n: int):
        """``(text, group, Planted)``; the same stream as ``records`` with what each record is."""
        rng = self.rng
        pool: list[tuple[Original, int]] = []  # recent originals (copies mostly follow soon after)
        for i in range(n):
            roll = rng.random()
            if pool and roll < self.copy_share:
                original, group = rng.choice(pool[-self.recent:]) if rng.random() < 0.8 else rng.choice(pool)
                yield self._copy(original), group, Planted("copy")
                continue
            if pool and roll < self.copy_share + self.negative_share:
                original, _ = rng.choice(pool[-self.recent:])
                yield self._render(self._negative(original)), i, Planted("negative")
                continue
            # heavy_share 0 draws nothing more from rng here: the default stream is unchanged
            if self.heavy_share and pool and roll < self.copy_share + self.negative_share + self.heavy_share:
                original, group = rng.choice(pool[-self.recent:]) if rng.random() < 0.8 else rng.choice(pool)
                text, planted = self._heavy(original)
                yield text, group, planted
                continue
            original = self._original()
            pool.append((original, i))
            yield self._render(original), i, Planted("original")

    def _original(self) -> Original:
        rng = self.rng
        templates = rng.sample(range(len(TEMPLATES)), rng.randint(3, 5))
        slots = [m.group(1) for t in templates for m in _SLOT.finditer(TEMPLATES[t])]
        return Original(templates,
                        [rng.choice(self.names) for s in slots if s == "name"],
                        [rng.choice(self.objs) for s in slots if s == "obj"],
                        [rng.choice(self.places) for s in slots if s == "place"],
                        [rng.choice(DAYS) for s in slots if s == "day"],
                        [str(rng.choice((rng.randint(2, 99), rng.randint(100, 9999)))) for s in slots if s == "n"])

    def _negative(self, o: Original) -> Original:
        rng = self.rng
        return Original(o.templates, [rng.choice(self.names) for _ in o.names], [rng.choice(self.objs) for _ in o.objs],
                        [rng.choice(self.places) for _ in o.places], list(o.days), list(o.numbers))

    @staticmethod
    def _render(o: Original) -> str:
        fill = {"name": iter(o.names), "obj": iter(o.objs), "place": iter(o.places), "day": iter(o.days),
                "n": iter(o.numbers)}
        return " ".join(_SLOT.sub(lambda m: next(fill[m.group(1)]), TEMPLATES[t]) for t in o.templates)

    # --- copies -----------------------------------------------------------------------------
    def _copy(self, o: Original) -> str:
        rng = self.rng
        edits = rng.sample((self._numbers, self._swap_words, self._reorder, self._typos, self._noise),
                           rng.choice((1, 1, 2)))
        if self._numbers in edits:  # numbers change in the structure; the rest act on the text
            o = self._numbers(o)
        text = self._render(o)
        for edit in edits:
            if edit != self._numbers:
                text = edit(text)
        return text

    def _numbers(self, o: Original) -> Original:
        numbers = list(o.numbers)
        for i in self.rng.sample(range(len(numbers)), min(len(numbers), self.rng.randint(1, 2))):
            numbers[i] = str(int(numbers[i]) + self.rng.randint(1, 9))
        return Original(o.templates, o.names, o.objs, o.places, o.days, numbers)

    def _swap_words(self, text: str) -> str:
        words = text.split(" ")
        for _ in range(self.rng.randint(1, 2)):
            i = self.rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join(words)

    def _reorder(self, text: str) -> str:
        sentences = re.split(r"(?<=[.?!]) ", text)
        self.rng.shuffle(sentences)
        return " ".join(sentences)

    def _typos(self, text: str) -> str:
        chars = list(text)
        for _ in range(self.rng.randint(1, 3)):
            i = self.rng.randrange(len(chars))
            op = self.rng.randrange(3)
            if op == 0:
                chars[i] = self.rng.choice("abcdefghijklmnopqrstuvwxyz")
            elif op == 1:
                del chars[i]
            else:
                chars.insert(i, self.rng.choice("abcdefghijklmnopqrstuvwxyz"))
        return "".join(chars)

    def _noise(self, text: str) -> str:
        out = []
        for word in text.split(" "):
            out.append(word.upper() if self.rng.random() < 0.1 else word)
            out.append(self.rng.choice(("  ", " ", " ", "\t", " \n")))
        return "".join(out).strip()

    # --- heavy-edit copies (only drawn when heavy_share > 0) --------------------------------
    def _heavy(self, o: Original) -> tuple[str, Planted]:
        """Replace, insert before or delete a fraction r of the words (mixed); with
        probability 1/2, also one typo in each edited word."""
        return heavy_edit(self.rng, self._render(o).split(" "), self._word)

    def _word(self) -> str:
        vocabulary = self.rng.choice((self.names, self.objs, self.places))
        return self.rng.choice(vocabulary)


def typo(rng: random.Random, word: str) -> str:
    """One character-level typo among a word's letters or digits: swap with the next, drop,
    double or replace one (the heavy-edit copies of both corpora)."""
    spots = [j for j, c in enumerate(word) if c.isalnum()]
    if not spots:
        return word
    j = rng.choice(spots)
    ops = ["drop", "double", "replace"] + (["swap"] if j + 1 < len(word) and word[j + 1].isalnum() else [])
    op = rng.choice(ops)
    if op == "swap":
        return word[:j] + word[j + 1] + word[j] + word[j + 2:]
    if op == "drop" and len(spots) > 1:
        return word[:j] + word[j + 1:]
    if op == "double":
        return word[:j] + word[j] + word[j:]
    alphabet = "0123456789" if word[j].isdigit() else "abcdefghijklmnopqrstuvwxyz"
    return word[:j] + rng.choice([c for c in alphabet if c != word[j].lower()]) + word[j + 1:]


def heavy_edit(rng: random.Random, words: list[str], new_word: Callable[[], str]) -> tuple[str, Planted]:
    """A heavy-edit copy of ``words`` (both corpora): a fraction r of them, r uniform in
    HEAVY_RATE, replaced by ``new_word()``, given one inserted before them, or deleted (mixed);
    with probability 1/2 one typo in each edited word."""
    count = len(words)
    rate = rng.uniform(*HEAVY_RATE)
    edits = min(max(1, round(rate * count)), max(1, int(HEAVY_RATE[1] * count)))
    typos = rng.random() < 0.5
    # right to left, so that the positions still to edit do not move
    for i in sorted(rng.sample(range(len(words)), edits), reverse=True):
        op = rng.randrange(3)
        if op == 0:  # replace
            word = new_word()
            words[i] = typo(rng, word) if typos else word
        elif op == 1:  # insert before
            word = new_word()
            words.insert(i, typo(rng, word) if typos else word)
        else:  # delete (the typo goes to the word now in its place, if any)
            del words[i]
            if typos and i < len(words):
                words[i] = typo(rng, words[i])
    return " ".join(words), Planted("heavy", edits, count, typos)

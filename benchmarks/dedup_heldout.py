"""A held-out dedup corpus of natural English: docstring paragraphs and /usr/share/doc prose.

Not the template generator (dedup_corpus.py), and not used to tune anything: the dedup
defaults are tuned on the template corpus, and this one checks that what was tuned there
holds on text it has never seen. Offline and reproducible for one machine: the paragraphs
(blank-line separated, whitespace collapsed, 150-450 characters) are every docstring
paragraph of the running interpreter's standard library without doctest or markup (``>>>``,
``::``, braces), and every paragraph of plain prose (letters, digits, common punctuation) of
the files under /usr/share/doc (gzipped or not; changelogs and copyright files left out),
de-duplicated, sorted, then shuffled with the seed. Paragraphs
that are already near each other (the standard library repeats itself: the same docstring in
two modules, ``Return ... `` variants) would make the truth wrong, so each paragraph is kept
only if no earlier kept one shares half of its word 3-grams, or shares three and scores
``fuzz.ratio`` or ``fuzz.token_sort_ratio`` >= 70 with it.

The stream (``labelled(n)`` yields ``(text, group, Planted)``, as dedup_corpus.Corpus does):

- originals: each paragraph at most once;
- heavy-edit copies of an earlier original (the truth: a duplicate of it): a fraction r of
  the words, r uniform in [1 %, 15 %], each replaced by a word drawn from the whole corpus's
  running text (so mostly frequent words, like the words edited), have one such word inserted
  before them, or are deleted (mixed); half of them also get one character-level typo in
  every edited word (for a deletion: the word now standing in its place). Same rule for the
  number of edits as the template corpus, so the same edit-rate buckets;
- hard negatives of an earlier original (the truth: not a duplicate), three kinds:
  ``swap``: every content word (any word not in a list of English function words: numbers,
  identifiers and paths included) replaced by another content word of the corpus, the
  function words and their order kept;
  ``swap-half``: every second content word replaced so (about a quarter of the words);
  ``mix``: the original's first sentences, at most half of its words (cut inside the
  sentence if the first one is longer), followed by another paragraph; the other paragraphs
  are a fifth of the corpus set aside for this, each used once and never in the stream
  themselves (otherwise a mix would contain one of its later records, or another mix's tail,
  whole).

Distinct paragraphs are each other's ordinary negatives.
"""

from __future__ import annotations

import ast
import glob
import gzip
import os
import random
import re
import sysconfig
from collections import Counter

from dedup_corpus import Planted, heavy_edit
from rapidfuzz import fuzz

FUNCTION_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either else ever few for from further
had has have having he her here hers him his how however i if in into is it its itself just may me might
more most must my no nor not now of off on once only or other our out over own same shall she should so
some such than that the their them then there these they this those through to too under until up upon
us very was we were what when where whether which while who whom whose why will with within without
would you your
""".split())
_SENTENCE = re.compile(r"(?<=[.?!])\s+")
_EDGES = ".,;:()\"'"


def _content(word: str) -> bool:
    core = word.strip(_EDGES)
    return any(c.isalnum() for c in core) and core.lower() not in FUNCTION_WORDS


_PROSE = re.compile(r"[A-Za-z0-9 ,.;:'\"()!?-]+")


def doc_paragraphs(root: str = "/usr/share/doc") -> set[str]:
    """Paragraphs of plain prose of 150-450 characters in the files under ``root``."""
    found: set[str] = set()
    for path in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
        low = path.lower()
        if not os.path.isfile(path) or "changelog" in low or "copyright" in low:
            continue
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt", encoding="utf-8") as f:
                    text = f.read()
            else:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError, EOFError, ValueError):
            continue
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            if 150 <= len(para) <= 450 and "." in para and _PROSE.fullmatch(para):
                found.add(para)
    return found


def paragraphs(root: str | None = None) -> list[str]:
    """Every docstring paragraph of 150-450 characters of the standard library under ``root``
    (the running interpreter's by default) and the prose paragraphs of /usr/share/doc,
    de-duplicated and sorted."""
    root = root or sysconfig.get_paths()["stdlib"]
    found: set[str] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "__pycache__"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    for para in re.split(r"\n\s*\n", doc or ""):
                        para = " ".join(para.split())
                        if 150 <= len(para) <= 450 and not re.search(r">>>|::|[{}]", para):
                            found.add(para)
    return sorted(found | doc_paragraphs())


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = text.lower().split()
    return {tuple(words[i:i + 3]) for i in range(max(1, len(words) - 2))}


class HeldoutCorpus:
    """``labelled(n)``: originals, heavy-edit copies and hard negatives of docstring paragraphs."""

    def __init__(self, seed: int = 7, heavy_share: float = 0.30, negative_share: float = 0.15,
                 root: str | None = None) -> None:
        if min(heavy_share, negative_share) < 0 or heavy_share + negative_share >= 1:
            raise ValueError("the shares must be >= 0 and add up to less than 1")
        self.rng = random.Random(seed)
        self.heavy_share, self.negative_share = heavy_share, negative_share
        paras = self._paragraphs(root)
        self.rng.shuffle(paras)
        distinct = self._distinct(paras)
        self.paragraphs = [p for i, p in enumerate(distinct) if i % 5]  # the stream's originals
        self.fillers = distinct[::5]  # only for the second half of mixes
        running = [w for p in distinct for w in p.split()]
        self.words = running  # replacement words, drawn as they occur (frequent words often)
        self.content = sorted({w.strip(_EDGES) for w in running if _content(w)})

    @staticmethod
    def _paragraphs(root: str | None) -> list[str]:
        return paragraphs(root)

    @staticmethod
    def _distinct(paras: list[str]) -> list[str]:
        """Paragraphs not near an earlier kept one (half of the word 3-grams shared, or three
        shared and fuzz.ratio or token_sort_ratio >= 70), through an inverted index of word 3-grams."""
        kept: list[str] = []
        grams_of: list[set[tuple[str, ...]]] = []
        by_gram: dict[tuple[str, ...], list[int]] = {}
        for para in paras:
            grams = _trigrams(para)
            shared = Counter(i for g in grams for i in by_gram.get(g, ()))
            if any(n >= 0.5 * min(len(grams), len(grams_of[i])) or
                   (n >= 3 and (fuzz.ratio(para, kept[i]) >= 70 or fuzz.token_sort_ratio(para, kept[i]) >= 70))
                   for i, n in shared.items()):
                continue
            for g in grams:
                by_gram.setdefault(g, []).append(len(kept))
            kept.append(para)
            grams_of.append(grams)
        return kept

    def labelled(self, n: int):
        rng = self.rng
        fresh = iter(self.paragraphs)
        self._fillers = iter(self.fillers)
        pool: list[tuple[str, int]] = []
        for i in range(n):
            roll = rng.random()
            if pool and roll < self.heavy_share:
                text, group = rng.choice(pool)
                edited, planted = self._heavy(text)
                yield edited, group, planted
                continue
            if pool and roll < self.heavy_share + self.negative_share:
                text, _ = rng.choice(pool)
                kind = rng.choice(self._negative_kinds(text))
                yield self._negative(text, kind), i, Planted(kind)
                continue
            text = next(fresh, None)
            if text is None:
                raise ValueError(f"only {len(self.paragraphs):,} paragraphs for originals: ask for fewer records")
            pool.append((text, i))
            yield text, i, Planted("original")

    def _heavy(self, text: str) -> tuple[str, Planted]:
        return heavy_edit(self.rng, text.split(" "), lambda: self.rng.choice(self.words))

    def _negative_kinds(self, text: str) -> tuple[str, ...]:
        return ("swap", "swap-half", "mix")

    def _negative(self, text: str, kind: str) -> str:
        rng = self.rng
        if kind == "mix":
            words, half = text.split(" "), len(text.split(" ")) // 2
            head: list[str] = []
            for sentence in _SENTENCE.split(text):
                if len(head) + len(sentence.split(" ")) > half:
                    break
                head += sentence.split(" ")
            head = head or words[:half]
            filler = next(self._fillers, None)
            if filler is None:
                raise ValueError("out of paragraphs for mixes: ask for fewer records")
            return " ".join(head + [filler])
        out, seen = [], 0
        for word in text.split(" "):
            if _content(word):
                seen += 1
                if kind == "swap" or seen % 2:
                    core = word.strip(_EDGES)
                    word = word.replace(core, rng.choice(self.content), 1)
            out.append(word)
        return " ".join(out)

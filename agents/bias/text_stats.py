"""Per-window text statistics of accepted responses: length, diversity and detectors. Pure.

- **Length**: the response's characters, counted into fixed log-spaced bins; a window's bin
  shares are compared by PSI with a reference window (the dataset's first window).
- **Diversity**: distinct-1/2/3 (distinct word n-grams over all n-grams in the window, as in
  the seed article's ``calculate_diversity_score``), the compression ratio of the window's
  responses (raw bytes / zlib bytes: the higher, the more repetitive), and the share of
  responses that open with the window's most common first three words.
- **Detectors**: the share of responses with gendered terms and the male share of those
  terms, refusals and boilerplate (the verifier's own patterns), and responses that do not
  look English (a script-and-stopword heuristic, not a language identifier; code is skipped).

Cost is bounded per record: at most ``MAX_TOKENS`` words and ``MAX_COMPRESS`` bytes per window
enter the n-gram sets and the compressor (benchmarks/bench_bias.py measures the cost).
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

from synthstream.agents.verification.text_checks import BOILERPLATE, REFUSAL, STOPWORDS, words

MAX_TOKENS = 256
MAX_COMPRESS = 256 * 1024
LENGTH_EDGES = (25, 50, 100, 200, 400, 800, 1600, 3200, 6400)  # characters; bins are [edge_i, edge_i+1)
_LETTER = re.compile(r"[^\W\d_]")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_a-zA-Z]")
MALE = frozenset("he him his himself man men boy boys father fathers son sons brother brothers husband husbands "
                 "king kings mr sir gentleman gentlemen grandfather uncle nephew".split())
FEMALE = frozenset("she her hers herself woman women girl girls mother mothers daughter daughters sister sisters "
                   "wife wives queen queens mrs ms madam lady ladies grandmother aunt niece".split())
GENDERED = MALE | FEMALE


def length_bin(chars: int) -> str:
    i = bisect_right(LENGTH_EDGES, chars)
    lo = 0 if i == 0 else LENGTH_EDGES[i - 1]
    return f"{lo}+" if i == len(LENGTH_EDGES) else f"{lo}-{LENGTH_EDGES[i]}"


def looks_english(text: str, tokens: list[str]) -> bool | None:
    """None when there is too little text to say."""
    sample = text[:2000]
    if not sample.isascii():
        letters = len(_LETTER.findall(sample))
        if letters >= 20 and len(_NON_ASCII_LETTER.findall(sample)) / letters > 0.3:
            return False
    if len(tokens) < 8:
        return None
    return sum(1 for t in tokens if t in STOPWORDS) / len(tokens) >= 0.08


@dataclass
class TextStats:
    length_bins: dict[str, float]
    mean_length: float
    distinct_1: float
    distinct_2: float
    distinct_3: float
    compression_ratio: float
    top_opening: str
    top_opening_share: float
    detectors: dict[str, float]


@dataclass
class TextWindow:
    """Accumulates one window's responses."""

    n: int = 0
    chars: int = 0
    bins: Counter = field(default_factory=Counter)
    grams: tuple[set, set, set] = field(default_factory=lambda: (set(), set(), set()))
    totals: list[int] = field(default_factory=lambda: [0, 0, 0])
    openings: Counter = field(default_factory=Counter)
    sample: list[bytes] = field(default_factory=list)
    sample_bytes: int = 0
    gendered: int = 0
    male: int = 0
    female: int = 0
    refusals: int = 0
    boilerplate: int = 0
    language_checked: int = 0
    non_english: int = 0

    def add(self, response: str, is_code: bool = False) -> None:
        self.n += 1
        self.chars += len(response)
        self.bins[length_bin(len(response))] += 1
        tokens = words(response)[:MAX_TOKENS]  # the verifier's tokenizer: one notion of a word
        g1, g2, g3 = self.grams
        g1.update(tokens)
        g2.update(zip(tokens, tokens[1:]))
        g3.update(zip(tokens, tokens[1:], tokens[2:]))
        k = len(tokens)
        self.totals[0] += k
        self.totals[1] += max(0, k - 1)
        self.totals[2] += max(0, k - 2)
        if tokens:
            self.openings[" ".join(tokens[:3])] += 1
        if self.sample_bytes < MAX_COMPRESS:
            data = response.encode()[:MAX_COMPRESS - self.sample_bytes]
            self.sample.append(data)
            self.sample_bytes += len(data) + 1
        m = f = 0
        for t in GENDERED.intersection(tokens):  # rare words: count only what is there
            if t in MALE:
                m += tokens.count(t)
            else:
                f += tokens.count(t)
        self.male += m
        self.female += f
        self.gendered += bool(m or f)
        self.refusals += bool(REFUSAL.search(response))
        self.boilerplate += bool(BOILERPLATE.search(response))
        if not is_code:
            english = looks_english(response, tokens)
            if english is not None:
                self.language_checked += 1
                self.non_english += not english

    def close(self) -> TextStats | None:
        if self.n == 0:
            return None
        raw = b"\n".join(self.sample)
        ratio = len(raw) / len(zlib.compress(raw, 6)) if raw else 1.0
        top, top_n = self.openings.most_common(1)[0] if self.openings else ("", 0)
        distinct = [len(g) / t if t else 0.0 for g, t in zip(self.grams, self.totals)]
        detectors = {
            "gendered_share": self.gendered / self.n,
            "refusal_share": self.refusals / self.n,
            "boilerplate_share": self.boilerplate / self.n,
        }
        if self.male + self.female:
            detectors["male_share"] = self.male / (self.male + self.female)
        if self.language_checked:
            detectors["non_english_share"] = self.non_english / self.language_checked
        return TextStats({b: c / self.n for b, c in sorted(self.bins.items())}, self.chars / self.n,
                         *distinct, ratio, top, top_n / self.n, detectors)

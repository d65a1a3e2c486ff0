"""Content words, crude stems, numbers and names: the lexical helpers the semantic validators share.

Pure and dependency-free. "Content words" are words outside a general English stop list (function
words, auxiliaries, pronouns and conversational filler); a "stem" is the first five letters, enough
to treat magnet/magnets/magnetic or join/joins/joined as one word without a stemmer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

STOP = frozenset("""
a an the of in on at to for from by with and or nor but so yet if then than as into onto about above below over
under up down out off again further once here there when where why how what which who whom whose this that these
those is are was were be been being am do does did doing have has had having will would shall should can could may
might must it its itself they them their theirs themselves he him his himself she her hers herself we us our ours
ourselves you your yours yourself yourselves i me my mine myself not no yes all any both each few more most other
some such only own same too very just also even still ever really quite rather pretty much many lot lots thing
things stuff way ways kind sort bit get gets got getting make makes made one ones something anything everything
nothing someone anyone everyone well okay ok oh um uh like right sure because since while though although whether
s t d ll m re ve don doesn didn isn aren wasn weren won wouldn shouldn couldn can't don't it's that's i'm you're
they're we're isn't aren't doesn't didn't won't wouldn't there's here's let's what's
""".split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?")  # '8,848.86', '343', '2.5'
NUMBER_WORDS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13",
                "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18",
                "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100", "thousand": "1000",
                "million": "1000000", "billion": "1000000000", "dozen": "12", "half": "0.5", "quarter": "0.25"}
MONTHS = frozenset("january february march april may june july august september october november december".split())
# a capitalised word that starts a name (not a sentence's first word unless it is unknown lower-case)
_NAME = re.compile(r"\b[A-Z][a-zA-Z'\-]+(?:\s+(?:of|de|van|von|the|da|del|la|le|du|al|bin|y)?\s*[A-Z][a-zA-Z'\-]+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP and not w.isdigit() and len(w) > 1]


def stem(word: str) -> str:
    return word.split("'")[0][:5]


def stems(text: str) -> set[str]:
    return {stem(w) for w in content_words(text)}


def numbers(text: str) -> list[str]:
    """Numbers in digits, commas dropped ('8,848.86' -> '8848.86'); number words as digits."""
    found = [n.replace(",", "") for n in NUMBER.findall(text)]
    found += [NUMBER_WORDS[w] for w in words(text) if w in NUMBER_WORDS and w not in ("one", "half")]
    return [str(float(n)).removesuffix(".0") for n in found]


def names(text: str, sentence_initial: bool = True) -> list[str]:
    """Capitalised names ('Alexander Fleming', 'St Mary', 'Rio Negro'), each a lower-case string,
    without a possessive 's; a sentence's first word counts only when it is not a common word
    (``sentence_initial=False``: a lone capitalised word opening a sentence never counts, as in
    prose a reader cannot tell 'Paris is ...' from 'Try ...')."""
    out = []
    for match in _NAME.finditer(text):
        name = match.group(0)
        start = match.start()
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in ".!?:;\"'(\n"
        first, _, rest = name.partition(" ")
        if sentence_start and (first.lower() in _OPENERS or not sentence_initial):
            if not rest:
                continue
            if first.lower() in _OPENERS:
                name = rest.strip()
        lowered = name.lower().removesuffix("'s").removesuffix("’s")
        if lowered in STOP or lowered in MONTHS:
            continue
        out.append(lowered)
    return out


# capitalised only because they open a sentence or a short answer
COMMON_OPENERS = frozenset("""because although about after before during around approximately roughly nearly almost
exactly only mostly mainly it its in on at by for from with to the a an this that these those some many most all
every each yes no maybe perhaps probably usually often sometimes never always first then next finally also however
""".split())
_OPENERS = STOP | COMMON_OPENERS


_UNITS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if w != "_"}
_SCALES = {"thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_FRACTIONS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fifth": 5, "fifths": 5,
              "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7, "eighth": 8, "eighths": 8, "ninth": 9,
              "ninths": 9, "tenth": 10, "tenths": 10, "hundredth": 100, "hundredths": 100}
_QTOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:st|nd|rd|th|s)?|[a-z]+|%")


@dataclass(frozen=True)
class Quantity:
    """A number as a text states it: its value and whether it was written in words (so that a
    reader can tell 'the two acids', a count, from '2 kg', a figure)."""

    value: Fraction
    words: bool


def quantities(text: str) -> list[Quantity]:
    """Every number of ``text`` as a value: digits ('22,000', '14.3', '1.5 million'), number
    words ('twenty-six', 'a hundred thousand', 'a dozen'), fractions ('four-fifths', 'a tenth',
    'half'), so that prose and figures compare ('four-fifths' is 0.8; compare percentages with
    ``same_quantity``). Decades ('the 1500s') and ordinals ('16th') are left out; so is a lone
    'one' or 'a', which is mostly not a number."""
    tokens = _QTOKEN.findall(text.lower().replace("-", " "))
    out: list[Quantity] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        value, words_, j = None, True, i
        if tok[0].isdigit():
            if tok.endswith(("st", "nd", "rd", "th", "s")):
                i += 1
                continue
            value, words_, j = Fraction(tok.replace(",", "")), False, i + 1
            if j < len(tokens) and tokens[j] in _SCALES:
                value, j = value * _SCALES[tokens[j]], j + 1
        elif tok in _UNITS or tok in _TENS or tok == "dozen" or (
                tok in ("a", "an", "one") and i + 1 < len(tokens)
                and (tokens[i + 1] in ("hundred", "dozen") or tokens[i + 1] in _SCALES
                     or tokens[i + 1] in _FRACTIONS)):
            total, current, j = 0, 0, i
            while j < len(tokens):
                t = tokens[j]
                if t in ("a", "an") and j == i:
                    current = 1
                elif t in _UNITS:
                    current += _UNITS[t]
                elif t in _TENS:
                    current += _TENS[t]
                elif t == "hundred":
                    current = (current or 1) * 100
                elif t == "dozen":
                    current = (current or 1) * 12
                elif t in _SCALES:
                    total, current = total + (current or 1) * _SCALES[t], 0
                elif t == "and" and j + 1 < len(tokens) and (tokens[j + 1] in _UNITS or tokens[j + 1] in _TENS):
                    pass
                else:
                    break
                j += 1
            value = Fraction(total + current)
            if j < len(tokens) and tokens[j] in _FRACTIONS and value:
                value, j = value / _FRACTIONS[tokens[j]], j + 1
                value, j = _of_scale(tokens, j, value)
            if value == 1 and j == i + 1:  # 'one', 'a': a pronoun or an article far more often than a number
                value = None
        elif tok in ("half", "quarter") and (i == 0 or tokens[i - 1] not in _UNITS):
            value, j = _of_scale(tokens, i + 1, Fraction(1, _FRACTIONS[tok]))
        if value is None:
            i += 1
            continue
        out.append(Quantity(value, words_))
        i = max(j, i + 1)
    return out


def _of_scale(tokens: list[str], j: int, fraction: Fraction) -> tuple[Fraction, int]:
    """'half a million', 'a quarter of a billion': the fraction of the scale that follows."""
    k = j + (j < len(tokens) and tokens[j] == "of")
    if k + 1 < len(tokens) and tokens[k] in ("a", "an") and tokens[k + 1] in _SCALES:
        return fraction * _SCALES[tokens[k + 1]], k + 2
    return fraction, j


def same_quantity(a: Fraction, b: Fraction) -> bool:
    """Equal, or equal as a percentage and a fraction (80 percent and four-fifths)."""
    return a == b or a == b * 100 or a * 100 == b

"""Content words, crude stems, numbers and names: the lexical helpers the semantic validators share.

Pure and dependency-free. "Content words" are words outside a general English stop list (function
words, auxiliaries, pronouns and conversational filler); a "stem" is the first five letters, enough
to treat magnet/magnets/magnetic or join/joins/joined as one word without a stemmer.
"""

from __future__ import annotations

import re

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


def names(text: str) -> list[str]:
    """Capitalised names ('Alexander Fleming', 'St Mary', 'Rio Negro'), each a lower-case string;
    a sentence's first word counts only when it is not a common word."""
    out = []
    for match in _NAME.finditer(text):
        name = match.group(0)
        start = match.start()
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in ".!?:;\"'(\n"
        first, _, rest = name.partition(" ")
        if sentence_start and first.lower() in _OPENERS:
            if not rest:
                continue
            name = rest.strip()
        lowered = name.lower()
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

"""The word-level confirmation score for LSH candidates the character ratio cannot decide.

A near duplicate keeps most of its source's *content*; a hard negative (the same sentence
frames with the names, objects and places changed) keeps the *frame*. ``fuzz.ratio`` on
characters cannot tell them apart well: a re-drawn name shares letters with the one it
replaces, and a copy with 12-15 % of its words edited scores as low as such a negative
(docs/BENCHMARKS.md, "Dedup on heavy edits"). Counted in words, weighted by what they carry,
they separate: ``word_similarity`` aligns the two texts' words (rapidfuzz's longest common
subsequence of tokens) and returns the share of their total weight that the aligned words
keep, where a word weighs its length squared. Long words are the rare, informative ones
(names, objects, technical terms); short ones are the frame (``the``, ``of``, ``at``). A copy
whose random edits hit frame words loses little weight; a negative that changed every name
loses most of it.

Pure and stateless: the score depends only on the two normalised texts, so an index rebuilt
from its entries (changelog replay, snapshot) decides exactly as the original did.
"""

from __future__ import annotations

from rapidfuzz.distance import Indel


def weight(word: str) -> int:
    """A word's weight: its length squared."""
    return len(word) * len(word)


def word_similarity(a: str, b: str) -> float:
    """0-100: twice the weight of the words of ``a`` and ``b`` aligned by their longest common
    subsequence of words, over the weight of all the words of both (100: the same words in the
    same order; 0: no word in common). ``a`` and ``b`` are normalised texts."""
    wa, wb = a.split(), b.split()
    total = sum(map(weight, wa)) + sum(map(weight, wb))
    if not total:
        return 100.0
    kept = 0
    for tag, i1, i2, _, _ in Indel.opcodes(wa, wb):
        if tag == "equal":
            kept += sum(map(weight, wa[i1:i2]))
    return 200.0 * kept / total

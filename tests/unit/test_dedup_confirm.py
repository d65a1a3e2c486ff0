"""The grey-band word rule of the dedup confirmation (agents/dedup/confirm.py, DedupIndex._confirm)."""

import numpy as np
import pytest
from rapidfuzz import fuzz

from synthstream.agents.dedup.confirm import word_similarity
from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate, IndexEntry, Unique
from synthstream.agents.dedup.normalize import normalize

SOURCE = ("Brunella bought 14 plumcots at the Thornwick market on Monday. Each plumcot costs 3 dollars, and "
          "Brunella has 60 dollars to spend. How many plumcots can Osgood carry from the Thornwick market in 4 trips? "
          "Show each step and give the answer as a whole number of plumcots.")
# 7 of its 48 words edited (14.6 %): 3 replaced, 2 inserted, 2 deleted, typos in the edited words
HEAVY = ("Brunella vorlanthe 14 plumcots at the Thornwick market on Monday. Queliimar Each plumcot costs 3 dollars, and "
         "Brunella has 60 dollars to spend. How plumcots can Osgood trambel from the Thornwick market in 4 trips? "
         "Show each step and give anwser as a drusskenwold number of spindelwort plumcots.")
# the same sentences with every name, object and place re-drawn, numbers kept: not a duplicate
NEGATIVE = ("Castimir bought 14 grundles at the Pellowick market on Monday. Each grundle costs 3 dollars, and "
            "Castimir has 60 dollars to spend. How many grundles can Osric carry from the Pellowick market in 4 trips? "
            "Show each step and give the answer as a whole number of grundles.")


def decide(params: DedupParams, first: str, second: str, thresholds=None):
    idx = DedupIndex(params)
    assert isinstance(idx.check("p1", first, "k")[0], Unique)
    return idx.check("p2", second, "k", thresholds)[0]


def test_the_pairs_are_in_the_grey_band_where_the_old_rule_decides_on_characters_alone():
    a, heavy, negative = normalize(SOURCE), normalize(HEAVY), normalize(NEGATIVE)
    # the old rule (ratio or token_sort >= 90) misses the heavy copy ...
    assert fuzz.ratio(a, heavy) < 90 and fuzz.token_sort_ratio(a, heavy) < 90
    # ... and both pairs are in the grey band below it
    assert 80 <= fuzz.ratio(a, heavy) < 90 and 80 <= fuzz.ratio(a, negative) < 90
    assert word_similarity(a, heavy) >= 65 > word_similarity(a, negative)


def test_a_heavily_edited_copy_with_typos_is_a_near_duplicate():
    near = decide(DedupParams(), SOURCE, HEAVY)
    assert isinstance(near, Duplicate) and near.kind == "near"
    assert near.score == pytest.approx(word_similarity(normalize(HEAVY), normalize(SOURCE)))
    # the confirmation before the word rule (grey 0) keeps it
    assert isinstance(decide(DedupParams(grey=0), SOURCE, HEAVY), Unique)


def test_the_same_sentences_with_every_name_re_drawn_are_not_a_duplicate():
    assert isinstance(decide(DedupParams(), SOURCE, NEGATIVE), Unique)


def test_word_similarity_weighs_long_words_more_and_is_deterministic():
    assert word_similarity("a b c", "a b c") == 100.0
    assert word_similarity("", "") == 100.0
    assert word_similarity("alpha beta", "gamma delta") == 0.0
    # losing a function word costs less than losing a content word of the same sentence
    base = "the committee ordered boxes of lanterns"
    assert word_similarity(base, "committee ordered boxes of lanterns") > word_similarity(base, "the committee ordered boxes of")
    a, b = normalize(SOURCE), normalize(HEAVY)
    assert word_similarity(a, b) == word_similarity(a, b) == word_similarity(b, a)


def test_a_stricter_call_is_stricter_on_words_too():
    p = DedupParams()
    assert p.word_rule(p.ratio) == (p.ratio - p.grey, p.words)
    floor, words = p.word_rule(99.0)
    assert floor == 99.0 - p.grey and words > 96
    assert p.word_rule(100.0) is None and DedupParams(grey=0).word_rule(90.0) is None
    # the heavy copy is a duplicate at the default thresholds, not at a call's 99
    assert isinstance(decide(p, SOURCE, HEAVY, (99.0, 99.0)), Unique)
    assert isinstance(decide(p, SOURCE, HEAVY, (90.0, 90.0)), Duplicate)


def test_word_rule_params_are_validated():
    with pytest.raises(ValueError, match="words"):
        DedupParams(words=0)
    with pytest.raises(ValueError, match="grey"):
        DedupParams(grey=100)
    with pytest.raises(ValueError, match="grey"):
        DedupParams(grey=-1)


def _probes() -> tuple[list[str], list[str]]:
    names = ["Brunella", "Castimir", "Osgood", "Ferrand", "Maelis", "Torvald"]
    kept = [SOURCE.replace("Brunella", n).replace("14", str(10 + i)) for i, n in enumerate(names)] + [NEGATIVE]
    probes = [HEAVY.replace("Brunella", n).replace("14", str(10 + i)) for i, n in enumerate(names)]
    probes += [NEGATIVE.replace("grundle", "pindle"), HEAVY, "something else entirely, about goats"]
    return kept, probes


def test_a_replayed_or_restored_index_decides_the_grey_band_exactly_as_the_original():
    kept, probes = _probes()
    first = DedupIndex()
    for i, t in enumerate(kept):
        first.check(f"k{i}", t, "k")
    replayed = DedupIndex()
    for entry in first.entries():
        replayed.add(entry)
    restored = DedupIndex()
    entries, keys, rows, vectors = first.export()
    restored.restore(entries, keys, rows, vectors)
    decisions = [[idx.check(f"q{i}", p, "k")[0] for i, p in enumerate(probes)] for idx in (first, replayed, restored)]
    assert decisions[0] == decisions[1] == decisions[2]
    assert any(isinstance(d, Duplicate) and d.score < 90 for d in decisions[0])  # the word rule decided some
    assert np.array_equal(first.export()[1], restored.export()[1])


BOILING = "What is the boiling point of water at sea level? Water boils at 100 degrees Celsius at sea level."
FREEZING = "What is the freezing point of water at sea level? Water freezes at 0 degrees Celsius at sea level."
# a man page's sentence (15 words) and a heavy-edit copy of it: 2 words replaced, one with a typo
SHORT = "If the value is not fully qualified then kms-location kms-keyring and optionally kms-project are required."
SHORT_HEAVY = ("If the value is termcaap 5 fully qualified then kms-location kms-keyring and optionally arning "
               "are required.")


def test_short_texts_need_more_of_their_words_weight_kept():
    """In 19 words, three key words changed is as many as a 15 % edit: under min_words words the
    grey band asks for short_words (80) instead of words (65); the look-alike keeps 74."""
    assert 80 <= fuzz.ratio(normalize(BOILING), normalize(FREEZING)) < 90
    assert 65 <= word_similarity(normalize(BOILING), normalize(FREEZING)) < 80
    assert isinstance(decide(DedupParams(), BOILING, FREEZING), Unique)
    assert isinstance(decide(DedupParams(min_words=1), BOILING, FREEZING), Duplicate)  # what words=65 would do
    assert isinstance(decide(DedupParams(short_words=70), BOILING, FREEZING), Duplicate)
    with pytest.raises(ValueError, match="min_words"):
        DedupParams(min_words=0)


def test_a_short_heavily_edited_copy_is_a_near_duplicate_when_it_kept_most_of_the_weight():
    a, b = normalize(SHORT), normalize(SHORT_HEAVY)
    assert len(a.split()) < DedupParams().min_words and len(b.split()) < DedupParams().min_words
    assert fuzz.ratio(a, b) < 90 and fuzz.token_sort_ratio(a, b) < 90  # the character rules miss it
    assert 80 <= fuzz.ratio(a, b) and word_similarity(a, b) >= 80
    for first, second in ((SHORT, SHORT_HEAVY), (SHORT_HEAVY, SHORT)):
        near = decide(DedupParams(), first, second)
        assert isinstance(near, Duplicate) and near.kind == "near"
        assert near.score == pytest.approx(word_similarity(a, b))
        # short_words 100 leaves short texts to the character rules (the index of before)
        assert isinstance(decide(DedupParams(short_words=100), first, second), Unique)


def test_the_short_threshold_applies_when_either_text_is_short():
    """A 25-word record and a 24-word look-alike (or the other way round) are judged as short texts."""
    long = ("What is the boiling point of pure water at sea level on planet Earth? "
            "Pure water boils at exactly 100 degrees Celsius at sea level.")
    short = ("What is the freezing point of pure water at sea level on planet Earth? "
             "Pure water freezes at 0 degrees Celsius at sea level.")
    a, b = normalize(long), normalize(short)
    assert len(a.split()) == 25 and len(b.split()) == 24
    assert 80 <= fuzz.ratio(a, b) < 90 and 65 <= word_similarity(a, b) < 80
    for first, second in ((long, short), (short, long)):
        assert isinstance(decide(DedupParams(), first, second), Unique)
        assert isinstance(decide(DedupParams(min_words=24), first, second), Duplicate)  # both long: words 65


def test_the_short_word_rule_is_stricter_and_scales_with_a_call():
    p = DedupParams()
    assert p.word_rule(p.ratio, short=True) == (p.ratio - p.grey, p.short_words)
    assert p.word_rule(p.ratio, short=True)[1] > p.word_rule(p.ratio)[1]
    floor, words = p.word_rule(99.0, short=True)
    assert floor == 99.0 - p.grey and words == pytest.approx(98.0)
    assert DedupParams(grey=0).word_rule(90.0, short=True) is None
    with pytest.raises(ValueError, match="short_words"):
        DedupParams(short_words=0)
    with pytest.raises(ValueError, match="short_words"):
        DedupParams(short_words=101)


def test_a_band_key_shared_by_too_many_records_finds_no_candidates():
    def index(limit: int) -> DedupIndex:
        idx = DedupIndex(DedupParams(bucket_limit=limit))
        entries = [IndexEntry(f"r{i}", f"p{i}", "k", f"text {i}") for i in range(3)]
        idx.restore(entries, np.tile(np.arange(idx.params.lsh.bands, dtype=np.uint64), (3, 1)))
        return idx

    keys = list(range(DedupParams().lsh.bands))
    assert index(2)._candidates(keys) == []
    assert index(3)._candidates(keys) == index(0)._candidates(keys) == [0, 1, 2]
    with pytest.raises(ValueError, match="bucket_limit"):
        DedupParams(bucket_limit=-1)

import pytest

from agents.dedup.core import DedupIndex, Duplicate, Replay, Unique
from agents.dedup.normalize import content_id, normalize

TEXT = "Find x, explaining every step of your reasoning.\n\nSolve for x: 3*x + 5 = 11"


def test_normalize_keeps_digits_and_operators():
    assert normalize("  Solve  FOR x:\t3*x + 5 = 11!! ") == "solve for x 3*x + 5 = 11"
    assert normalize("ｘ＝３") == "x=3"  # NFKC folds full-width forms
    assert normalize("3/4") != normalize("34")


def test_content_id_ignores_noise_only():
    assert content_id(TEXT, "k") == content_id(TEXT.upper().replace(" ", "  "), "k")
    assert content_id(TEXT, "k") != content_id(TEXT.replace("11", "12"), "k")


def test_first_is_kept_exact_and_near_copies_are_duplicates():
    idx = DedupIndex()
    first = idx.check("p1", TEXT, "k")
    assert isinstance(first, Unique)
    exact = idx.check("p2", TEXT.upper() + "  ", "k")
    assert exact == Duplicate(first.record_id, "exact", first.record_id, 100.0)
    near = idx.check("p3", TEXT.replace("every step", "each step"), "k")
    assert isinstance(near, Duplicate) and near.kind == "near" and near.of_record == first.record_id
    assert near.reason.startswith(f"duplicate_near: of {first.record_id}")
    assert len(idx) == 1


def test_reordered_words_are_caught_by_token_sort():
    idx = DedupIndex(similarity=92)
    idx.check("p1", "solve the equation and show every step of the work 3*x + 5 = 11", "k")
    moved = idx.check("p2", "show every step of the work and solve the equation 3*x + 5 = 11", "k")
    assert isinstance(moved, Duplicate) and moved.kind == "near"


def test_replay_of_the_same_prompt_is_idempotent():
    idx = DedupIndex()
    first = idx.check("p1", TEXT, "k")
    assert idx.check("p1", TEXT, "k") == Replay(first.record_id)


def test_hard_negatives_with_another_key_are_kept():
    idx = DedupIndex()
    idx.check("p1", TEXT, "math|3*x + 5 = 11|2")
    other = idx.check("p2", TEXT.replace("5 = 11", "7 = 13"), "math|3*x + 7 = 13|2")
    assert isinstance(other, Unique)


def test_dissimilar_text_in_one_key_is_kept():
    idx = DedupIndex()
    idx.check("p1", TEXT, "k")
    assert isinstance(idx.check("p2", "A savings plan: 3*x + 5 = 11 where x is the number of deposits.", "k"), Unique)


def test_capacity_evicts_oldest_first():
    idx = DedupIndex(capacity=2)
    a = idx.check("p1", "alpha " * 5, "k1")
    idx.check("p2", "beta " * 5, "k2")
    idx.check("p3", "gamma " * 5, "k3")
    assert len(idx) == 2
    assert idx.check("p4", "alpha " * 5, "k1") == Unique(a.record_id)  # forgotten, so accepted again
    with pytest.raises(ValueError):
        DedupIndex(capacity=0)

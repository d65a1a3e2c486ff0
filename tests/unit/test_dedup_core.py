import numpy as np
import pytest

from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate, IndexEntry, Replay, Unique, record_id
from synthstream.agents.dedup.fields import DedupFields, partition_for, scope_of, text_of, value
from synthstream.agents.families import default_fields
from synthstream.agents.dedup.minhash import LshParams, MinHasher, NumpyMinHasher
from synthstream.agents.dedup.normalize import normalize

TEXT = ("A farmer sells 23 apples at the market on Monday and buys 7 pears for his daughter. "
        "How many fruits does he have left if he started with 120 apples? Explain every step.")


def check(idx: DedupIndex, prompt_id: str, text: str, scope: str = "k"):
    return idx.check(prompt_id, text, scope)[0]


def test_normalize_keeps_digits_and_operators():
    assert normalize("  Solve  FOR x:\t3*x + 5 = 11!! ") == "solve for x 3*x + 5 = 11"
    assert normalize("ｘ＝３") == "x=3"  # NFKC folds full-width forms
    assert normalize("3/4") != normalize("34")


def test_record_id_ignores_noise_only():
    assert record_id("k", normalize(TEXT)) == record_id("k", normalize(TEXT.upper().replace(" ", "  ")))
    assert record_id("k", normalize(TEXT)) != record_id("k", normalize(TEXT.replace("23", "24")))
    assert record_id("k", normalize(TEXT)) != record_id("other", normalize(TEXT))


def test_first_is_kept_exact_and_near_copies_are_duplicates():
    idx = DedupIndex()
    first, entry = idx.check("p1", TEXT, "k")
    assert isinstance(first, Unique) and entry == IndexEntry(first.record_id, "p1", "k", normalize(TEXT))
    exact, none = idx.check("p2", TEXT.upper() + "  ", "k")
    assert exact == Duplicate(first.record_id, "exact", first.record_id, 100.0) and none is None
    near = check(idx, "p3", TEXT.replace("every step", "each step").replace("23", "24"))
    assert isinstance(near, Duplicate) and near.kind == "near" and near.of_record == first.record_id
    assert near.reason.startswith(f"duplicate_near: of {first.record_id}")
    typo = check(idx, "p4", TEXT.replace("market", "markte").replace("daughter", "dauhgter"))
    assert isinstance(typo, Duplicate) and typo.kind == "near"
    assert len(idx) == 1


def test_reordered_sentences_are_caught_by_token_sort():
    idx = DedupIndex()
    check(idx, "p1", TEXT)
    a, b, c = TEXT.split(". ")[0], TEXT.split(". ")[1].split("? ")[0], "Explain every step."
    moved = check(idx, "p2", f"{c} {b}? {a}.")
    assert isinstance(moved, Duplicate) and moved.kind == "near" and moved.score >= 90


def test_replay_of_the_same_prompt_is_idempotent():
    idx = DedupIndex()
    first = check(idx, "p1", TEXT)
    assert idx.check("p1", TEXT, "k") == (Replay(first.record_id), None)


def test_scopes_never_meet():
    idx = DedupIndex()
    check(idx, "p1", TEXT, "math|x=2")
    assert isinstance(check(idx, "p2", TEXT, "math|x=3"), Unique)
    assert isinstance(check(idx, "p3", TEXT.replace("23", "24"), "math|x=3"), Duplicate)


def test_a_hard_negative_sharing_the_template_is_kept():
    idx = DedupIndex()
    check(idx, "p1", TEXT)
    other = ("A baker sells 23 loaves at the fair on Monday and buys 7 cakes for her nephew. "
             "How many breads does she have left if she started with 120 loaves? Explain every step.")
    assert isinstance(check(idx, "p2", other), Unique)


def test_thresholds_can_be_set_per_call():
    idx = DedupIndex()
    check(idx, "p1", TEXT)
    changed = TEXT.replace("apples", "plums").replace("pears", "figs")
    assert isinstance(idx.check("p2", changed, "k", (99.0, 99.0))[0], Unique)
    assert isinstance(idx.check("p3", changed, "k", (80.0, 80.0))[0], Duplicate)


def test_capacity_evicts_oldest_first():
    idx = DedupIndex(DedupParams(capacity=2))
    a = check(idx, "p1", "alpha " * 20, "k1")
    check(idx, "p2", "beta " * 20, "k2")
    check(idx, "p3", "gamma " * 20, "k3")
    assert len(idx) == 2 and [e.prompt_id for e in idx.entries()] == ["p2", "p3"]
    assert check(idx, "p4", "alpha " * 20, "k1") == Unique(a.record_id)  # forgotten, so accepted again
    assert not idx._buckets.keys() - {k for e in idx.entries() for k in idx._keys(e.scope, e.norm)}


def test_an_index_rebuilt_from_its_entries_decides_the_same():
    texts = [f"{TEXT} Case {i}: the farmer has {i * 37 % 101} crates of plums and {i} goats." for i in range(40)]
    first = DedupIndex()
    for i, t in enumerate(texts):
        first.check(f"p{i}", t, "k")
    rebuilt = DedupIndex()
    for entry in first.entries():
        rebuilt.add(entry)
    probes = [t.replace("crates", "boxes") for t in texts] + ["something else entirely, about goats"]
    assert [check(first, "q", p) for p in probes] == [check(rebuilt, "q", p) for p in probes]


def test_params_are_validated():
    with pytest.raises(ValueError, match="ratio"):
        DedupParams(ratio=0)
    with pytest.raises(ValueError, match="capacity"):
        DedupParams(capacity=-1)
    with pytest.raises(ValueError):
        LshParams(bands=0)
    p = LshParams(bands=16, rows=4)
    assert p.num_perm == 64
    assert p.candidate_probability(0.9) > 0.999 and p.candidate_probability(0.2) < 0.05


@pytest.mark.parametrize("hasher", [MinHasher, NumpyMinHasher])
def test_signatures_estimate_jaccard_and_are_deterministic(hasher):
    h = hasher(LshParams(bands=64, rows=4))
    a, b = normalize(TEXT), normalize(TEXT.replace("apples", "plums"))
    grams = lambda t: {t[i:i + 5] for i in range(len(t) - 4)}  # noqa: E731
    true = len(grams(a) & grams(b)) / len(grams(a) | grams(b))
    estimate = float((h.signature(a) == h.signature(b)).mean())
    assert abs(estimate - true) < 0.12  # 256 permutations: standard error about 0.03
    assert np.array_equal(h.signature(a), hasher(LshParams(bands=64, rows=4)).signature(a))
    assert h.signature("ab").shape == (256,) and h.signature("").shape == (256,)  # shorter than a shingle


def test_band_keys_differ_by_scope():
    h = MinHasher()
    sig = h.signature(normalize(TEXT))
    assert len(h.band_keys(sig, 1)) == h.params.bands and set(h.band_keys(sig, 1)).isdisjoint(h.band_keys(sig, 2))


GEN = {"task": "math.linear", "problem": "Solve for x: 2*x + 1 = 5", "equation": "2*x + 1 = 5", "answer": "2",
       "response": "x = 2", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
       "dimensions": {"topic": "Science"}, "code": None, "grounding": {"doc_id": "d1", "chunk": 3},
       "lineage": {"dataset": "ds"}}


def test_fields_are_read_from_a_generation():
    assert value(GEN, "messages") == "Hi\nYo"
    assert value(GEN, "code.prompt") == "" and value(GEN, "grounding.chunk") == "3"
    assert value(GEN, "dimensions.topic") == "Science"
    assert text_of(GEN, default_fields("math.linear")) == GEN["problem"]
    assert scope_of(GEN, default_fields("math.linear")) == "ds\x1fmath linear\x1f2*x + 1 = 5\x1f2"  # normalised
    assert scope_of(GEN, DedupFields(("problem",), ("dimensions.topic",))) == "ds\x1fscience"
    with pytest.raises(ValueError, match="unknown dedup field"):
        DedupFields(("problme",), ())
    assert {partition_for(f"scope {i}", 4) for i in range(50)} == {0, 1, 2, 3}
    assert partition_for("a", 4) == partition_for("a", 4)


def test_a_snapshot_restores_the_same_index_and_refuses_what_it_cannot_use(tmp_path, caplog):
    from synthstream.agents.dedup import snapshot

    texts = [f"{TEXT} Case {i}: the farmer has {i * 37 % 101} crates of plums and {i} goats." for i in range(30)]
    first = DedupIndex()
    for i, t in enumerate(texts):
        first.check(f"p{i}", t, "k" if i % 2 else "j")
    entries, keys, _, _ = first.export()
    path = tmp_path / "part-0.npz"
    snapshot.write(path, entries, keys, 123, first.params.lsh)
    snap = snapshot.read(path, first.params.lsh)
    assert snap.read_to == 123 and snap.entries == first.entries() and (snap.keys == keys).all()
    assert len(snap.entries) >= 2
    rebuilt = DedupIndex()
    rebuilt.restore(snap.entries, snap.keys)
    probes = [t.replace("crates", "boxes") for t in texts] + ["something else entirely, about goats"]
    assert [check(first, "q", p, "k") for p in probes] == [check(rebuilt, "q", p, "k") for p in probes]
    assert snapshot.read(path, LshParams(ngram=5)) is None  # other parameters: replay instead
    assert snapshot.read(tmp_path / "missing.npz", first.params.lsh) is None
    path.write_bytes(b"not a snapshot")
    assert snapshot.read(path, first.params.lsh) is None and "unreadable" in caplog.text
    with pytest.raises(ValueError, match="do not fit"):
        rebuilt.restore(snap.entries[:-1], snap.keys)

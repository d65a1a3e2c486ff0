"""The semantic dedup tier's core (agents/dedup/semantic.py and its use in DedupIndex), on
seeded vectors: what is nearest within a scope, the graph a large scope gets, eviction,
export/restore and snapshots. The real model's figures are benchmarks/bench_semdedup.py's;
tests/unit/test_dedup_jsonl.py runs the real model through ``synthstream dedup --semantic``."""

from __future__ import annotations

import numpy as np
import pytest

from synthstream.agents.dedup import snapshot
from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate, Unique
from synthstream.agents.dedup.semantic import DIM, SemanticIndex, SemanticParams

RNG = np.random.default_rng(3)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


BASE = unit(RNG.standard_normal((400, DIM)))


def near(v: np.ndarray, noise: float = 0.01) -> np.ndarray:
    """A vector at cosine about 0.98 from ``v`` (a paraphrase's embedding)."""
    return unit(v + RNG.normal(0, noise, DIM))


def test_the_nearest_vector_is_found_within_its_scope_only():
    idx = SemanticIndex()
    for i in range(20):
        idx.add(i % 2, i, BASE[i])
    ordinal, cos = idx.nearest(0, near(BASE[4]))
    assert ordinal == 4 and cos > 0.95
    ordinal, cos = idx.nearest(1, near(BASE[4]))  # scope 1 holds the odd ones: none is close
    assert ordinal % 2 == 1 and cos < 0.5
    assert idx.nearest(7, BASE[4]) is None  # an empty scope


def test_removal_keeps_the_other_vectors_where_they_were():
    idx = SemanticIndex()
    for i in range(10):
        idx.add(0, i, BASE[i])
    idx.remove(3)
    idx.remove(0)
    assert len(idx) == 8 and 3 not in idx
    for i in (1, 2, 4, 9):
        assert idx.nearest(0, BASE[i])[0] == i
        assert np.allclose(idx.vector(i), BASE[i], atol=1e-3)
    assert idx.nearest(0, BASE[3])[1] < 0.5  # gone
    for i in (1, 2, 4, 5, 6, 7, 8, 9):
        idx.remove(i)
    assert len(idx) == 0 and idx.nearest(0, BASE[1]) is None


def test_a_large_scope_searches_its_graph_and_finds_what_the_exact_search_finds():
    exact = SemanticIndex(SemanticParams(ann_from=10_000))
    graph = SemanticIndex(SemanticParams(ann_from=64))
    for i in range(len(BASE)):
        exact.add(0, i, BASE[i])
        graph.add(0, i, BASE[i])
    assert graph._scopes[0].graph is not None and exact._scopes[0].graph is None
    assert graph._scopes[0].rows is None  # the graph holds the vectors now
    assert np.allclose(graph.vectors([3, 250]), exact.vectors([3, 250]), atol=1e-3)
    queries = [near(BASE[i], 0.02) for i in range(0, 400, 7)]
    assert [graph.nearest(0, q)[0] for q in queries] == [exact.nearest(0, q)[0] for q in queries]
    graph.remove(7)  # removed from the graph as well
    assert graph.nearest(0, BASE[7])[0] != 7


def test_params_are_validated():
    for bad in (dict(threshold=0), dict(threshold=1.5), dict(ann_from=0)):
        with pytest.raises(ValueError):
            SemanticParams(**bad)


# ---- inside the dedup index --------------------------------------------------------------------

A = "Why does the sky look blue on a clear day?"
B = "What makes a cloudless sky appear blue to us?"  # shares few characters with A


def test_a_paraphrase_is_a_semantic_duplicate_only_with_an_embedding_in_the_same_scope():
    idx = DedupIndex()
    decision, entry = idx.check("p1", A, "s", vector=BASE[0])
    assert isinstance(decision, Unique) and entry.embedded
    decision, entry = idx.check("p2", B, "s", vector=near(BASE[0]))
    assert isinstance(decision, Duplicate) and decision.kind == "semantic" and entry is None
    assert decision.of_record == idx.entries()[0].record_id and decision.score > 0.95
    assert decision.reason.startswith("duplicate_semantic: of ") and "cosine 0.9" in decision.reason
    assert isinstance(idx.check("p3", B, "other", vector=near(BASE[0]))[0], Unique)  # another scope
    assert isinstance(idx.check("p4", B + " Really?", "s")[0], Unique)  # no embedding: the other tiers only
    assert not idx.entries()[-1].embedded


def test_the_threshold_decides_and_can_be_set_per_call():
    idx = DedupIndex(DedupParams(semantic=SemanticParams(threshold=0.99)))
    idx.check("p1", A, "s", vector=BASE[0])
    para = unit(BASE[0] + 0.35 * BASE[1])  # cosine about 0.94
    cos = float(para @ BASE[0])
    assert 0.9 < cos < 0.99
    assert isinstance(idx.check("p2", B, "s", vector=para)[0], Unique)
    assert isinstance(idx.check("p3", B + " x", "s", vector=para, semantic=0.9)[0], Duplicate)


def test_exact_and_near_copies_are_decided_before_the_embedding():
    idx = DedupIndex()
    idx.check("p1", A, "s", vector=BASE[0])
    decision, _ = idx.check("p2", A.upper(), "s", vector=BASE[9])  # an unrelated vector: the exact tier decides
    assert isinstance(decision, Duplicate) and decision.kind == "exact"


def test_eviction_drops_the_embedding_too():
    idx = DedupIndex(DedupParams(capacity=2))
    for i, text in enumerate(("first record text here", "second record, other words", "third one, again other")):
        idx.check(f"p{i}", text, "s", vector=BASE[i])
    assert len(idx) == 2 and len(idx.semantic) == 2
    assert isinstance(idx.check("r", "a paraphrase of the second", "s", vector=near(BASE[1]))[0], Duplicate)
    assert isinstance(idx.check("q", "a paraphrase of the first", "s", vector=near(BASE[0]))[0], Unique)


def test_export_restore_and_a_snapshot_keep_the_embeddings(tmp_path):
    first = DedupIndex()
    words = ["".join(chr(97 + int(c)) for c in RNG.integers(0, 26, 7)) for _ in range(12 * 8)]
    for i in range(12):  # texts no other tier relates, every fourth without an embedding
        first.check(f"p{i}", " ".join(words[8 * i:8 * i + 8]), f"s{i % 3}", vector=BASE[i] if i % 4 else None)
    entries, keys, rows, vectors = first.export()
    assert rows.tolist() == [i for i in range(12) if i % 4] and vectors.shape == (9, DIM)
    snapshot.write(tmp_path / "p.npz", entries, keys, 40, first.params.lsh, rows, vectors)
    snap = snapshot.read(tmp_path / "p.npz", first.params.lsh)
    assert snap.entries == entries and (snap.rows == rows).all() and (snap.vectors == vectors).all()
    rebuilt = DedupIndex()
    rebuilt.restore(snap.entries, snap.keys, snap.rows, snap.vectors)
    probes = [(f"q{i}", f"a rewording {i}", f"s{i % 3}", near(BASE[i])) for i in range(12)]
    decide = lambda idx: [type(idx.check(p, t, s, vector=v)[0]).__name__ for p, t, s, v in probes]  # noqa: E731
    assert decide(first) == decide(rebuilt) == ["Unique" if i % 4 == 0 else "Duplicate" for i in range(12)]
    with pytest.raises(ValueError, match="embedded rows"):
        DedupIndex().restore(snap.entries, snap.keys, snap.rows, snap.vectors[:-1])


def test_a_snapshot_from_before_the_semantic_tier_still_loads(tmp_path):
    import json
    import zlib

    idx = DedupIndex()
    idx.check("p1", A, "s")
    entries, keys, _, _ = idx.export()
    meta = {"version": 1, "read_to": 5, "lsh": list(snapshot.astuple(idx.params.lsh)), "count": 1}
    rows = json.dumps([[e.record_id, e.prompt_id, e.scope, e.norm] for e in entries]).encode()
    with open(tmp_path / "old.npz", "wb") as fh:
        np.savez(fh, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                 entries=np.frombuffer(zlib.compress(rows), dtype=np.uint8), keys=keys)
    snap = snapshot.read(tmp_path / "old.npz", idx.params.lsh)
    assert snap is not None and snap.entries == entries and not snap.entries[0].embedded and len(snap.rows) == 0


def test_a_scope_held_by_its_graph_exports_restores_and_evicts(tmp_path):
    params = DedupParams(capacity=30, semantic=SemanticParams(ann_from=8))
    first = DedupIndex(params)
    words = ["".join(chr(97 + int(c)) for c in RNG.integers(0, 26, 7)) for _ in range(40 * 8)]
    for i in range(40):  # one scope, past ann_from and past capacity: the oldest ten are evicted
        first.check(f"p{i}", " ".join(words[8 * i:8 * i + 8]), "s", vector=BASE[i])
    assert first.semantic._scopes[snapshot_scope()].graph is not None and len(first.semantic) == 30
    entries, keys, rows, vectors = first.export()
    assert len(rows) == 30 and np.allclose(vectors.astype(np.float32), BASE[10:40], atol=2e-3)
    rebuilt = DedupIndex(params)
    rebuilt.restore(entries, keys, rows, vectors)
    probes = [near(BASE[i]) for i in (0, 5, 12, 39)]  # 0 and 5 were evicted
    texts = [" ".join("".join(chr(97 + int(c)) for c in RNG.integers(0, 26, 9)) for _ in range(6)) for _ in probes]
    decide = lambda idx: [type(idx.check(f"q{i}", texts[i], "s", vector=v)[0]).__name__  # noqa: E731
                          for i, v in enumerate(probes)]
    assert decide(first) == decide(rebuilt) == ["Unique", "Unique", "Duplicate", "Duplicate"]


def snapshot_scope() -> int:
    from synthstream.agents.dedup.core import scope_hash

    return scope_hash("s")

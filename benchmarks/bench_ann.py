"""Which approximate-nearest-neighbour library for the semantic dedup tier: usearch, hnswlib or faiss-cpu.

    .venv/bin/pip install usearch hnswlib faiss-cpu      # the contenders (usearch is the pipeline's)
    .venv/bin/python benchmarks/bench_ann.py              # 50k and 1M vectors (about 30 min)
    .venv/bin/python benchmarks/bench_ann.py --sizes 50000 --libs usearch-i8,numpy

The dedup stage does two things with an index: it *restores* one (a snapshot's vectors added in
bulk after a restart) and it *checks and adds* one record at a time (the nearest neighbour
within the scope, then the record itself when it is new). Each contender, in its own process
(so resident memory is its own), at each size N:

- restore: N - 10,000 vectors added in one call, vectors/s (both cores);
- stream: the last 10,000 vectors, each searched (top 1) then added, records/s (one thread,
  as the stage runs);
- bytes/record: resident memory growth over the whole build, divided by N;
- recall@1: on 1,000 near copies of stored vectors (cosine about 0.95 to their original, the
  case dedup exists for), how often the index returns the exact nearest neighbour.

``synthstream`` is agents/dedup/semantic.py itself (an exact float16 matrix until 2,048 records,
then a usearch float16 graph that also gives the vectors back for snapshots), with everything
in one scope (the worst case).

The vectors: 20,000 real all-MiniLM-L6-v2 embeddings of distinct texts from benchmarks/dedup_corpus.py
(cached under ~/.cache/synthstream), and for larger N seeded mixtures of three of them plus
noise, renormalised: they stay in the model's subspace with its neighbourhood structure,
without embedding a million texts. ``numpy`` is exact brute force, the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "synthstream" / "bench_ann_base.npy"
BASE = 20_000
STREAM = 10_000
QUERIES = 1_000
DIM = 384
LIBS = ("numpy", "usearch-f16", "usearch-i8", "hnswlib", "faiss-hnsw", "synthstream")


def base_vectors() -> np.ndarray:
    if CACHE.exists():
        return np.load(CACHE)
    sys.path.insert(0, str(ROOT))
    from dedup_corpus import Corpus

    from synthstream.agents.dedup.normalize import normalize
    from synthstream.agents.semantic import model

    texts = [normalize(t) for t, _ in Corpus(seed=7, copy_share=0.0, negative_share=0.0).records(BASE)]
    embedder = model.load()
    started = time.perf_counter()
    out = np.concatenate([embedder.embed(texts[i:i + 64]) for i in range(0, len(texts), 64)])
    print(f"embedded {len(texts)} base texts in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.save(CACHE, out.astype(np.float32))
    return out


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def vectors(n: int, seed: int = 11) -> np.ndarray:
    base = base_vectors()
    if n <= len(base):
        return base[:n].copy()
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    out[:len(base)] = base
    for start in range(len(base), n, 100_000):
        m = min(100_000, n - start)
        idx = rng.integers(0, len(base), size=(m, 3))
        w = rng.dirichlet((1.0, 1.0, 1.0), size=m).astype(np.float32)
        mix = np.einsum("mk,mkd->md", w, base[idx]) + rng.normal(0, 0.02, size=(m, DIM)).astype(np.float32)
        out[start:start + m] = unit(mix)
    return out


def near_copies(data: np.ndarray, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    which = rng.choice(len(data), size=QUERIES, replace=False)
    q = unit(data[which] + rng.normal(0, 0.016, size=(QUERIES, DIM)).astype(np.float32))
    return q, which


def rss() -> int:
    """Resident bytes, after handing freed heap back to the system (glibc keeps it otherwise, and a
    contender's temporary copies would count as its index)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Contender:
    def bulk(self, keys: np.ndarray, vecs: np.ndarray) -> None: ...
    def add(self, key: int, vec: np.ndarray) -> None: ...
    def nearest(self, vec: np.ndarray) -> int: ...


class Numpy(Contender):
    def __init__(self, n: int) -> None:
        self.m = np.empty((n, DIM), dtype=np.float32)
        self.n = 0

    def bulk(self, keys, vecs):
        self.m[self.n:self.n + len(vecs)] = vecs
        self.n += len(vecs)

    def add(self, key, vec):
        self.m[self.n] = vec
        self.n += 1

    def nearest(self, vec):
        return int(np.argmax(self.m[:self.n] @ vec))


class USearch(Contender):
    def __init__(self, n: int, dtype: str) -> None:
        from usearch.index import Index

        self.index = Index(ndim=DIM, metric="cos", dtype=dtype, connectivity=16, expansion_add=128,
                           expansion_search=64)

    def bulk(self, keys, vecs):
        self.index.add(keys, vecs, threads=0)

    def add(self, key, vec):
        self.index.add(key, vec, threads=1)

    def nearest(self, vec):
        return int(self.index.search(vec, 1, threads=1).keys[0])


class Hnswlib(Contender):
    def __init__(self, n: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="cosine", dim=DIM)
        self.index.init_index(max_elements=n, M=16, ef_construction=128)
        self.index.set_ef(64)

    def bulk(self, keys, vecs):
        self.index.set_num_threads(2)
        self.index.add_items(vecs, keys)
        self.index.set_num_threads(1)

    def add(self, key, vec):
        self.index.add_items(vec[None, :], [key])

    def nearest(self, vec):
        labels, _ = self.index.knn_query(vec[None, :], k=1)
        return int(labels[0][0])


class FaissHnsw(Contender):
    def __init__(self, n: int) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 128
        self.index.hnsw.efSearch = 64

    def bulk(self, keys, vecs):
        self.faiss.omp_set_num_threads(2)
        self.index.add(vecs)  # keys are the insertion order
        self.faiss.omp_set_num_threads(1)

    def add(self, key, vec):
        self.index.add(vec[None, :])

    def nearest(self, vec):
        _, labels = self.index.search(vec[None, :], 1)
        return int(labels[0][0])


class Ours(Contender):
    """agents/dedup/semantic.py as the stage uses it; one scope holding everything (the worst case)."""

    def __init__(self, n: int) -> None:
        from synthstream.agents.dedup.semantic import SemanticIndex

        self.index = SemanticIndex()

    def bulk(self, keys, vecs):
        self.index.extend([(0, int(k), v) for k, v in zip(keys, vecs)])

    def add(self, key, vec):
        self.index.add(0, key, vec)

    def nearest(self, vec):
        return self.index.nearest(0, vec)[0]


def make(lib: str, n: int) -> Contender:
    if lib == "numpy":
        return Numpy(n)
    if lib.startswith("usearch-"):
        return USearch(n, lib.removeprefix("usearch-"))
    if lib == "hnswlib":
        return Hnswlib(n)
    if lib == "faiss-hnsw":
        return FaissHnsw(n)
    if lib == "synthstream":
        return Ours(n)
    raise SystemExit(f"unknown library {lib!r}; expected some of {LIBS}")


def run_one(lib: str, n: int) -> dict:
    data = vectors(n)
    queries, truth_of = near_copies(data)
    exact = np.argmax(queries @ data.T, axis=1) if n <= 100_000 else \
        np.concatenate([np.argmax(queries[i:i + 100] @ data.T, axis=1) for i in range(0, QUERIES, 100)])
    before = rss()
    index = make(lib, n)
    head = n - STREAM
    started = time.perf_counter()
    index.bulk(np.arange(head, dtype=np.uint64), data[:head])
    restore = time.perf_counter() - started
    started = time.perf_counter()
    for key in range(head, n):
        index.nearest(data[key])
        index.add(key, data[key])
    stream = time.perf_counter() - started
    grown = rss() - before
    found = sum(index.nearest(q) == e for q, e in zip(queries, exact))
    return {"lib": lib, "n": n, "restore_per_s": head / restore, "stream_per_s": STREAM / stream,
            "bytes_per_record": grown / n, "recall_at_1": found / QUERIES,
            "copies_found": float(np.mean(exact == truth_of))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="50000,1000000")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        lib, n = args.one.split(":")
        print(json.dumps(run_one(lib, int(n))))
        return
    base_vectors()  # once, before the contenders start
    rows = []
    print(f"{'library':12} {'N':>9} {'restore/s':>10} {'check+add/s':>12} {'B/record':>9} {'recall@1':>9}")
    for n in (int(s) for s in args.sizes.split(",")):
        for lib in args.libs.split(","):
            done = subprocess.run([sys.executable, __file__, "--one", f"{lib}:{n}"], capture_output=True,
                                  text=True, timeout=3600)
            if done.returncode != 0:
                print(f"{lib:12} {n:>9} failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(r)
            print(f"{lib:12} {n:>9} {r['restore_per_s']:>10.0f} {r['stream_per_s']:>12.0f} "
                  f"{r['bytes_per_record']:>9.0f} {r['recall_at_1']:>9.3f}", flush=True)
    best = max((r for r in rows if r["n"] == max(x["n"] for x in rows) and r["lib"] != "numpy"),
               key=lambda r: r["stream_per_s"] * r["recall_at_1"], default=None)
    if best:
        print(f"ann: {best['lib']} at {best['n']}: check+add {best['stream_per_s']:.0f} rec/s, "
              f"{best['bytes_per_record']:.0f} B/record, recall@1 {best['recall_at_1']:.3f}")


if __name__ == "__main__":
    main()

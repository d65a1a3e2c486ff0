"""Dedup benchmark: precision, recall, speed and memory of agents/dedup on a planted corpus.

    .venv/bin/python benchmarks/bench_dedup.py            # 5k, 50k and 1M records (about 15 min)
    .venv/bin/python benchmarks/bench_dedup.py --sizes 5000,50000

One run, one core, same corpus (benchmarks/dedup_corpus.py, seed 7) for every contender:

1. at the smallest size, rapidfuzz brute force (``process.cdist`` of every record against every
   earlier one, same scorers and thresholds): the recall LSH candidate generation can reach;
2. at 50k, the MinHash implementations inside the same index (own numpy, rensa, datasketch:
   same LSH shape, so the same recall is expected) and datasketch's own MinHashLSH;
3. at every size, synthstream's index: precision, recall, records/s, index bytes per record
   (resident memory growth while building) and p99 latency of one ``check``.

The last line is ``dedup: recall R precision P rate N rec/s bytes B/record p99 L ms`` for the
largest size. Goals: R >= 0.99, P >= 0.995, >= 1,500 rec/s, <= 8 KB/record, p99 < 5 ms.

``--heavy SHARE`` adds heavy-edit copies (1-15 % of the words replaced, inserted or deleted,
half of them with typos in those words; see dedup_corpus.py) as that share of the stream, and
then reports synthstream's recall per edit-rate bucket (0-3, 3-6, 6-9, 9-12, 12-15 %), on the
ordinary copies, and where the false positives come from. Without it the corpus and the
output are those of earlier runs. ``--ratio``, ``--token-sort``, ``--words``, ``--short-words``,
``--grey``, ``--bucket-limit`` and ``--max-candidates`` override the index's parameters for this run (the
defaults in agents/dedup stay as they are); ``--grey 0 --lsh 7,16,4 --bucket-limit 0`` is the
index of before issue 14 part 5:

    .venv/bin/python benchmarks/bench_dedup.py --sizes 200000 --skip-contenders --heavy 0.15 --grey 0 --lsh 7,16,4 --bucket-limit 0

``--corpus heldout`` runs the same on the held-out natural-English corpus instead
(benchmarks/dedup_heldout.py: docstring and /usr/share/doc paragraphs with heavy-edit copies
and hard negatives; about 8,600 paragraphs for originals, so at most about 15,000 records).
It is never used to tune anything:

    .venv/bin/python benchmarks/bench_dedup.py --corpus heldout --sizes 15000 --skip-contenders

``--corpus third`` runs it on a third corpus, for tuning (benchmarks/dedup_thirdcorpus.py: man
page paragraphs of 80-450 characters, two fifths of them under 25 words, the held-out corpus's
copies and negatives plus ``key`` look-alikes of short texts; about 14,600 originals, so at
most about 26,000 records). ``--short-words`` sets the grey band's word threshold for texts
under 25 words (100: the index of before it existed):

    .venv/bin/python benchmarks/bench_dedup.py --corpus third --sizes 25000 --skip-contenders --short-words 100
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dedup_corpus import Corpus, Planted  # noqa: E402
from dedup_heldout import HeldoutCorpus  # noqa: E402
from dedup_thirdcorpus import ThirdCorpus  # noqa: E402

from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate  # noqa: E402
from synthstream.agents.dedup.minhash import LshParams, MinHasher, NumpyMinHasher  # noqa: E402
from synthstream.agents.dedup.normalize import normalize  # noqa: E402


@dataclass
class Score:
    name: str
    n: int
    recall: float
    precision: float
    rate: float
    p99_ms: float
    bytes_per_record: float | None = None
    dropped: np.ndarray | None = field(default=None, repr=False)  # for the heavy-edit breakdown

    def line(self) -> str:
        mem = f"  {self.bytes_per_record:7.0f} B/rec" if self.bytes_per_record is not None else ""
        return (f"{self.name:<34} n={self.n:>8}  recall {self.recall:.4f}  precision {self.precision:.4f}  "
                f"{self.rate:8.0f} rec/s  p99 {self.p99_ms:6.2f} ms{mem}")


def truth(groups: list[int]) -> np.ndarray:
    seen: set[int] = set()
    dup = np.zeros(len(groups), dtype=bool)
    for i, g in enumerate(groups):
        dup[i] = g in seen
        seen.add(g)
    return dup


def score(name: str, dropped: np.ndarray, is_dup: np.ndarray, seconds: float, lat: np.ndarray,
          bytes_per_record: float | None = None) -> Score:
    tp = int((dropped & is_dup).sum())
    return Score(name, len(is_dup), tp / max(1, int(is_dup.sum())), tp / max(1, int(dropped.sum())),
                 len(is_dup) / seconds, float(np.percentile(lat, 99) * 1000), bytes_per_record, dropped)


BUCKETS = ("0-3 %", "3-6 %", "6-9 %", "9-12 %", "12-15 %")


def bucket(p: Planted) -> int:
    """The edit-rate bucket of a heavy-edit copy, exactly (integer arithmetic; 15 % is the top)."""
    return min(len(BUCKETS) - 1, 100 * p.edits // (3 * p.words))


def heavy_report(dropped: np.ndarray, is_dup: np.ndarray, planted: list[Planted], compact: bool = False) -> str:
    """Recall per edit-rate bucket of the heavy-edit copies (and on the ordinary copies), and
    what the false positives were."""
    planted = planted[:len(dropped)]
    # only records the truth counts as duplicates (a copy of a copy's group is always one)
    heavy = [i for i, p in enumerate(planted) if p.kind == "heavy" and is_dup[i]]
    per = [[i for i in heavy if bucket(planted[i]) == b] for b in range(len(BUCKETS))]
    rec = [float(dropped[ix].mean()) if ix else float("nan") for ix in per]
    if compact:
        return "  heavy " + " ".join(f"{label.replace(' ', '')} {r:.4f}" for label, r in zip(BUCKETS, rec))
    copies = [i for i, p in enumerate(planted) if p.kind == "copy" and is_dup[i]]
    typo = [i for i in heavy if planted[i].typos]
    plain = [i for i in heavy if not planted[i].typos]
    false = dropped & ~is_dup
    negatives = [i for i, p in enumerate(planted) if p.kind not in ("original", "copy", "heavy")]
    kinds = sorted({planted[i].kind for i in negatives})
    by_kind = ", ".join(f"{k} {int(false[[i for i in negatives if planted[i].kind == k]].sum()):,} of "
                        f"{sum(planted[i].kind == k for i in negatives):,}" for k in kinds)
    lines = ["  heavy-edit recall by edit rate: " + "  ".join(
                 f"{label} {r:.4f} ({len(ix):,})" for label, r, ix in zip(BUCKETS, rec, per)),
             f"  heavy-edit recall {float(dropped[heavy].mean()) if heavy else float('nan'):.4f} ({len(heavy):,}; "
             f"with typos {float(dropped[typo].mean()) if typo else float('nan'):.4f}, "
             f"without {float(dropped[plain].mean()) if plain else float('nan'):.4f}); "
             f"ordinary copies {float(dropped[copies].mean()) if copies else float('nan'):.4f} ({len(copies):,}); "
             f"min bucket {np.nanmin(rec) if heavy else float('nan'):.4f}",
             f"  false positives {int(false.sum()):,}: hard negatives {int(false[negatives].sum()):,} "
             f"of {len(negatives):,} ({by_kind}), others {int(false.sum()) - int(false[negatives].sum()):,}"]
    return "\n".join(lines)


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_index(name: str, texts: list[str], is_dup: np.ndarray, params: DedupParams,
              hasher: object | None = None, progress: bool = True) -> Score:
    gc.collect()
    before = rss()
    index = DedupIndex(params)
    if hasher is not None:
        index.hasher = hasher  # same index, another MinHash implementation
    dropped = np.zeros(len(texts), dtype=bool)
    lat = np.zeros(len(texts))
    clock = time.perf_counter
    start = clock()
    for i, text in enumerate(texts):
        t0 = clock()
        decision, _ = index.check(str(i), text)
        lat[i] = clock() - t0
        dropped[i] = isinstance(decision, Duplicate)
        if progress and i and i % 100_000 == 0:
            print(f"  {name}: {i:,} records, {i / (clock() - start):.0f} rec/s", file=sys.stderr, flush=True)
    seconds = clock() - start
    grown = rss() - before
    return score(name, dropped, is_dup, seconds, lat, grown / max(1, len(index)))


class DatasketchHasher(MinHasher):
    """datasketch's MinHash (``update_batch``) over the same shingles."""

    def __init__(self, params: LshParams) -> None:
        super().__init__(params)
        from datasketch import MinHash
        self._cls = MinHash

    def signature(self, norm: str) -> np.ndarray:
        n = self.params.ngram
        grams = [norm[i:i + n].encode() for i in range(max(1, len(norm) - n + 1))]
        m = self._cls(num_perm=self.params.num_perm, seed=self.params.seed)
        m.update_batch(grams)
        return m.hashvalues.astype(np.uint32)


def run_datasketch_lsh(texts: list[str], is_dup: np.ndarray, threshold: float, num_perm: int, ngram: int) -> Score:
    """datasketch's own pipeline: MinHash + MinHashLSH, a candidate means a duplicate."""
    from datasketch import MinHash, MinHashLSH
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dropped = np.zeros(len(texts), dtype=bool)
    lat = np.zeros(len(texts))
    start = time.perf_counter()
    for i, text in enumerate(texts):
        t0 = time.perf_counter()
        norm = normalize(text)
        m = MinHash(num_perm=num_perm)
        m.update_batch([norm[j:j + ngram].encode() for j in range(max(1, len(norm) - ngram + 1))])
        if lsh.query(m):
            dropped[i] = True
        else:
            lsh.insert(str(i), m)
        lat[i] = time.perf_counter() - t0
    return score(f"datasketch MinHashLSH t={threshold}", dropped, is_dup, time.perf_counter() - start, lat)


def traced_bytes_per_record(texts: list[str], params: DedupParams) -> float:
    """Exact bytes the index allocates per kept record (tracemalloc; slower, so not timed)."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    index = DedupIndex(params)
    for i, text in enumerate(texts):
        index.check(str(i), text)
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / max(1, len(index))


def run_brute_force(texts: list[str], is_dup: np.ndarray, params: DedupParams) -> Score:
    """Every record against every earlier kept one with the same scorers (rapidfuzz cdist)."""
    from rapidfuzz import fuzz, process
    norms = [normalize(t) for t in texts]
    start = time.perf_counter()
    ratio = process.cdist(norms, norms, scorer=fuzz.ratio, score_cutoff=params.ratio, dtype=np.uint8, workers=1)
    token = process.cdist(norms, norms, scorer=fuzz.token_sort_ratio, score_cutoff=params.token_sort,
                          dtype=np.uint8, workers=1)
    match = (ratio > 0) | (token > 0)
    dropped = np.zeros(len(texts), dtype=bool)
    kept: list[int] = []
    for i in range(len(texts)):
        if kept and match[i, kept].any():
            dropped[i] = True
        else:
            kept.append(i)
    seconds = time.perf_counter() - start
    return score("rapidfuzz brute force (cdist)", dropped, is_dup, seconds, np.full(len(texts), seconds / len(texts)))


SHAPES = [(7, 14, 8), (7, 20, 13), (7, 9, 13), (7, 32, 4), (7, 16, 4), (7, 8, 4), (7, 16, 2), (3, 16, 4),
          (5, 16, 4), (9, 16, 4)]


def tune(texts: list[str], is_dup: np.ndarray, base: DedupParams, planted: list[Planted] | None = None) -> None:
    """Recall and speed of LSH shapes; the first two are presets made for web pages."""
    for ngram, bands, rows in SHAPES:
        lsh = LshParams(ngram=ngram, bands=bands, rows=rows)
        params = replace(base, lsh=lsh)
        result = run_index(f"ngram {ngram}, {bands:>2} x {rows:>2}", texts, is_dup, params, progress=False)
        result.bytes_per_record = None  # resident growth after earlier builds is not sound
        extra = heavy_report(result.dropped, is_dup, planted, compact=True) if planted else ""
        print(result.line() + extra, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="5000,50000,1000000", help="comma-separated corpus sizes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-contenders", action="store_true", help="only synthstream's index")
    parser.add_argument("--tune", action="store_true",
                        help="instead: recall and speed of several LSH shapes (ngram x bands x rows) at the first size")
    parser.add_argument("--lsh", help="ngram,bands,rows instead of the defaults (e.g. 7,16,4)")
    parser.add_argument("--ratio", type=float, help="fuzz.ratio threshold instead of the default")
    parser.add_argument("--token-sort", type=float, help="fuzz.token_sort_ratio threshold instead of the default")
    parser.add_argument("--words", type=float, help="word-similarity threshold of the grey band instead of the default")
    parser.add_argument("--short-words", type=float,
                        help="word-similarity threshold of the grey band for texts under min_words words (100: off)")
    parser.add_argument("--grey", type=float, help="width of the grey band under --ratio instead of the default (0: off)")
    parser.add_argument("--bucket-limit", type=int, help="skip band keys shared by more kept records (0: none)")
    parser.add_argument("--corpus", choices=("template", "heldout", "third"), default="template",
                        help="template: dedup_corpus.py (tuning); heldout: dedup_heldout.py (natural English, check "
                             "only); third: dedup_thirdcorpus.py (man pages, short texts and look-alikes, tuning)")
    parser.add_argument("--max-candidates", type=int, help="candidates confirmed per record instead of the default")
    parser.add_argument("--heavy", type=float, default=0.0, metavar="SHARE",
                        help="share of heavy-edit copies in the corpus (default 0: the corpus of earlier runs); "
                             "adds recall per edit-rate bucket")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    overrides: dict[str, object] = {}
    if args.lsh:
        ngram, bands, rows = (int(v) for v in args.lsh.split(","))
        overrides["lsh"] = LshParams(ngram=ngram, bands=bands, rows=rows)
    for name in ("ratio", "token_sort", "words", "short_words", "grey", "bucket_limit", "max_candidates"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    params = DedupParams(**overrides)  # type: ignore[arg-type]
    lsh = params.lsh
    print(f"params: ngram {lsh.ngram}, {lsh.bands} bands x {lsh.rows} rows, ratio >= {params.ratio}, "
          f"token_sort >= {params.token_sort}, grey band {params.ratio - params.grey}-{params.ratio} with words >= "
          f"{params.words} ({params.short_words} under {params.min_words} words){' (off)' if not params.grey else ''}, "
          f"bucket limit {params.bucket_limit}, "
          f"max_candidates {params.max_candidates}; "
          f"P(candidate | J=0.5/0.7/0.9) = {lsh.candidate_probability(0.5):.3f}/"
          f"{lsh.candidate_probability(0.7):.3f}/{lsh.candidate_probability(0.9):.3f}")
    t0 = time.perf_counter()
    if args.corpus == "heldout":
        labelled = list(HeldoutCorpus(seed=args.seed).labelled(sizes[-1]))
    elif args.corpus == "third":
        labelled = list(ThirdCorpus(seed=args.seed).labelled(sizes[-1]))
    else:
        labelled = list(Corpus(seed=args.seed, heavy_share=args.heavy).labelled(sizes[-1]))
    corpus = [(t, g) for t, g, _ in labelled]
    planted = [p for _, _, p in labelled] if args.heavy or args.corpus != "template" else None
    del labelled
    print(f"corpus: {len(corpus):,} records in {time.perf_counter() - t0:.1f} s, "
          f"mean {np.mean([len(t) for t, _ in corpus[:100_000]]):.0f} chars", flush=True)
    if planted:
        print(f"heavy-edit copies: {sum(p.kind == 'heavy' for p in planted):,} of "
              f"{len(planted):,} records", flush=True)
    if args.tune:
        tune([t for t, _ in corpus[:sizes[0]]], truth([g for _, g in corpus[:sizes[0]]]), params, planted)
        return
    results: list[Score] = []
    # memory first, while nothing has been freed yet: resident growth at the largest size is
    # then not hidden by reused pages (it includes the allocator's overhead: an upper bound)
    largest = run_index("synthstream (rensa MinHash)", [t for t, _ in corpus], truth([g for _, g in corpus]), params)
    traced = traced_bytes_per_record([t for t, _ in corpus[:50_000]], params)
    print(f"index memory: {traced:.0f} B/record allocated (tracemalloc, first 50,000 records); "
          f"{largest.bytes_per_record:.0f} B/record resident growth at {sizes[-1]:,}", flush=True)
    for n in sizes:
        texts = [t for t, _ in corpus[:n]]
        is_dup = truth([g for _, g in corpus[:n]])
        print(f"-- {n:,} records, {int(is_dup.sum()):,} planted duplicates", flush=True)
        if not args.skip_contenders and n <= 5_000:
            print(run_brute_force(texts, is_dup, params).line(), flush=True)
        if not args.skip_contenders and n == 50_000 or (n == sizes[0] and n < 50_000 and not args.skip_contenders
                                                        and 50_000 not in sizes):
            contenders = (("rensa RMinHash (chosen)", MinHasher(lsh)), ("own numpy MinHash", NumpyMinHasher(lsh)),
                          ("datasketch MinHash", DatasketchHasher(lsh)))
            norms = [normalize(t) for t in texts[:10_000]]
            for name, hasher in contenders:
                t0 = time.perf_counter()
                for norm in norms:
                    hasher.signature(norm)
                print(f"signature only, {name}: {(time.perf_counter() - t0) / len(norms) * 1e6:.1f} us/record",
                      flush=True)
            for name, hasher in contenders[1:]:
                result = run_index(f"index + {name}", texts, is_dup, params, hasher, progress=False)
                result.bytes_per_record = None  # resident growth after earlier builds is not sound
                print(result.line(), flush=True)
            print(run_datasketch_lsh(texts, is_dup, 0.5, 128, lsh.ngram).line(), flush=True)
        ours = largest if n == sizes[-1] else run_index("synthstream (rensa MinHash)", texts, is_dup, params)
        ours.bytes_per_record = None if n != sizes[-1] else ours.bytes_per_record  # only the first build's is sound
        print(ours.line(), flush=True)
        if planted:
            print(heavy_report(ours.dropped, is_dup, planted), flush=True)
        results.append(ours)
    last = results[-1]
    print(f"dedup: recall {last.recall:.4f} precision {last.precision:.4f} rate {last.rate:.0f} rec/s "
          f"bytes {last.bytes_per_record:.0f}/record p99 {last.p99_ms:.2f} ms")


if __name__ == "__main__":
    main()

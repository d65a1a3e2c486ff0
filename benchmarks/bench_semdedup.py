"""The semantic dedup tier on labelled pairs: paraphrases it should drop, hard negatives it must keep.

    .venv/bin/python benchmarks/bench_semdedup.py                  # the tuning pairs
    .venv/bin/python benchmarks/bench_semdedup.py --set holdout    # pairs never tuned on
    .venv/bin/python benchmarks/bench_semdedup.py --threshold 0.9

benchmarks/data/semdedup_pairs.jsonl and semdedup_holdout.jsonl hold hand-written pairs of the
texts dedup compares (a math problem; a question and its answer; a four-turn dialogue), each
a *paraphrase* (the same substance in other words: one training example twice) or a *hard
negative* (the same template or topic, other substance: two examples), with the kind of
rewording or difference. Every pair goes through the pipeline's own index (DedupIndex with the
real all-MiniLM-L6-v2 embeddings of the normalised texts, one scope): the first text is kept,
and the second is either kept or dropped by a tier (exact, near, semantic).

Printed: the cosine distributions, a threshold sweep (paraphrases dropped = recall; of the
pairs dropped, the share that were paraphrases = precision; hard negatives kept), per family
and per kind at the threshold used, and what the exact and near tiers catch without the
semantic one. Every pair is compared within one scope: the worst case (in the stage, math's
scope holds the equation and the answer, so a problem with other numbers is never compared;
that line is printed too). The last line is ``semdedup: threshold T recall R precision P negatives_kept K
(without the semantic tier: recall R0)``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from synthstream.agents.dedup.core import DedupIndex, DedupParams, Duplicate
from synthstream.agents.dedup.normalize import normalize
from synthstream.agents.dedup.semantic import SemanticParams
from synthstream.streams.app.worker import make_embeddings
from synthstream.streams.runtime.settings import Settings

DATA = Path(__file__).resolve().parent / "data"
SETS = {"tune": DATA / "semdedup_pairs.jsonl", "holdout": DATA / "semdedup_holdout.jsonl"}


def load(path: Path) -> list[dict]:
    pairs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for p in pairs:
        if p["kind"] not in ("paraphrase", "hard_negative"):
            raise SystemExit(f"{path}: pair {p['id']} has kind {p['kind']!r}")
    return pairs


def tier_of(pair: dict, vectors: tuple[np.ndarray, np.ndarray] | None, threshold: float) -> str:
    """What the pipeline's index does with the second text after keeping the first."""
    index = DedupIndex(DedupParams(semantic=SemanticParams(threshold=threshold)))
    va, vb = vectors if vectors is not None else (None, None)
    index.check("a", pair["a"], "scope", vector=va)
    decision, _ = index.check("b", pair["b"], "scope", vector=vb)
    return decision.kind if isinstance(decision, Duplicate) else "kept"


def rates(pairs: list[dict], dropped: list[bool]) -> tuple[float, float, float, int, int]:
    para = [d for p, d in zip(pairs, dropped) if p["kind"] == "paraphrase"]
    neg = [d for p, d in zip(pairs, dropped) if p["kind"] == "hard_negative"]
    tp, fp = sum(para), sum(neg)
    recall = tp / len(para) if para else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    kept = 1 - fp / len(neg) if neg else float("nan")
    return recall, precision, kept, len(para), len(neg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=sorted(SETS), default="tune")
    ap.add_argument("--threshold", type=float, default=None, help="default: the pipeline's")
    args = ap.parse_args()
    settings = Settings.from_env()
    threshold = args.threshold or settings.worker.dedup_semantic_threshold
    pairs = load(SETS[args.set])
    service = make_embeddings(settings.verify)
    if not service.available:
        raise SystemExit(f"no embedding model: {service.why}")
    va = service.embed([normalize(p["a"]) for p in pairs])
    vb = service.embed([normalize(p["b"]) for p in pairs])
    cos = np.einsum("nd,nd->n", va, vb)
    print(f"{len(pairs)} pairs from {SETS[args.set].name}")
    for family in sorted({p["family"] for p in pairs}):  # what the tier costs per record, one at a time and batched
        texts = [normalize(p[side]) + " " for p in pairs if p["family"] == family for side in "ab"]  # not cached
        started = time.perf_counter()
        for t in texts[:40]:
            service.embedder.embed([t])
        one = (time.perf_counter() - started) / min(40, len(texts))
        started = time.perf_counter()
        service.embed(texts)  # as the replay and --semantic do: sorted by length, batches of 32
        batched = (time.perf_counter() - started) / len(texts)
        print(f"  embedding a {family} text: {one * 1000:.1f} ms alone, {batched * 1000:.1f} ms batched "
              f"({len(texts)} texts, {np.mean([len(t) for t in texts]):.0f} characters on average)")
    for kind in ("paraphrase", "hard_negative"):
        c = np.array([x for x, p in zip(cos, pairs) if p["kind"] == kind])
        print(f"  cosine of {kind:13} pairs: min {c.min():.3f}  p10 {np.percentile(c, 10):.3f}  "
              f"median {np.median(c):.3f}  p90 {np.percentile(c, 90):.3f}  max {c.max():.3f}")

    print("\nthreshold sweep (the semantic tier alone)")
    print(f"  {'cosine':>6} {'recall':>7} {'precision':>9} {'negatives kept':>14}")
    for t in np.arange(0.80, 0.991, 0.01):
        r, p, k, _, _ = rates(pairs, [bool(x >= t) for x in cos])
        print(f"  {t:6.2f} {r:7.3f} {p:9.3f} {k:14.3f}")

    without = [tier_of(p, None, threshold) for p in pairs]
    tiers = [tier_of(p, (va[i], vb[i]), threshold) for i, p in enumerate(pairs)]
    print(f"\nthrough the dedup index at cosine {threshold:.2f} (exact, near, then semantic)")
    print(f"  {'family':9} {'kind':14} {'failure':26} {'n':>3} {'dropped':>7}  by tier")
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for p, t in zip(pairs, tiers):
        groups[(p["family"], p["kind"], p.get("failure", ""))].append(t)
    for (family, kind, failure), ts in sorted(groups.items()):
        by = ", ".join(f"{k} {v}" for k, v in sorted({x: ts.count(x) for x in set(ts) - {"kept"}}.items()))
        print(f"  {family:9} {kind:14} {failure:26} {len(ts):3} {sum(t != 'kept' for t in ts):7}  {by}")
    for family in sorted({p["family"] for p in pairs}):
        sub = [(p, t) for p, t in zip(pairs, tiers) if p["family"] == family]
        r, pr, k, npara, nneg = rates([p for p, _ in sub], [t != "kept" for _, t in sub])
        print(f"  {family:9} paraphrases dropped {r:.3f} (of {npara}), precision {pr:.3f}, "
              f"hard negatives kept {k:.3f} (of {nneg})")
    scoped = [(p, t) for p, t in zip(pairs, tiers) if p["family"] == "math" and p.get("failure") != "other_numbers"]
    r1, p1, k1, _, nneg = rates([p for p, _ in scoped], [t != "kept" for _, t in scoped])
    print(f"  math in its stage scope (equation, answer: other_numbers pairs never meet): paraphrases dropped "
          f"{r1:.3f}, precision {p1:.3f}, hard negatives kept {k1:.3f} (of {nneg})")
    r0, p0, k0, _, _ = rates(pairs, [t != "kept" for t in without])
    r, p, k, _, _ = rates(pairs, [t != "kept" for t in tiers])
    print(f"  all       without the semantic tier: recall {r0:.3f}, negatives kept {k0:.3f}")
    missed = [(float(c), pr["id"], pr.get("failure")) for c, pr, t in zip(cos, pairs, tiers)
              if pr["kind"] == "paraphrase" and t == "kept"]
    wrong = [(float(c), pr["id"], pr.get("failure")) for c, pr, t in zip(cos, pairs, tiers)
             if pr["kind"] == "hard_negative" and t != "kept"]
    print(f"  hard negatives dropped: {', '.join(f'{i} ({f}, {c:.3f})' for c, i, f in sorted(wrong, reverse=True))}")
    print(f"  paraphrases kept (closest first): "
          f"{', '.join(f'{i} ({f}, {c:.3f})' for c, i, f in sorted(missed, reverse=True)[:12])}")
    print(f"semdedup: threshold {threshold:.2f} recall {r:.3f} precision {p:.3f} negatives_kept {k:.3f} "
          f"(without the semantic tier: recall {r0:.3f})")


if __name__ == "__main__":
    main()

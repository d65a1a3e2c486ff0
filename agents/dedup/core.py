"""Exact, near and semantic duplicates: normalise -> exact hash -> MinHash LSH -> rapidfuzz -> embeddings.

Pure and deterministic: the caller passes records in stream order and the first of a group
is kept. Each record is compared within its *scope* (a string the caller builds from the
task's exact-match fields; records of different scopes never match) on its *text*:

1. the text is normalised (NFKC, case-folded, punctuation dropped, digits kept);
2. an xxh3-128 of scope and normalised text is the record id: an equal id is an exact copy
   (or, from the same prompt, an at-least-once redelivery to republish with the same id);
3. a MinHash signature over character n-grams gives one key per LSH band; records sharing
   a key are candidates, the ones sharing most keys first (at most ``max_candidates``; a key
   shared by more than ``bucket_limit`` kept records is skipped);
4. a candidate is a near duplicate when rapidfuzz's ``fuzz.ratio`` reaches ``ratio``, or
   ``fuzz.token_sort_ratio`` reaches ``token_sort`` (reordered words and sentences); when no
   candidate does, one of the ``grey_candidates`` sharing most bands whose ``fuzz.ratio`` is
   in the grey band ``[ratio - grey, ratio)`` is one when its length-weighted word similarity
   (confirm.py) reaches ``words`` (heavily edited copies, which a hard negative with every
   name changed matches on characters but not on words), or ``short_words`` when either text
   has fewer than ``min_words`` words;
5. when the caller passes the text's embedding (tasks whose dedup is ``semantic``), a kept
   record of the scope whose embedding's cosine reaches the semantic threshold is a paraphrase
   (semantic.py); a record kept with an embedding is marked ``embedded``, so a replay knows to
   recompute it from the normalised text.

The index can forget its oldest records past ``capacity`` and can be rebuilt from its
entries (``IndexEntry``), which is what the persistent store replays after a restart.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import numpy as np
import xxhash
from rapidfuzz import fuzz

from synthstream.agents.dedup.confirm import word_similarity
from synthstream.agents.dedup.decontam import Decontaminator, Hit
from synthstream.agents.dedup.fields import Route, value
from synthstream.agents.dedup.minhash import LshParams, MinHasher
from synthstream.agents.dedup.normalize import normalize
from synthstream.agents.dedup.semantic import DIM, SemanticIndex, SemanticParams
from synthstream.streams.runtime.records import AcceptedRecord, DedupEntry, Message, Outcome, Verdict, outcome


@dataclass(frozen=True)
class DedupParams:
    """Thresholds and LSH shape; the defaults are the benchmark's tuned values for texts of
    a few hundred characters (docs/BENCHMARKS.md)."""

    ratio: float = 90.0
    token_sort: float = 90.0
    # the grey band: a candidate with ratio - grey <= fuzz.ratio < ratio is a duplicate when its
    # word similarity (confirm.py) reaches ``words``; grey 0 turns the word rule off. A call's
    # own ratio moves the band with it and scales ``words`` towards 100 (see ``word_rule``)
    words: float = 65.0
    grey: float = 10.0
    grey_candidates: int = 4  # how many candidates (most shared bands first) the word rule looks at
    # texts shorter than this (either one) need ``short_words`` instead: in 20 words, 15 % is three,
    # and a real look-alike changes as many ("boiling point" / "freezing point" of water), so only
    # a copy that kept nearly all of the weight passes (100: short texts are left to the character
    # rules)
    min_words: int = 25
    short_words: float = 80.0
    max_candidates: int = 32
    # a band key shared by more kept records than this says nothing about a pair (frames that
    # many texts share, as a stop word does) and is skipped when counting candidates; 0: none is
    bucket_limit: int = 256
    lsh: LshParams = field(default_factory=LshParams)
    capacity: int = 0  # 0 = keep everything
    semantic: SemanticParams = field(default_factory=SemanticParams)

    def __post_init__(self) -> None:
        for name in ("ratio", "token_sort", "words", "short_words"):
            if not 0 < getattr(self, name) <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {getattr(self, name)}")
        if not 0 <= self.grey < 100:
            raise ValueError(f"grey must be in [0, 100), got {self.grey}")
        if self.max_candidates < 1 or self.grey_candidates < 1 or self.min_words < 1:
            raise ValueError("max_candidates, grey_candidates and min_words must be >= 1")
        if self.capacity < 0 or self.bucket_limit < 0:
            raise ValueError("capacity and bucket_limit must be >= 0 (0 = unbounded)")

    def word_rule(self, ratio: float, short: bool = False) -> tuple[float, float] | None:
        """(lowest fuzz.ratio of the grey band, word similarity needed) for a call whose ratio
        threshold is ``ratio``, on texts of ``min_words`` words or more (``short``: fewer): the
        band keeps its width under it, and the word threshold moves from ``words`` (or
        ``short_words``; at the index's own ratio) linearly to 100 (at a ratio of 100), so a
        stricter call is stricter on words too. None: no word rule."""
        if not self.grey or self.ratio >= 100 or ratio >= 100:
            return None
        words = self.short_words if short else self.words
        return ratio - self.grey, 100.0 - (100.0 - words) * (100.0 - ratio) / (100.0 - self.ratio)


@dataclass(frozen=True)
class Unique:
    record_id: str


@dataclass(frozen=True)
class Replay:
    """The same prompt seen again (at-least-once redelivery): republish, same id."""

    record_id: str


@dataclass(frozen=True)
class Duplicate:
    record_id: str
    kind: str  # "exact", "near" or "semantic"
    of_record: str
    score: float  # rapidfuzz's 0-100, or for "semantic" the cosine

    @property
    def reason(self) -> str:
        measure = f"cosine {self.score:.3f}" if self.kind == "semantic" else f"similarity {self.score:.1f}"
        return f"duplicate_{self.kind}: of {self.of_record} ({measure})"


Decision = Unique | Replay | Duplicate


@dataclass(frozen=True)
class IndexEntry:
    """What the index keeps of one kept record; enough to rebuild it exactly."""

    record_id: str
    prompt_id: str
    scope: str
    norm: str  # normalised text
    embedded: bool = False  # its embedding is in the semantic tier (recomputed from norm on replay)


def record_id(scope: str, norm: str) -> str:
    return xxhash.xxh3_128_hexdigest(f"{scope}\x1f{norm}".encode())


def scope_hash(scope: str) -> int:
    return xxhash.xxh3_64_intdigest(scope.encode())


class DedupIndex:
    """In-memory index: ids, normalised texts, LSH buckets and embeddings of the kept records."""

    def __init__(self, params: DedupParams = DedupParams()) -> None:
        self.params = params
        self.hasher = MinHasher(params.lsh)
        self._by_id: dict[str, int] = {}  # record id -> ordinal
        # ordinal -> (entry, its band keys as uint64 bytes: kept for eviction and snapshots), oldest first
        self._entries: OrderedDict[int, tuple[IndexEntry, bytes]] = OrderedDict()
        self._buckets: dict[int, int | list[int]] = {}  # band key -> ordinal(s)
        self._next = 0
        self.semantic = SemanticIndex(params.semantic)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, record_id: str) -> bool:
        return record_id in self._by_id

    def check(self, prompt_id: str, text: str, scope: str = "", thresholds: tuple[float, float] | None = None,
              vector: np.ndarray | None = None, semantic: float | None = None) -> tuple[Decision, IndexEntry | None]:
        """Decide on one candidate. A unique one is remembered and its entry returned (the
        caller persists it); otherwise the entry is None. ``thresholds`` (ratio, token_sort)
        override the index's for this call (a data set's spec may set its own). ``vector`` is
        the unit embedding of ``normalize(text)`` for the semantic tier (None: no such tier for
        this record), ``semantic`` overrides the index's cosine threshold."""
        norm = normalize(text)
        rid = record_id(scope, norm)
        seen = self._by_id.get(rid)
        if seen is not None:
            if self._entries[seen][0].prompt_id == prompt_id:
                return Replay(rid), None
            return Duplicate(rid, "exact", rid, 100.0), None
        keys = self._keys(scope, norm)
        near = self._confirm(norm, self._candidates(keys), thresholds or (self.params.ratio, self.params.token_sort))
        if near is not None:
            return Duplicate(rid, "near", near[0], near[1]), None
        if vector is not None:
            hit = self.semantic.nearest(scope_hash(scope), vector)
            if hit is not None and hit[1] >= (semantic if semantic is not None else self.params.semantic.threshold):
                return Duplicate(rid, "semantic", self._entries[hit[0]][0].record_id, hit[1]), None
        entry = IndexEntry(rid, prompt_id, scope, norm, vector is not None)
        self._insert(entry, keys, vector)
        return Unique(rid), entry

    def add(self, entry: IndexEntry, vector: np.ndarray | None = None) -> None:
        """Remember a kept record without deciding (rebuilding from the store); ``vector``: its
        embedding when the entry is ``embedded`` (without one it is only in the other tiers)."""
        if entry.record_id in self._by_id:
            return
        self._insert(entry, self._keys(entry.scope, entry.norm), vector if entry.embedded else None)

    def entries(self) -> list[IndexEntry]:
        """Kept records, oldest first."""
        return [entry for entry, _ in self._entries.values()]

    @property
    def added(self) -> int:
        """Records ever added (a change counter for snapshots)."""
        return self._next

    def export(self) -> tuple[list[IndexEntry], np.ndarray, np.ndarray, np.ndarray]:
        """The kept records, oldest first, with their band keys (n x bands, uint64), the rows
        of those that have an embedding (int64) and those embeddings (float16, rows x 384)."""
        ordinals = list(self._entries)
        values = list(self._entries.values())
        keys = np.frombuffer(b"".join(k for _, k in values), dtype=np.uint64).reshape(len(values), self.params.lsh.bands)
        rows = np.asarray([i for i, o in enumerate(ordinals) if o in self.semantic], dtype=np.int64)
        vectors = self.semantic.vectors([ordinals[i] for i in rows.tolist()]).reshape(-1, DIM)
        return [e for e, _ in values], keys, rows, vectors

    def restore(self, entries: list[IndexEntry], keys: np.ndarray, rows: np.ndarray | None = None,
                vectors: np.ndarray | None = None) -> None:
        """Add exported records back with their keys and embeddings (nothing to compute)."""
        if keys.shape != (len(entries), self.params.lsh.bands):
            raise ValueError(f"keys of shape {keys.shape} do not fit {len(entries)} entries x {self.params.lsh.bands} bands")
        rows = np.zeros(0, dtype=np.int64) if rows is None else rows
        if len(rows) and (vectors is None or vectors.shape != (len(rows), DIM)):
            raise ValueError(f"{len(rows)} embedded rows need a {len(rows)} x {DIM} array of vectors")
        vector_of = dict(zip(rows.tolist(), vectors)) if len(rows) else {}
        embedded = []
        for i, (entry, row) in enumerate(zip(entries, keys.tolist())):
            if entry.record_id not in self._by_id:
                self._insert(entry, row)
                if i in vector_of:
                    embedded.append((scope_hash(entry.scope), self._next - 1, vector_of[i]))
        # the embeddings in one bulk insert per scope (what capacity evicted meanwhile stays out)
        self.semantic.extend([item for item in embedded if item[1] in self._entries])

    def _keys(self, scope: str, norm: str) -> list[int]:
        return self.hasher.band_keys(self.hasher.signature(norm), scope_hash(scope))

    def _candidates(self, keys: list[int]) -> list[int]:
        hits: Counter[int] = Counter()
        limit = self.params.bucket_limit or len(self._entries)
        for key in keys:
            slot = self._buckets.get(key)
            if slot is None:
                continue
            if isinstance(slot, int):
                hits[slot] += 1
            elif len(slot) <= limit:
                hits.update(slot)
        # most shared bands first (ties: in the order first hit), at most max_candidates; a stable
        # sort when all fit (most_common's heap costs more than the few candidates a record has)
        if len(hits) <= self.params.max_candidates:
            return sorted(hits, key=hits.__getitem__, reverse=True)
        return [ordinal for ordinal, _ in hits.most_common(self.params.max_candidates)]

    def _confirm(self, norm: str, candidates: list[int], thresholds: tuple[float, float]) -> tuple[str, float] | None:
        ratio, token_sort = thresholds
        best: tuple[str, float] | None = None
        for ordinal in candidates:
            other = self._entries[ordinal][0]
            score = fuzz.ratio(norm, other.norm, score_cutoff=ratio)
            if not score:
                score = fuzz.token_sort_ratio(norm, other.norm, score_cutoff=token_sort)
            if score and (best is None or score > best[1]):
                best = (other.record_id, score)
        rule = self.params.word_rule(ratio)
        if best is not None or rule is None:
            return best
        # none is close on characters: the candidates sharing most bands, if in the grey band,
        # on weighted words (more of them when either text is short)
        short = self.params.word_rule(ratio, short=True)
        least = self.params.min_words - 1  # spaces in a normalised text of min_words words
        spaces = norm.count(" ")
        for ordinal in candidates[:self.params.grey_candidates]:
            other = self._entries[ordinal][0]
            floor, words = rule if spaces >= least and other.norm.count(" ") >= least else short  # type: ignore[misc]
            if fuzz.ratio(norm, other.norm, score_cutoff=floor):
                score = word_similarity(norm, other.norm)
                if score >= words and (best is None or score > best[1]):
                    best = (other.record_id, score)
        return best

    def _insert(self, entry: IndexEntry, keys: list[int], vector: np.ndarray | None = None) -> None:
        ordinal = self._next
        self._next += 1
        self._by_id[entry.record_id] = ordinal
        self._entries[ordinal] = (entry, np.asarray(keys, dtype=np.uint64).tobytes())
        if vector is not None:
            self.semantic.add(scope_hash(entry.scope), ordinal, vector)
        buckets = self._buckets
        for key in keys:
            slot = buckets.get(key)
            if slot is None:
                buckets[key] = ordinal
            elif isinstance(slot, int):
                buckets[key] = [slot, ordinal]
            else:
                slot.append(ordinal)
        if self.params.capacity and len(self._entries) > self.params.capacity:
            self._evict()

    def _evict(self) -> None:
        ordinal, (entry, blob) = self._entries.popitem(last=False)
        del self._by_id[entry.record_id]
        self.semantic.remove(ordinal)
        for key in np.frombuffer(blob, dtype=np.uint64).tolist():
            slot = self._buckets[key]
            if isinstance(slot, int):
                del self._buckets[key]
            else:
                slot.remove(ordinal)
                if len(slot) == 1:
                    self._buckets[key] = slot[0]


# ---- the stage's core: an accepted verdict against its partition's index ------------------------

STAGE = "dedup"


@dataclass(frozen=True)
class Admitted:
    decision: Decision
    record: AcceptedRecord | None  # for accepted-records (None: a duplicate)
    entry: DedupEntry | None  # for the dedup-index changelog (a record kept for the first time)
    # DUPLICATE; None when kept (or kept before: a redelivery), since the accepted record is the
    # prompt's ACCEPTED outcome and no outcome message is sent for it
    outcome: Outcome | None = None

    @property
    def kind(self) -> str:
        """For the records counter: accepted, replayed (a redelivery, same id) or duplicate_<kind>."""
        d = self.decision
        return f"duplicate_{d.kind}" if isinstance(d, Duplicate) else "accepted" if isinstance(d, Unique) else "replayed"


def accepted_record(verdict: Verdict, record_id: str, accepted_at: int) -> AcceptedRecord:
    gen = verdict["generation"]
    return AcceptedRecord(
        record_id=record_id, prompt_id=gen["prompt_id"], task=gen["task"],
        messages=gen.get("messages") or [Message(role="user", content=gen["problem"]),
                                         Message(role="assistant", content=gen["response"])],
        answer=gen["answer"], quality_score=verdict["quality_score"], dimensions=gen["dimensions"],
        lineage=dict(gen["lineage"], accepted_at=accepted_at),  # type: ignore[typeddict-item]
        code=gen.get("code"), grounding=gen.get("grounding"), usage=gen.get("usage"),
        validators=verdict.get("validators") or [])


def dedup_entry(entry: IndexEntry, task: str, added_at: int) -> DedupEntry:
    return DedupEntry(record_id=entry.record_id, prompt_id=entry.prompt_id, scope=entry.scope, text=entry.norm,
                      task=task, added_at=added_at, embedded=entry.embedded)


def contaminated(verdict: Verdict, checker: Decontaminator | None, fields: tuple[str, ...],
                 now_ms: int) -> tuple[Hit, Outcome] | None:
    """The benchmark item an accepted verdict's ``fields`` copy, with its CONTAMINATED outcome; None
    when they copy none (or nothing is checked)."""
    if checker is None or not fields:
        return None
    gen = verdict["generation"]
    hit = checker.check("\n".join(value(gen, path) for path in fields))
    if hit is None:
        return None
    return hit, outcome(gen["prompt_id"], "CONTAMINATED", STAGE, now_ms, reason=hit.reason, task=gen["task"])


def admit(verdict: Verdict, index: DedupIndex, route: Route, thresholds: tuple[float, float] | None,
          now_ms: int, vector: np.ndarray | None = None, semantic: float | None = None) -> Admitted:
    """Decide on an accepted verdict: a new record (with its changelog entry), a redelivery of one
    already kept (the same id again), or a duplicate of another. ``vector``: the embedding of
    the route's normalised text, for tasks deduplicated semantically."""
    gen = verdict["generation"]
    pid, task = gen["prompt_id"], gen["task"]
    decision, entry = index.check(pid, route.text, route.scope, thresholds, vector, semantic)
    changelog = dedup_entry(entry, task, now_ms) if entry is not None else None
    if isinstance(decision, Duplicate):
        return Admitted(decision, None, changelog,
                        outcome(pid, "DUPLICATE", STAGE, now_ms, reason=decision.reason, record_id=decision.of_record,
                                task=task))
    return Admitted(decision, accepted_record(verdict, decision.record_id, now_ms), changelog)

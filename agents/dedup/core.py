"""Exact and near-duplicate detection over a bounded window of recent accepted records.

Pure and deterministic: the caller passes records in stream order. Exact duplicates are
found by content id; near duplicates by rapidfuzz against earlier records that share the
same answer (a different answer is a different problem, however similar the wording).
The index is in memory and bounded (FIFO eviction); a persistent index comes later.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from agents.dedup.normalize import content_id, normalize


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
    kind: str  # "exact" or "near"
    of_record: str
    score: float

    @property
    def reason(self) -> str:
        return f"duplicate_{self.kind}: of {self.of_record} (similarity {self.score:.1f})"


Decision = Unique | Replay | Duplicate


@dataclass
class _Entry:
    prompt_id: str
    key: str
    text: str


class DedupIndex:
    """Bounded index: content id -> entry, plus normalised texts bucketed by answer."""

    def __init__(self, capacity: int = 100_000, similarity: float = 92.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.similarity = similarity
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._buckets: dict[str, dict[str, str]] = {}  # key -> record_id -> normalised text

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, prompt_id: str, text: str, key: str) -> Decision:
        """Decide on one candidate and, if it is unique, remember it."""
        record_id = content_id(text, key)
        seen = self._entries.get(record_id)
        if seen is not None:
            if seen.prompt_id == prompt_id:
                return Replay(record_id)
            return Duplicate(record_id, "exact", record_id, 100.0)
        norm = normalize(text)
        bucket = self._buckets.get(key)
        if bucket:
            best = process.extractOne(norm, bucket, scorer=fuzz.ratio, score_cutoff=self.similarity)
            if best is None:
                best = process.extractOne(norm, bucket, scorer=fuzz.token_sort_ratio, score_cutoff=self.similarity)
            if best is not None:
                return Duplicate(record_id, "near", best[2], best[1])
        self._add(record_id, prompt_id, key, norm)
        return Unique(record_id)

    def _add(self, record_id: str, prompt_id: str, key: str, norm: str) -> None:
        self._entries[record_id] = _Entry(prompt_id, key, norm)
        self._buckets.setdefault(key, {})[record_id] = norm
        while len(self._entries) > self.capacity:
            old_id, old = self._entries.popitem(last=False)
            bucket = self._buckets[old.key]
            del bucket[old_id]
            if not bucket:
                del self._buckets[old.key]

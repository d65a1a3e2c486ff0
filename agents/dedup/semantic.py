"""The third dedup tier: paraphrases, by the cosine of sentence embeddings within a scope.

Exact hashes and MinHash + rapidfuzz catch copies that share most of their characters; two
texts that say the same thing in other words share few, and only their embeddings
(all-MiniLM-L6-v2, agents/semantic/) are close. This index holds the unit vectors of the kept
records, one group per dedup scope (records of different scopes are never compared, as in the
other tiers), and answers "which kept record of this scope is nearest, and how near".

A scope starts as an exact matrix (a dot product with every vector: exact, and faster than any
graph while it is small); at ``ann_from`` vectors a usearch HNSW graph takes the vectors over
(float16, so a snapshot reads them back from it; benchmarks/bench_ann.py chose usearch over
hnswlib and faiss-cpu by measurement). A changelog replay recomputes vectors from the entry's
normalised text. Pure apart from usearch: no model here; the caller passes vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIM = 384


@dataclass(frozen=True)
class SemanticParams:
    threshold: float = 0.84  # cosine at or above which two texts are paraphrases (docs/BENCHMARKS.md)
    ann_from: int = 2048  # vectors in a scope before an HNSW graph holds them
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 64

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"the semantic threshold is a cosine in (0, 1], got {self.threshold}")
        if self.ann_from < 1:
            raise ValueError("ann_from must be >= 1")


class _Scope:
    """The vectors of one scope: rows of a growing float16 matrix searched exactly, until the
    scope reaches ``ann_from`` records; then a usearch HNSW graph (float16, keyed by ordinal)
    holds them instead, and answers the search."""

    def __init__(self) -> None:
        self.rows: np.ndarray | None = np.empty((8, DIM), dtype=np.float16)
        self.ordinals: list[int] = []
        self.row_of: dict[int, int] = {}
        self.graph = None  # usearch.index.Index once the scope is large

    def __len__(self) -> int:
        return len(self.graph) if self.graph is not None else len(self.ordinals)

    def add(self, ordinals: list[int], vectors: np.ndarray, params: SemanticParams) -> None:
        """Add records (one as the stage goes, or a snapshot's many at once)."""
        n, k = len(self.ordinals), len(ordinals)
        if self.graph is None and n + k >= params.ann_from:  # large now: a graph takes the vectors over
            from usearch.index import Index

            self.graph = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=params.connectivity,
                               expansion_add=params.expansion_add, expansion_search=params.expansion_search)
            if n:
                assert self.rows is not None
                self._into_graph(np.asarray(self.ordinals, dtype=np.uint64), self.rows[:n])
            self.rows, self.ordinals, self.row_of = None, [], {}
        if self.graph is not None:
            self._into_graph(np.asarray(ordinals, dtype=np.uint64), vectors)
            return
        assert self.rows is not None
        if n + k > len(self.rows):  # grow by a quarter
            grown = np.empty((max(len(self.rows) + len(self.rows) // 4 + 64, n + k), DIM), dtype=np.float16)
            grown[:n] = self.rows[:n]
            self.rows = grown
        self.rows[n:n + k] = vectors
        for i, ordinal in enumerate(ordinals):
            self.row_of[ordinal] = n + i
        self.ordinals.extend(ordinals)

    def _into_graph(self, keys: np.ndarray, vectors: np.ndarray, chunk: int = 65_536) -> None:
        """One at a time on one thread as the stage goes; a restore in chunks on every core
        (float32 copies a chunk at a time, not all at once)."""
        for at in range(0, len(keys), chunk):
            part = keys[at:at + chunk]
            self.graph.add(part, np.asarray(vectors[at:at + chunk], dtype=np.float32),
                           threads=1 if len(part) == 1 else 0)

    def remove(self, ordinal: int) -> None:
        if self.graph is not None:
            self.graph.remove(ordinal)
            return
        assert self.rows is not None
        row = self.row_of.pop(ordinal)
        last = len(self.ordinals) - 1
        if row != last:  # the last row takes the removed one's place
            moved = self.ordinals[last]
            self.rows[row] = self.rows[last]
            self.ordinals[row] = moved
            self.row_of[moved] = row
        self.ordinals.pop()

    def nearest(self, vector: np.ndarray) -> tuple[int, float] | None:
        if self.graph is not None:
            if len(self.graph) == 0:
                return None
            found = self.graph.search(vector, 1, threads=1)
            if len(found.keys) == 0:
                return None
            return int(found.keys[0]), 1.0 - float(found.distances[0])
        n = len(self.ordinals)
        if n == 0:
            return None
        assert self.rows is not None
        sims = self.rows[:n].astype(np.float32) @ vector
        best = int(np.argmax(sims))
        return self.ordinals[best], float(sims[best])

    def vectors(self, ordinals: list[int]) -> np.ndarray:
        """The stored vectors of these ordinals, float16, in order."""
        if not ordinals:
            return np.zeros((0, DIM), dtype=np.float16)
        if self.graph is not None:
            return np.asarray(self.graph.get(np.asarray(ordinals, dtype=np.uint64), dtype=np.float16),
                              dtype=np.float16).reshape(len(ordinals), DIM)
        assert self.rows is not None
        return self.rows[[self.row_of[o] for o in ordinals]]


class SemanticIndex:
    """Unit vectors of kept records by scope; ordinals are the dedup index's."""

    def __init__(self, params: SemanticParams = SemanticParams()) -> None:
        self.params = params
        self._scopes: dict[int, _Scope] = {}
        self._scope_of: dict[int, int] = {}  # ordinal -> scope key

    def __len__(self) -> int:
        return len(self._scope_of)

    def __contains__(self, ordinal: int) -> bool:
        return ordinal in self._scope_of

    def nearest(self, scope: int, vector: np.ndarray) -> tuple[int, float] | None:
        """The nearest kept record of the scope and its cosine, or None when the scope is empty."""
        group = self._scopes.get(scope)
        return group.nearest(np.asarray(vector, dtype=np.float32)) if group is not None else None

    def add(self, scope: int, ordinal: int, vector: np.ndarray) -> None:
        self.extend([(scope, ordinal, vector)])

    def extend(self, items: list[tuple[int, int, np.ndarray]]) -> None:
        """Add many ``(scope, ordinal, vector)`` at once (a restore): one bulk insert per scope."""
        by_scope: dict[int, tuple[list[int], list[np.ndarray]]] = {}
        for scope, ordinal, vector in items:
            if ordinal in self._scope_of:
                continue
            self._scope_of[ordinal] = scope
            ordinals, vectors = by_scope.setdefault(scope, ([], []))
            ordinals.append(ordinal)
            vectors.append(vector)
        for scope, (ordinals, vectors) in by_scope.items():
            group = self._scopes.get(scope)
            if group is None:
                group = self._scopes[scope] = _Scope()
            group.add(ordinals, np.asarray(vectors, dtype=np.float16), self.params)

    def remove(self, ordinal: int) -> None:
        scope = self._scope_of.pop(ordinal, None)
        if scope is None:
            return
        group = self._scopes[scope]
        group.remove(ordinal)
        if not len(group):
            del self._scopes[scope]

    def vector(self, ordinal: int) -> np.ndarray:
        return self.vectors([ordinal])[0]

    def vectors(self, ordinals: list[int]) -> np.ndarray:
        """The vectors of these ordinals (all in the index), float16, in order: one batch per scope."""
        out = np.zeros((len(ordinals), DIM), dtype=np.float16)
        by_scope: dict[int, list[int]] = {}
        for i, ordinal in enumerate(ordinals):
            by_scope.setdefault(self._scope_of[ordinal], []).append(i)
        for scope, positions in by_scope.items():
            out[positions] = self._scopes[scope].vectors([ordinals[i] for i in positions])
        return out

    def largest_scope(self) -> int:
        return max((len(g) for g in self._scopes.values()), default=0)

"""MinHash signatures over character n-grams and LSH band keys.

The signature is rensa's ``RMinHash`` (Rust), chosen by measurement against our own numpy
version (``NumpyMinHasher``, kept for the comparison) and datasketch's ``MinHash`` on the
planted-duplicate corpus (benchmarks/bench_dedup.py, docs/BENCHMARKS.md): same shingles, same
LSH shape, the same recall, and rensa was the fastest (about 30 us against 42 and 357 for
a 300-character text with 64 permutations).

- Shingles are the normalised text's character n-grams (one shingle for shorter texts).
- Band keys fold each band's rows and the record's scope into one 64-bit integer (vectorised
  in numpy); two records are LSH candidates when they share any key.

Deterministic: the permutations come from a fixed seed, so signatures agree across processes
(the persistent index stores texts and recomputes signatures, so a change of implementation
only needs a rebuild, not a migration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rensa

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, elementwise (uint64, wrapping)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@dataclass(frozen=True)
class LshParams:
    """``bands`` x ``rows`` = the number of permutations. A pair with n-gram Jaccard ``s``
    becomes a candidate with probability ``1 - (1 - s**rows)**bands``."""

    ngram: int = 7
    bands: int = 48
    rows: int = 4
    seed: int = 1

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.bands < 1 or self.rows < 1:
            raise ValueError("ngram, bands and rows must all be >= 1")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def candidate_probability(self, jaccard: float) -> float:
        return 1.0 - (1.0 - jaccard ** self.rows) ** self.bands


class MinHasher:
    """Signatures (rensa) and band keys for one parameter set."""

    def __init__(self, params: LshParams = LshParams()) -> None:
        self.params = params
        rng = np.random.Generator(np.random.PCG64(params.seed))
        top = np.iinfo(np.uint64).max
        self._row_mult = rng.integers(1, top, params.rows, dtype=np.uint64, endpoint=True) | np.uint64(1)
        self._band_salt = rng.integers(0, top, params.bands, dtype=np.uint64, endpoint=True)

    def shingles(self, norm: str) -> list[str]:
        n = self.params.ngram
        return [norm[i:i + n] for i in range(max(1, len(norm) - n + 1))]

    def signature(self, norm: str) -> np.ndarray:
        """uint32[num_perm]: the minimum of every permutation over the text's shingles."""
        m = rensa.RMinHash(num_perm=self.params.num_perm, seed=self.params.seed)
        m.update(self.shingles(norm))
        return np.asarray(m.digest(), dtype=np.uint32)

    def band_keys(self, signature: np.ndarray, scope: int = 0) -> list[int]:
        """One 64-bit key per band; ``scope`` keeps records of different scopes apart."""
        rows = signature.astype(np.uint64).reshape(self.params.bands, self.params.rows)
        folded = (rows * self._row_mult).sum(axis=1, dtype=np.uint64) + self._band_salt + np.uint64(scope)
        return _mix(folded).tolist()


class NumpyMinHasher(MinHasher):
    """Our own vectorised MinHash, kept as the benchmark's contender: shingles hashed by a
    rolling polynomial over the UTF-32 code points and mixed, permutation ``i`` the
    multiply-shift hash ``(a_i * h + b_i) >> 32`` with odd ``a_i`` (2-universal)."""

    def __init__(self, params: LshParams = LshParams()) -> None:
        super().__init__(params)
        rng = np.random.Generator(np.random.PCG64(params.seed + 1))
        top = np.iinfo(np.uint64).max
        self._a = (rng.integers(1, top, params.num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1))[:, None]
        self._b = rng.integers(0, top, params.num_perm, dtype=np.uint64, endpoint=True)[:, None]

    def hashed_shingles(self, norm: str) -> np.ndarray:
        cps = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if cps.size == 0:
            cps = np.zeros(1, dtype=np.uint64)
        n = min(self.params.ngram, cps.size)
        count = cps.size - n + 1
        h = cps[:count].copy()
        for i in range(1, n):
            h = h * _POLY + cps[i:i + count]
        return _mix(h)

    def signature(self, norm: str) -> np.ndarray:
        h = self.hashed_shingles(norm)
        return ((self._a * h[None, :] + self._b) >> _S32).min(axis=1).astype(np.uint32)

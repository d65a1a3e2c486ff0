"""Closing the loop: sampling factors that bring the accepted distribution back to target. Pure.

When categories are rejected (or deduplicated) at different rates, the accepted stream drifts
from the spec's targets even though prompts are sampled exactly by them. If category ``c`` is
sampled with weight ``w_c`` and accepted at rate ``a_c``, its accepted share is
``o_c ∝ w_c a_c``; sampling with ``w_c ∝ t_c / a_c`` gives back ``o_c = t_c``. The rates are
unknown, but each bias report shows ``o``, so every update multiplies a category's factor by
``(t_c / o_c) ** gain`` (one step is exact without noise; a gain below 1 damps the noise of
small windows), bounded per step and overall, and renormalised to a geometric mean of 1 per
dimension.
"""

from __future__ import annotations

import math
from typing import Any

MIN_OBSERVED = 0.01  # a category absent from a window counts as 1 %, not as infinitely short


def merge(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Observed shares per dimension over several windows, weighted by their records."""
    counts: dict[str, dict[str, float]] = {}
    totals: dict[str, float] = {}
    for report in reports:
        n = report["records"]
        for dim in report["dimensions"]:
            if dim["psi"] is None:
                continue
            bucket = counts.setdefault(dim["dimension"], {})
            for cat, share in dim["observed"].items():
                bucket[cat] = bucket.get(cat, 0.0) + share * n
            totals[dim["dimension"]] = totals.get(dim["dimension"], 0.0) + n
    return {d: {c: v / totals[d] for c, v in cats.items()} for d, cats in counts.items() if totals[d]}


class Reweighter:
    """Multiplicative sampling factors per dimension and category (1.0 = the spec's weight)."""

    def __init__(self, targets: dict[str, dict[str, float]], gain: float = 0.7, max_step: float = 4.0,
                 bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        if not 0 < gain <= 1:
            raise ValueError("gain must be in (0, 1]")
        self.targets = {d: t for d, t in targets.items() if len(t) > 1}  # one category: nothing to steer
        self.gain, self.max_step, self.bounds = gain, max_step, bounds
        self.factors: dict[str, dict[str, float]] = {d: {c: 1.0 for c in t} for d, t in self.targets.items()}

    def update(self, observed: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        """Apply one observation (``merge`` of the reports since the last update)."""
        lo, hi = self.bounds
        for dim, target in self.targets.items():
            seen = observed.get(dim)
            if not seen:
                continue
            factors = self.factors[dim]
            for cat, t in target.items():
                step = (t / max(seen.get(cat, 0.0), MIN_OBSERVED)) ** self.gain
                factors[cat] *= min(self.max_step, max(1 / self.max_step, step))
            mean = math.exp(sum(math.log(f) for f in factors.values()) / len(factors))
            for cat in factors:
                factors[cat] = min(hi, max(lo, factors[cat] / mean))
        return self.factors

"""Tumbling windows over accepted records, compared with the spec's target shares.

Pure: timestamps come in with the records (event time) or from the caller (idle flush).
A window closes when it holds ``max_records`` records, when a record's time falls past
its end, or when the caller flushes it.

Restart safety: a record may come with its position (partition, offset) in the accepted-records
topic. Each report then says, per partition, the offset below which every record of the dataset
has been reported (``source_offsets``, cumulative) and carries the length reference. A restarted
worker ``restore``s both from the last reports, re-reads the records after them (the window that
was open), and skips redelivered records that a report already ``covered``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field

from synthstream.agents.bias.text_stats import TextWindow
from synthstream.streams.runtime.records import BiasReport, DimensionReport

EPS = 1e-4
WARN, CRITICAL = 0.1, 0.2


def psi(observed: dict[str, float], target: dict[str, float]) -> float:
    """Population stability index, with EPS smoothing of empty categories."""
    total = 0.0
    for cat in set(observed) | set(target):
        o, t = max(observed.get(cat, 0.0), EPS), max(target.get(cat, 0.0), EPS)
        total += (o - t) * math.log(o / t)
    return total


def jsd(observed: dict[str, float], target: dict[str, float]) -> float:
    """Jensen-Shannon divergence in bits, in [0, 1]."""
    def kl(p: dict[str, float], q: dict[str, float]) -> float:
        return sum(pv * math.log2(pv / q[c]) for c, pv in p.items() if pv > 0)

    cats = set(observed) | set(target)
    p = {c: observed.get(c, 0.0) for c in cats}
    q = {c: target.get(c, 0.0) for c in cats}
    m = {c: (p[c] + q[c]) / 2 for c in cats}
    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m))


def status(value: float | None, warn: float = WARN, critical: float = CRITICAL) -> str:
    if value is None:
        return "no_target"
    return "critical" if value >= critical else "warn" if value >= warn else "ok"


@dataclass
class WindowReport:
    dataset: str
    window_start: int
    window_end: int
    records: int
    closed_by: str
    dimensions: list[DimensionReport] = field(default_factory=list)
    length_bins: dict[str, float] = field(default_factory=dict)
    length_psi: float | None = None  # against the reference window; None for the reference itself
    length_status: str = "no_target"
    diversity: dict[str, float | str] | None = None
    detectors: dict[str, float] = field(default_factory=dict)
    source_offsets: dict[str, int] = field(default_factory=dict)  # partition -> next offset not yet reported
    length_reference: dict[str, float] = field(default_factory=dict)  # the bins length_psi is measured against


class BiasWindow:
    """One dataset's current window of category counts."""

    def __init__(self, dataset: str, targets: dict[str, dict[str, float]], max_records: int = 200,
                 window_ms: int = 60_000, warn: float = WARN, critical: float = CRITICAL) -> None:
        self.dataset, self.targets = dataset, targets
        self.max_records, self.window_ms = max_records, window_ms
        self.warn, self.critical = warn, critical
        self._counts: dict[str, Counter[str]] = {}
        self._text = TextWindow()
        self.reference_bins: dict[str, float] | None = None  # response lengths of the first window
        self._n = 0
        self._start: int | None = None
        self._last: int | None = None
        self._reported: dict[int, int] = {}  # partition -> next offset after the records of closed windows
        self._open: dict[int, int] = {}  # the same for the records of the open window

    def restore(self, reported: dict[int, int], reference_bins: dict[str, float]) -> None:
        """Take what earlier reports covered and their length reference (after a restart)."""
        for partition, offset in reported.items():
            self._reported[partition] = max(offset, self._reported.get(partition, 0))
        if reference_bins and self.reference_bins is None:
            self.reference_bins = dict(reference_bins)

    def reported_to(self, partition: int) -> int:
        """The offset below which every record of this dataset in the partition is in a report."""
        return self._reported.get(partition, 0)

    def covered(self, partition: int, offset: int) -> bool:
        """Whether a closed window already counted the record at this position (a redelivery)."""
        return offset < self.reported_to(partition)

    @property
    def pending(self) -> int:
        return self._n

    def add(self, dims: dict[str, str], ts_ms: int, response: str | None = None,
            is_code: bool = False, position: tuple[int, int] | None = None) -> list[WindowReport]:
        """Count one record (and its response's text, when given); returns the windows this
        closed (zero, one or two). ``position`` is the record's (partition, offset)."""
        closed = []
        if self._start is not None and ts_ms >= self._start + self.window_ms:
            closed.append(self.flush("time", self._start + self.window_ms))
        if self._start is None:
            self._start = ts_ms
        for dim, cat in dims.items():
            self._counts.setdefault(dim, Counter())[cat] += 1
        if response is not None:
            self._text.add(response, is_code)
        self._n += 1
        self._last = ts_ms if self._last is None else max(self._last, ts_ms)
        if position is not None:
            partition, offset = position
            self._open[partition] = max(offset + 1, self._open.get(partition, 0))
        if self._n >= self.max_records:
            closed.append(self.flush("count", self._last + 1))
        return [r for r in closed if r is not None]

    def flush(self, closed_by: str, end_ms: int) -> WindowReport | None:
        """Close the current window (None when it is empty)."""
        if self._n == 0 or self._start is None:
            return None
        report = WindowReport(self.dataset, self._start, max(end_ms, self._start + 1), self._n, closed_by)
        for dim in sorted(set(self._counts) | set(self.targets)):
            counts = self._counts.get(dim, Counter())
            observed = {c: n / self._n for c, n in sorted(counts.items())}
            target = self.targets.get(dim, {})
            p = psi(observed, target) if target else None
            j = jsd(observed, target) if target else None
            report.dimensions.append(DimensionReport(dimension=dim, observed=observed, target=dict(target), psi=p,
                                                     jsd=j, status=status(p, self.warn, self.critical)))
        text = self._text.close()
        if text is not None:
            report.length_bins = text.length_bins
            if self.reference_bins is None:
                self.reference_bins = text.length_bins
            else:
                report.length_psi = psi(text.length_bins, self.reference_bins)
                report.length_status = status(report.length_psi, self.warn, self.critical)
            report.diversity = {k: v for k, v in asdict(text).items() if k not in ("length_bins", "detectors")}
            report.detectors = text.detectors
        for partition, offset in self._open.items():
            self._reported[partition] = max(offset, self._reported.get(partition, 0))
        report.source_offsets = {str(p): o for p, o in sorted(self._reported.items())}
        report.length_reference = dict(self.reference_bins or {})
        self._counts, self._n, self._start, self._last, self._open = {}, 0, None, None, {}
        self._text = TextWindow()
        return report


def report_record(report: WindowReport) -> BiasReport:
    """The BiasReport record of a closed window."""
    return BiasReport(**asdict(report))  # type: ignore[typeddict-item]

"""A bias report's figures on the worker's gauges (the dashboards' bias and diversity panels)."""

from __future__ import annotations

from synthstream.agents.bias.core import WindowReport
from synthstream.streams.runtime.metrics import Metrics


def publish(m: Metrics, report: WindowReport) -> None:
    for dim in report.dimensions:
        for cat, share in dim["observed"].items():
            m.bias_share.labels(dim["dimension"], cat).set(share)
        for cat, share in dim["target"].items():
            m.bias_target.labels(dim["dimension"], cat).set(share)
        if dim["psi"] is not None:
            m.bias_psi.labels(dim["dimension"]).set(dim["psi"])
            m.bias_jsd.labels(dim["dimension"]).set(dim["jsd"])
    ds = report.dataset
    if report.length_psi is not None:
        m.bias_length_psi.labels(ds).set(report.length_psi)
    if report.diversity is not None:
        for n in ("1", "2", "3"):
            m.diversity_distinct.labels(ds, n).set(report.diversity[f"distinct_{n}"])
        m.diversity_compression.labels(ds).set(report.diversity["compression_ratio"])
        m.diversity_opening.labels(ds).set(report.diversity["top_opening_share"])
    for name, value in report.detectors.items():
        m.bias_detector.labels(ds, name).set(value)
    m.bias_windows.labels(report.closed_by).inc()

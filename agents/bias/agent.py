"""Bias monitor agent.

Consumes: accepted-records (AcceptedRecord); review-labels (through review_agent: human labels are
          monitoring too, and this is the lighter of the two workers `run` starts)
Produces: bias-reports (BiasReport, key dataset), one per closed window
State:    one in-memory BiasWindow per dataset (a window in progress is lost on restart)
Metrics:  synthstream_bias_share_ratio, synthstream_bias_target_ratio, synthstream_bias_psi,
          synthstream_bias_jsd, synthstream_bias_length_psi, synthstream_diversity_distinct_ratio{n},
          synthstream_diversity_compression_ratio, synthstream_diversity_top_opening_ratio,
          synthstream_bias_detector_ratio{detector}, synthstream_bias_windows_total,
          synthstream_stage_records_total{stage="bias"}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import faust

from agents.bias.core import BiasWindow, WindowReport
from agents.verification.review_agent import register_labels
from streams.pipeline import Deps, Sinks, raw_topic, run_stage

STAGE = "bias"


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    windows: dict[str, BiasWindow] = {}
    last_seen: dict[str, int] = {}

    def window_for(dataset: str) -> BiasWindow:
        if dataset not in windows:
            windows[dataset] = BiasWindow(dataset, deps.targets.get(dataset, {}),
                                          max_records=deps.worker.bias_window_records,
                                          window_ms=int(deps.worker.bias_window_seconds * 1000),
                                          warn=deps.worker.bias_warn, critical=deps.worker.bias_critical)
        return windows[dataset]

    async def publish(report: WindowReport) -> None:
        m = deps.metrics
        for dim in report.dimensions:
            for cat, share in dim.observed.items():
                m.bias_share.labels(dim.dimension, cat).set(share)
            for cat, share in dim.target.items():
                m.bias_target.labels(dim.dimension, cat).set(share)
            if dim.psi is not None:
                m.bias_psi.labels(dim.dimension).set(dim.psi)
                m.bias_jsd.labels(dim.dimension).set(dim.jsd)
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
        await sinks.send("bias-reports", report.dataset, "BiasReport", asdict(report))

    async def handle(message: Any) -> None:
        _, record = deps.serde.decode(message.value, "AcceptedRecord")
        dataset = record["lineage"]["dataset"]
        dims = dict(record["dimensions"], task=record["task"])
        ts = record["lineage"]["accepted_at"] or deps.clock()
        last_seen[dataset] = deps.clock()
        response = "\n".join(m["content"] for m in record["messages"] if m["role"] == "assistant")
        for report in window_for(dataset).add(dims, ts, response, is_code=bool(record.get("code"))):
            await publish(report)
        deps.metrics.records.labels(STAGE, "observed").inc()

    @app.agent(raw_topic(app, deps.names["accepted-records"]), name=f"{deps.names.prefix}bias")
    async def bias(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

    @app.timer(interval=max(0.5, deps.worker.bias_idle_flush_seconds / 2))
    async def flush_idle() -> None:
        now = deps.clock()
        for dataset, window in windows.items():
            if window.pending and now - last_seen.get(dataset, now) >= deps.worker.bias_idle_flush_seconds * 1000:
                report = window.flush("idle", now)
                if report is not None:
                    await publish(report)

    register_labels(app, deps, sinks)

"""Bias monitor agent.

Consumes: accepted-records (AcceptedRecord); review-labels (through review_agent: human labels are
          monitoring too, and this is the lighter of the two workers `run` starts)
Produces: bias-reports (BiasReport, key dataset), one per closed window
State:    one in-memory BiasWindow per dataset. Nothing is lost on a restart or a rebalance: before
          counting anything from a partition it has been given, the worker reads the reports back
          (what they cover, the length reference) and re-reads the partition's records that no
          report holds yet (agents/bias/store.py); a redelivered record a report already holds is
          not counted twice. On a rebalance the open windows are closed first ("rebalance").
Metrics:  synthstream_bias_share_ratio, synthstream_bias_target_ratio, synthstream_bias_psi,
          synthstream_bias_jsd, synthstream_bias_length_psi, synthstream_diversity_distinct_ratio{n},
          synthstream_diversity_compression_ratio, synthstream_diversity_top_opening_ratio,
          synthstream_bias_detector_ratio{detector}, synthstream_bias_windows_total,
          synthstream_stage_records_total{stage="bias", outcome=observed|replayed|redelivered}
"""

from __future__ import annotations

from typing import Any

import faust

from synthstream.agents.bias import gauges
from synthstream.agents.bias.core import WindowReport, report_record
from synthstream.agents.bias.store import BiasMonitor, Recovery, horizon_ms
from synthstream.agents.deps import Deps
from synthstream.agents.verification.review_agent import register_labels
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "bias"


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    w = deps.worker
    recovery = Recovery(deps.bootstrap, deps.names["bias-reports"], deps.names["accepted-records"], deps.serde,
                        horizon_ms(w.bias_window_seconds, w.bias_idle_flush_seconds))
    monitor = BiasMonitor(recovery, lambda dataset: deps.dataset(dataset).targets, w.bias_window_records,
                          w.bias_window_seconds, w.bias_idle_flush_seconds, w.bias_warn, w.bias_critical, deps.clock)

    async def publish(reports: list[WindowReport]) -> None:
        for report in reports:
            gauges.publish(deps.metrics, report)
            await sinks.send("bias-reports", report.dataset, "BiasReport", report_record(report))

    async def handle(message: Any) -> None:
        _, record = deps.serde.decode(message.value, "AcceptedRecord")
        replayed, closed = await monitor.catch_up(message.partition, message.offset)
        if replayed:
            deps.metrics.records.labels(STAGE, "replayed").inc(replayed)
        await publish(closed)
        counted, closed = monitor.observe(record, (message.partition, message.offset))
        await publish(closed)
        deps.metrics.records.labels(STAGE, "observed" if counted else "redelivered").inc()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        closed = monitor.close_for_rebalance()
        await publish(closed)
        if closed:
            await app.producer.flush()

    @app.agent(raw_topic(app, deps.names["accepted-records"]), name=f"{deps.names.prefix}bias")
    async def bias(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

    @app.timer(interval=max(0.5, w.bias_idle_flush_seconds / 2))
    async def flush_idle() -> None:
        await publish(monitor.flush_idle())

    register_labels(app, deps, sinks)

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

import asyncio
import logging
from dataclasses import asdict
from typing import Any

import faust
from kafka.errors import KafkaError

from synthstream.agents.bias.core import BiasWindow, WindowReport
from synthstream.agents.bias.store import Recovery, horizon_ms
from synthstream.agents.verification.review_agent import register_labels
from synthstream.agents.deps import Deps
from synthstream.agents.families import REGISTRY, BiasView
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "bias"
logger = logging.getLogger(__name__)


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    windows: dict[str, BiasWindow] = {}
    last_seen: dict[str, int] = {}
    w = deps.worker
    recovery = Recovery(deps.bootstrap, deps.names["bias-reports"], deps.names["accepted-records"], deps.serde,
                        horizon_ms(w.bias_window_seconds, w.bias_idle_flush_seconds))
    lock = asyncio.Lock()

    def window_for(dataset: str) -> BiasWindow:
        if dataset not in windows:
            windows[dataset] = BiasWindow(dataset, deps.targets.get(dataset, {}), max_records=w.bias_window_records,
                                          window_ms=int(w.bias_window_seconds * 1000), warn=w.bias_warn,
                                          critical=w.bias_critical)
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

    async def observe(record: dict[str, Any], position: tuple[int, int], outcome: str) -> bool:
        """Count one record unless a report already holds it; True when counted."""
        dataset = record["lineage"]["dataset"]
        window = window_for(dataset)
        if window.covered(*position):
            return False
        dims = dict(record["dimensions"], task=record["task"])
        ts = record["lineage"]["accepted_at"] or deps.clock()
        last_seen[dataset] = deps.clock()
        family = REGISTRY.get(record["task"])
        view = family.bias if family is not None else BiasView()
        for report in window.add(dims, ts, view.text(record["messages"]), is_code=view.code, position=position):
            await publish(report)
        deps.metrics.records.labels(STAGE, outcome).inc()
        return True

    async def catch_up(partition: int, resume_at: int) -> None:
        """Before the first record of a partition given to this worker: what no report holds yet."""
        if partition in recovery.caught_up:
            return
        async with lock:
            if partition in recovery.caught_up:
                return
            try:
                resume = await asyncio.to_thread(recovery.load)
                for dataset, state in resume.items():
                    window_for(dataset).restore(state.reported, state.reference)
                reported_to = {dataset: window.reported_to(partition) for dataset, window in windows.items()}
                records = await asyncio.to_thread(lambda: list(recovery.unreported(partition, resume_at, reported_to)))
            except (KafkaError, TimeoutError):  # monitoring goes on; the record in hand is fine
                logger.exception("bias: could not re-read %s[%d] before offset %d; records of a window open at "
                                 "the last stop are not counted", deps.names["accepted-records"], partition, resume_at)
                recovery.caught_up.add(partition)
                return
            counted = 0
            for offset, record in records:
                counted += await observe(record, (partition, offset), "replayed")
            recovery.caught_up.add(partition)
            if counted:
                logger.info("bias: partition %d: counted %d records that no report held (before offset %d)",
                            partition, counted, resume_at)

    async def handle(message: Any) -> None:
        _, record = deps.serde.decode(message.value, "AcceptedRecord")
        await catch_up(message.partition, message.offset)
        if not await observe(record, (message.partition, message.offset), "observed"):
            deps.metrics.records.labels(STAGE, "redelivered").inc()  # read again after a crash; a report holds it

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        """Close the open windows, so a partition's next owner re-reads only records no report holds."""
        closed = [r for r in (win.flush("rebalance", deps.clock()) for win in windows.values()) if r is not None]
        for report in closed:
            await publish(report)
        if closed:
            await app.producer.flush()
        recovery.mark_stale()

    @app.agent(raw_topic(app, deps.names["accepted-records"]), name=f"{deps.names.prefix}bias")
    async def bias(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

    @app.timer(interval=max(0.5, w.bias_idle_flush_seconds / 2))
    async def flush_idle() -> None:
        now = deps.clock()
        for dataset, window in windows.items():
            if window.pending and now - last_seen.get(dataset, now) >= w.bias_idle_flush_seconds * 1000:
                report = window.flush("idle", now)
                if report is not None:
                    await publish(report)

    register_labels(app, deps, sinks)

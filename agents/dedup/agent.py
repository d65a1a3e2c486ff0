"""Dedup + gate agent.

Consumes: verdicts (Verdict); rejected verdicts are skipped (verification accounted them).
          Verification puts each verdict on the partition of its dedup scope, so this worker
          sees every candidate of the scopes in the partitions it is assigned.
Produces: accepted-records (AcceptedRecord, key record_id); outcomes (ACCEPTED, DUPLICATE);
          dedup-index (DedupEntry, key record_id, same partition as the verdict): the changelog
State:    one DedupIndex per assigned partition, replayed from the dedup-index changelog on first
          use and after every rebalance, so it survives restarts and crashes (agents/dedup/store.py);
          a local snapshot per partition every SYNTHSTREAM_WORKER_DEDUP_SNAPSHOT_SECONDS shortens
          the replay after a restart on the same data dir
Metrics:  synthstream_stage_records_total{stage="dedup"}, synthstream_dedup_hits_total{kind},
          synthstream_dedup_index_records, synthstream_dedup_replay_seconds,
          synthstream_stage_latency_seconds, synthstream_dead_letters_total{stage="dedup"}
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust

from synthstream.agents.dedup.core import DedupParams, Duplicate, Unique
from synthstream.agents.dedup.fields import scope_of, text_of
from synthstream.agents.families import default_fields
from synthstream.agents.dedup.store import PartitionedIndex, end_offset, to_record
from synthstream.agents.deps import Deps
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "dedup"
logger = logging.getLogger(__name__)


def accepted_record(verdict: dict[str, Any], record_id: str, accepted_at: int) -> dict[str, Any]:
    gen = verdict["generation"]
    return {
        "record_id": record_id, "prompt_id": gen["prompt_id"], "task": gen["task"],
        "messages": gen.get("messages") or [{"role": "user", "content": gen["problem"]},
                                            {"role": "assistant", "content": gen["response"]}],
        "answer": gen["answer"], "quality_score": verdict["quality_score"], "dimensions": gen["dimensions"],
        "lineage": dict(gen["lineage"], accepted_at=accepted_at),
        "code": gen.get("code"), "grounding": gen.get("grounding"), "usage": gen.get("usage"),
        "validators": verdict.get("validators") or [],
    }


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    w = deps.worker
    params = DedupParams(ratio=w.dedup_ratio, token_sort=w.dedup_token_sort, capacity=w.dedup_capacity)
    snapshots = w.data_dir / "dedup" if w.dedup_snapshot_seconds > 0 else None
    index = PartitionedIndex(params, deps.bootstrap, deps.names["dedup-index"], deps.serde, snapshots)
    lock = asyncio.Lock()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        index.mark_stale()  # whatever we are given next may have grown elsewhere meanwhile

    async def ready(partition: int) -> None:
        if index.ready(partition):
            return
        async with lock:
            if not index.ready(partition):
                done = await asyncio.to_thread(index.catch_up, partition)
                deps.metrics.dedup_replay.observe(done.seconds)
                deps.metrics.dedup_index.set(len(index))
                if done.entries or done.undecodable:
                    logger.info("dedup: partition %d replayed %d entries (%d undecodable) in %.1fs", partition,
                                done.entries, done.undecodable, done.seconds)

    async def handle(message: Any) -> None:
        _, verdict = deps.serde.decode(message.value, "Verdict")
        if not verdict["accepted"]:
            return
        gen = verdict["generation"]
        dataset = gen["lineage"]["dataset"]
        fields = deps.dedup_fields.get(dataset, {}).get(gen["task"]) or default_fields(gen["task"])
        thresholds = deps.dedup_thresholds.get(dataset)
        await ready(message.partition)
        decision, entry = index.indexes[message.partition].check(
            gen["prompt_id"], text_of(gen, fields), scope_of(gen, fields), thresholds)
        if entry is not None:
            await sinks.send("dedup-index", entry.record_id, "DedupEntry", to_record(entry, gen["task"], deps.clock()),
                             partition=message.partition)
            deps.metrics.dedup_index.set(len(index))
        if isinstance(decision, Duplicate):
            deps.metrics.records.labels(STAGE, f"duplicate_{decision.kind}").inc()
            deps.metrics.dedup_hits.labels(decision.kind).inc()
            await sinks.outcome(gen["prompt_id"], "DUPLICATE", STAGE, reason=decision.reason,
                                record_id=decision.of_record, task=gen["task"])
            return
        record = accepted_record(verdict, decision.record_id, deps.clock())
        await sinks.send("accepted-records", decision.record_id, "AcceptedRecord", record)
        deps.metrics.records.labels(STAGE, "accepted" if isinstance(decision, Unique) else "replayed").inc()
        await sinks.outcome(gen["prompt_id"], "ACCEPTED", STAGE, record_id=decision.record_id, task=gen["task"])

    async def snapshot() -> None:
        """Write a snapshot of every partition that changed. A record enters the index before
        its changelog entry is sent, so an export taken after reading the end offset holds every
        entry below it. Flushing first (once) keeps the tail that a restart replays short."""
        if snapshots is None or deps.bootstrap is None:
            return
        dirty = index.dirty()
        if dirty:
            await app.producer.flush()
        for partition in dirty:
            end = await asyncio.to_thread(end_offset, deps.bootstrap, index.topic, partition)
            exported = index.export(partition)  # on the loop: no record is added meanwhile
            started = time.perf_counter()
            await asyncio.to_thread(index.write_snapshot, partition, exported, end)
            logger.info("dedup: snapshot of partition %d (%d records, log offset %d) in %.1fs", partition,
                        len(exported[0]), end, time.perf_counter() - started)

    if snapshots is not None:
        @app.timer(interval=w.dedup_snapshot_seconds)
        async def periodic_snapshot() -> None:
            try:
                await snapshot()
            except Exception:  # a failed snapshot only means a longer replay later
                logger.exception("dedup: snapshot failed; the changelog still has everything")

    @app.agent(raw_topic(app, deps.names.verdicts), name=f"{deps.names.prefix}dedup")
    async def dedup(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

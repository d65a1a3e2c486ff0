"""Dedup + gate agent.

Consumes: verdicts (Verdict); rejected verdicts are skipped (verification accounted them).
          Verification puts each verdict on the partition of its dedup scope, so this worker
          sees every candidate of the scopes in the partitions it is assigned.
Produces: accepted-records (AcceptedRecord, key record_id), which is also the prompt's ACCEPTED
          outcome (watchers read it; no separate Outcome is sent); outcomes (DUPLICATE,
          CONTAMINATED: a record copying a benchmark test item, agents/dedup/decontam.py);
          dedup-index (DedupEntry, key record_id, same partition as the verdict): the changelog.
          Exactly once: the outputs of a batch of one verdicts partition, with the offset after
          it, commit in one Kafka transaction (streams/runtime/transactions.py), so a
          read_committed reader sees each accepted record once whatever crashes; a verdict seen
          again (a redelivery from verification, or a batch redone after a crash) finds its record
          in the index, committed with it, and sends nothing
State:    one DedupIndex per assigned partition, replayed from the dedup-index changelog on first
          use and after every rebalance, so it survives restarts and crashes (agents/dedup/store.py);
          a local snapshot per partition every SYNTHSTREAM_WORKER_DEDUP_SNAPSHOT_SECONDS shortens
          the replay after a restart on the same data dir. For tasks deduplicated semantically the
          record's normalised text is embedded (the worker's embedding service) and compared with
          the scope's kept embeddings (agents/dedup/semantic.py); without a model they are kept on
          the other tiers and counted in synthstream_dedup_unembedded_total{task}
Metrics:  synthstream_stage_records_total{stage="dedup"}, synthstream_dedup_hits_total{kind},
          synthstream_dedup_index_records, synthstream_dedup_replay_seconds,
          synthstream_stage_latency_seconds, synthstream_dead_letters_total{stage="dedup"}
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from synthstream.agents.deps import Deps
from synthstream.agents.dedup import core
from synthstream.agents.dedup.core import DedupParams, Duplicate, Replay
from synthstream.agents.dedup.decontam import Decontaminator, humaneval
from synthstream.agents.dedup.fields import dedup_route
from synthstream.agents.families import decontamination_fields
from synthstream.agents.dedup.normalize import normalize
from synthstream.agents.dedup.semantic import SemanticParams
from synthstream.agents.dedup.store import PartitionedIndex
from synthstream.streams.runtime.shell import Sinks, Writer, raw_topic, run_stage, run_transactional_stage

STAGE = core.STAGE
logger = logging.getLogger(__name__)


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    w, m = deps.worker, deps.metrics
    params = DedupParams(ratio=w.dedup_ratio, token_sort=w.dedup_token_sort, capacity=w.dedup_capacity,
                         words=w.dedup_words, grey=w.dedup_grey, bucket_limit=w.dedup_bucket_limit,
                         semantic=SemanticParams(threshold=w.dedup_semantic_threshold))
    snapshots = w.data_dir / "dedup" if w.dedup_snapshot_seconds > 0 else None
    service = deps.embeddings if w.dedup_semantic else None
    embed = service.embed if service is not None and service.available else None
    if w.dedup_semantic and embed is None:
        logger.warning("dedup: no embedding model (%s); paraphrases are not caught, only exact and near copies "
                       "(synthstream_dedup_unembedded_total counts the records)",
                       service.why if service is not None else "no embedding service in this worker")
    index = PartitionedIndex(params, deps.bootstrap, deps.names["dedup-index"], deps.serde, snapshots, embed=embed)
    bundled = None  # HumanEval, for data sets no spec describes
    if w.decontaminate:
        try:
            bundled = Decontaminator(humaneval())
        except OSError as exc:
            logger.warning("dedup: no HumanEval to decontaminate against (%s); reinstall synthstream", exc)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any = None, **kwargs: Any) -> None:
        index.mark_stale()  # whatever we are given next may have grown elsewhere meanwhile

    async def embedded(text: str, task: str) -> Any:
        """The text's embedding off the event loop, or None (counted) when there is no model."""
        if embed is not None:
            try:
                return (await asyncio.to_thread(embed, [text]))[0]
            except Exception:  # a failing model must not stop dedup: the other tiers still decide
                logger.exception("dedup: embedding failed; this record is kept on the exact and near tiers only")
        m.dedup_unembedded.labels(task).inc()
        return None

    async def handle(message: Any, out: Writer) -> None:
        _, verdict = deps.serde.decode(message.value, "Verdict")
        if not verdict["accepted"]:
            return  # verification accounted it
        gen = verdict["generation"]
        config = deps.dataset(gen["lineage"]["dataset"])
        found = core.contaminated(verdict, (config.decontam or bundled) if w.decontaminate else None,
                                  decontamination_fields(gen["task"]), deps.clock())
        if found is not None:  # a copy of a benchmark item: never accepted, never in the index
            hit, contaminated = found
            await out.send("outcomes", gen["prompt_id"], "Outcome", contaminated)
            out.count(lambda: (m.contaminated.labels(hit.benchmark, gen["task"]).inc(),
                                           m.records.labels(STAGE, "contaminated").inc()))
            return
        replayed = await index.ensure_ready(message.partition)
        if replayed is not None:
            m.dedup_replay.observe(replayed.seconds)
            m.dedup_index.set(len(index))
            if replayed.entries or replayed.undecodable:
                logger.info("dedup: partition %d replayed %d entries (%d undecodable, %d without their embedding) "
                            "in %.1fs", message.partition, replayed.entries, replayed.undecodable,
                            replayed.unembedded, replayed.seconds)
        route = dedup_route(gen, config.dedup(gen["task"]), deps.partitions)
        vector = None
        if route.semantic and w.dedup_semantic:
            vector = await embedded(normalize(route.text), gen["task"])
        admitted = core.admit(verdict, index.indexes[message.partition], route, config.dedup_thresholds,
                              deps.clock(), vector, config.dedup_semantic)
        decision = admitted.decision
        out.count(lambda: m.records.labels(STAGE, admitted.kind).inc())
        if isinstance(decision, Replay) and w.exactly_once:
            return  # its record, entry and outcome were committed together, when it was first kept
        if admitted.entry is not None:
            await out.send("dedup-index", admitted.entry["record_id"], "DedupEntry", admitted.entry,
                           partition=message.partition)
            out.count(lambda: m.dedup_index.set(len(index)))
        if admitted.record is not None:  # the accepted record is the prompt's ACCEPTED outcome: no message of its own
            await out.send("accepted-records", admitted.record["record_id"], "AcceptedRecord", admitted.record)
        elif admitted.outcome is not None:  # a duplicate
            await out.send("outcomes", gen["prompt_id"], "Outcome", admitted.outcome)
        if isinstance(decision, Duplicate):
            out.count(lambda: m.dedup_hits.labels(decision.kind).inc())

    writing = asyncio.Lock()  # held while a batch is handled and committed: snapshots hold committed entries only

    async def committed() -> None:
        """Nothing to flush: every entry of the index was committed before the lock was free."""

    flush = committed if w.exactly_once else app.producer.flush

    if snapshots is not None and deps.bootstrap is not None:  # a snapshot records a changelog offset
        @app.timer(interval=w.dedup_snapshot_seconds)
        async def periodic_snapshot() -> None:
            try:
                async with writing:
                    done = await index.snapshot_changed(flush)
                for partition, records, offset, seconds in done:
                    logger.info("dedup: snapshot of partition %d (%d records, log offset %d) in %.1fs", partition,
                                records, offset, seconds)
            except Exception:  # a failed snapshot only means a longer replay later
                logger.exception("dedup: snapshot failed; the changelog still has everything")

    source = deps.names.verdicts
    txns = sinks.transactions(app, STAGE, source, deps.bootstrap or "", w.transaction_timeout_s)

    @app.agent(raw_topic(app, source), name=f"{deps.names.prefix}dedup")
    async def dedup(stream: Any) -> None:
        if not w.exactly_once:  # at least once: a crash can send a record again (same id)
            await run_stage(STAGE, stream, lambda message: handle(message, sinks), sinks)
            return
        try:
            await run_transactional_stage(STAGE, stream, handle, sinks, txns, forget=index.forget,
                                          lock=writing, max_batch=w.dedup_batch, linger_s=w.dedup_linger_ms / 1000)
        finally:
            await txns.close()

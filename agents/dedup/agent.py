"""Dedup + gate agent.

Consumes: verdicts (Verdict); rejected verdicts are skipped (verification accounted them)
Produces: accepted-records (AcceptedRecord, key record_id); outcomes (ACCEPTED, DUPLICATE)
State:    a bounded in-memory DedupIndex; it is lost on restart (a persistent index comes later),
          so run one dedup worker: every partition's candidates must meet in one index
Metrics:  synthstream_stage_records_total{stage="dedup"}, synthstream_dedup_index_records,
          synthstream_stage_latency_seconds, synthstream_dead_letters_total{stage="dedup"}
"""

from __future__ import annotations

from typing import Any

import faust

from agents.dedup.core import DedupIndex, Duplicate, Unique
from agents.dedup.normalize import normalize
from streams.pipeline import Deps, Sinks, raw_topic, run_stage

STAGE = "dedup"


def dedup_key(gen: dict[str, Any]) -> str:
    """Records can only duplicate each other within one key. Math: same task, same problem
    statement and same answer, so a reworded instruction is caught while '3x + 5 = 11' and
    '3x + 7 = 13' (same answer) never collide. Code: same function. QA: same passage.
    Dialogue: same task (the whole conversation is compared)."""
    if gen.get("code"):
        return "|".join((gen["task"], gen["code"]["entry_point"], normalize(gen["code"]["prompt"])))
    if gen.get("grounding"):
        return "|".join((gen["task"], gen["grounding"]["doc_id"], str(gen["grounding"]["chunk"])))
    if gen["task"].startswith("dialogue."):
        dims = gen["dimensions"]
        return "|".join((gen["task"], dims.get("topic", ""), dims.get("style", "")))
    return "|".join((gen["task"], normalize(gen.get("equation") or ""), normalize(gen["answer"])))


def dedup_text(gen: dict[str, Any]) -> str:
    """What is compared fuzzily within a key."""
    if gen.get("code"):
        return gen["code"]["completion"]
    if gen.get("grounding"):
        return f"{gen['grounding']['question']}\n{gen['grounding']['answer']}"
    if gen["task"].startswith("dialogue"):
        return "\n".join(m["content"] for m in gen.get("messages") or [])
    return gen["problem"]


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
    index = DedupIndex(capacity=deps.worker.dedup_capacity, similarity=deps.worker.dedup_similarity)

    async def handle(message: Any) -> None:
        _, verdict = deps.serde.decode(message.value, "Verdict")
        if not verdict["accepted"]:
            return
        gen = verdict["generation"]
        decision = index.check(gen["prompt_id"], dedup_text(gen), key=dedup_key(gen))
        deps.metrics.dedup_index.set(len(index))
        if isinstance(decision, Duplicate):
            deps.metrics.records.labels(STAGE, f"duplicate_{decision.kind}").inc()
            await sinks.outcome(gen["prompt_id"], "DUPLICATE", STAGE, reason=decision.reason,
                                record_id=decision.of_record, task=gen["task"])
            return
        record = accepted_record(verdict, decision.record_id, deps.clock())
        await sinks.send("accepted-records", decision.record_id, "AcceptedRecord", record)
        deps.metrics.records.labels(STAGE, "accepted" if isinstance(decision, Unique) else "replayed").inc()
        await sinks.outcome(gen["prompt_id"], "ACCEPTED", STAGE, record_id=decision.record_id, task=gen["task"])

    @app.agent(raw_topic(app, deps.names.verdicts), name=f"{deps.names.prefix}dedup")
    async def dedup(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

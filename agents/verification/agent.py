"""Verification agent.

Consumes: generations (Generation)
Produces: verdicts (Verdict, accepted or rejected, with reasons); outcomes (REJECTED)
State:    none
Metrics:  synthstream_stage_records_total{stage="verification"}, synthstream_quality_score,
          synthstream_stage_latency_seconds, synthstream_dead_letters_total{stage="verification"}
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from agents.verification import core
from streams.pipeline import Deps, Sinks, raw_topic, run_stage

STAGE = "verification"


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    async def handle(message: Any) -> None:
        _, gen = deps.serde.decode(message.value, "Generation")
        if gen["task"].startswith("code."):  # runs a jailed process: keep the event loop free meanwhile
            checked = await asyncio.to_thread(core.verify, gen)
        else:
            checked = core.verify(gen)
        gen["lineage"] = dict(gen["lineage"], verifier=checked.verifier, verified_at=deps.clock())
        verdict = {"prompt_id": gen["prompt_id"], "accepted": checked.accepted, "quality_score": checked.score,
                   "threshold": gen["threshold"], "reasons": checked.reasons, "generation": gen}
        await sinks.send("verdicts", gen["prompt_id"], "Verdict", verdict)
        deps.metrics.quality.labels(gen["task"]).observe(checked.score)
        if checked.accepted:
            deps.metrics.records.labels(STAGE, "accepted").inc()
        else:
            deps.metrics.records.labels(STAGE, "rejected").inc()
            await sinks.outcome(gen["prompt_id"], "REJECTED", STAGE, reason="; ".join(checked.reasons)[:500],
                                task=gen["task"])

    @app.agent(raw_topic(app, deps.names.generations), name=f"{deps.names.prefix}verification")
    async def verification(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

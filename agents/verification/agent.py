"""Verification agent.

Consumes: generations (Generation)
Produces: verdicts (Verdict, accepted or rejected, with reasons); outcomes (REJECTED)
State:    none
Metrics:  synthstream_stage_records_total{stage="verification"}, synthstream_quality_score,
          synthstream_verdicts_total{task, outcome, reason}, synthstream_sandbox_mode,
          synthstream_sandbox_task_seconds{result}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="verification"}
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust

from agents.verification import core
from streams.pipeline import Deps, Sinks, raw_topic, run_stage

STAGE = "verification"


def reason_code(checked: core.Checked) -> str:
    """The first reason's code ('answer_wrong' of 'answer_wrong: ...'); '' when accepted."""
    return "" if checked.accepted or not checked.reasons else checked.reasons[0].split(":", 1)[0]


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    if deps.sandbox is not None:
        deps.metrics.sandbox_mode.labels(deps.sandbox.mode).set(1)  # bwrap, unsafe or refuse, from the start

    async def handle(message: Any) -> None:
        _, gen = deps.serde.decode(message.value, "Generation")
        if gen["task"].startswith("code."):  # runs a jailed process: keep the event loop free meanwhile
            started = time.perf_counter()
            checked = await asyncio.to_thread(core.verify, gen, deps.sandbox)
            deps.metrics.sandbox_seconds.labels(reason_code(checked) or "passed").observe(time.perf_counter() - started)
        else:
            checked = core.verify(gen)
        deps.metrics.verdicts.labels(gen["task"], "accepted" if checked.accepted else "rejected",
                                     reason_code(checked)).inc()
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

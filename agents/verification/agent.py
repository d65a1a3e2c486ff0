"""Verification agent.

Consumes: generations (Generation)
Produces: verdicts (Verdict, accepted or rejected, with reasons; on the partition of the generation's dedup
          scope, see agents/dedup/store.py); outcomes (REJECTED); human-review (a
          sample of the verdicts, by the spec's review_fraction)
State:    none
Metrics:  synthstream_stage_records_total{stage="verification"}, synthstream_quality_score,
          synthstream_verdicts_total{task, outcome, reason}, synthstream_validator_score{validator, task},
          synthstream_review_sampled_total{task, outcome} (the labels are counted by the bias stage),
          synthstream_sandbox_mode,
          synthstream_sandbox_task_seconds{result}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="verification"}
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import faust

from synthstream.agents.dedup.fields import partition_for, scope_of
from synthstream.agents.families import REGISTRY, default_fields
from synthstream.agents.verification import quality, review
from synthstream.agents.verification.sandbox import Limits
from synthstream.agents.deps import Deps
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "verification"


def reason_code(decision: quality.Decision) -> str:
    """The first reason's code ('answer_wrong' of 'answer_wrong: ...'); '' when accepted."""
    return "" if decision.accepted or not decision.reasons else decision.reasons[0].split(":", 1)[0]


def task_limits(deps: Deps, dataset: str, task: str) -> Limits | None:
    """The sandbox's limits for a code task: the spec's where it sets them, else the worker's."""
    spec = deps.sandbox_limits.get(dataset, {}).get(task)
    if not spec or deps.sandbox is None:
        return None
    return replace(deps.sandbox.limits, **{k: (int(v) if k != "wall_s" else float(v)) for k, v in spec.items()})


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    if deps.sandbox is not None:
        deps.metrics.sandbox_mode.labels(deps.sandbox.mode).set(1)  # bwrap, unsafe or refuse, from the start

    async def handle(message: Any) -> None:
        _, gen = deps.serde.decode(message.value, "Generation")
        dataset = gen["lineage"]["dataset"]
        weights = deps.gates.get(dataset, {}).get(gen["task"])
        judge = deps.judges.get(dataset)
        extra = [await judge.judge(gen)] if judge is not None and weights and weights.get("judge", 0) > 0 else []
        family = REGISTRY.get(gen["task"])
        if family is not None and family.sandbox is not None:  # jailed processes: keep the loop free meanwhile
            started = time.perf_counter()
            limits = task_limits(deps, dataset, gen["task"])
            verifier, decision = await asyncio.to_thread(quality.assess, gen, deps.sandbox, deps.validators, weights,
                                                         extra, limits)
            result = reason_code(decision) or "passed"
            deps.metrics.sandbox_seconds.labels(result).observe(time.perf_counter() - started)
        else:
            verifier, decision = quality.assess(gen, deps.sandbox, deps.validators, weights, extra)
        deps.metrics.verdicts.labels(gen["task"], "accepted" if decision.accepted else "rejected",
                                     reason_code(decision)).inc()
        for score in decision.scores:
            deps.metrics.validator_score.labels(score["name"], gen["task"]).observe(score["score"])
        gen["lineage"] = dict(gen["lineage"], verifier=verifier, verified_at=deps.clock())
        verdict = {"prompt_id": gen["prompt_id"], "accepted": decision.accepted, "quality_score": decision.score,
                   "threshold": gen["threshold"], "reasons": decision.reasons, "generation": gen,
                   "validators": decision.scores}
        fields = deps.dedup_fields.get(dataset, {}).get(gen["task"]) or default_fields(gen["task"])
        await sinks.send("verdicts", gen["prompt_id"], "Verdict", verdict,  # every candidate of a scope meets in one
                         partition=partition_for(scope_of(gen, fields), deps.partitions))  # dedup index
        if review.sampled(gen["prompt_id"], deps.review_fractions.get(dataset, 0.0)):
            await sinks.send("human-review", gen["prompt_id"], "Verdict", verdict)
            deps.metrics.review_sampled.labels(gen["task"], "accepted" if decision.accepted else "rejected").inc()
        deps.metrics.quality.labels(gen["task"]).observe(decision.score)
        if decision.accepted:
            deps.metrics.records.labels(STAGE, "accepted").inc()
        else:
            deps.metrics.records.labels(STAGE, "rejected").inc()
            await sinks.outcome(gen["prompt_id"], "REJECTED", STAGE, reason="; ".join(decision.reasons)[:500],
                                task=gen["task"])

    # a judge waits on a model: let several records wait at once (Faust still commits in order)
    concurrency = 8 if deps.judges else 1

    @app.agent(raw_topic(app, deps.names.generations), name=f"{deps.names.prefix}verification",
               concurrency=concurrency)
    async def verification(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

"""Verification agent.

Consumes: generations (Generation); when one worker runs generation too, generation calls
          ``verifier`` on each generation itself and only what that cannot verify comes this way
Produces: verdicts (Verdict, accepted or rejected, with reasons; on the partition of the generation's dedup
          scope, see agents/dedup/store.py); outcomes (REJECTED); human-review (a
          sample of the verdicts, by the spec's review_fraction); preference-pairs (PreferencePair:
          a sample that passed against one that failed, agents/verification/preferences.py)
State:    none
Metrics:  synthstream_stage_records_total{stage="verification"}, synthstream_quality_score,
          synthstream_verdicts_total{task, outcome, reason}, synthstream_validator_score{validator, task},
          synthstream_validator_abstained_total{validator, task},
          synthstream_review_sampled_total{task, outcome} (the labels are counted by the bias stage),
          synthstream_sandbox_mode,
          synthstream_sandbox_task_seconds{result}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="verification"}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from synthstream.agents.deps import Deps
from synthstream.agents.verification import core
from synthstream.agents.verification.preferences import preference_pairs
from synthstream.streams.runtime.records import Generation
from synthstream.streams.runtime.shell import Sinks, Writer, raw_topic, run_batched_stage

STAGE = core.STAGE


def concurrency_for(deps: Deps) -> int:
    """Records verified at once (Faust still commits offsets in order): the setting, else as many
    as the jail runs at once when a data set has code tasks (each waits on the sandbox in a
    thread, so a code-heavy stream uses every core), and 8 when a judge waits on a model."""
    if deps.verification_concurrency:
        return deps.verification_concurrency
    jailed = deps.sandbox is not None and deps.sandbox.mode != "refuse" and any(
        core.runs_code(task) for config in deps.datasets.values() for task in config.gates)
    judged = any(c.judge is not None for c in deps.datasets.values())
    return max(8 if judged else 1, deps.sandbox.parallel if jailed and deps.sandbox is not None else 1)


Verify = Callable[[Generation, Writer], Awaitable[None]]


def verifier(deps: Deps) -> Verify:
    """What the stage does with one decoded generation: its verdict (on the partition of its
    dedup scope), review sample, REJECTED outcome and preference pairs into ``sink``, and the
    stage's counters. The agent below calls it, and so does generation when one worker runs
    both stages (``SYNTHSTREAM_WORKER_FUSE``, streams/app/faust_app.py)."""
    m = deps.metrics
    if deps.sandbox is not None:
        m.sandbox_mode.labels(deps.sandbox.mode).set(1)  # bwrap, unsafe or refuse, from the start

    async def verify(gen: Generation, sink: Writer) -> None:
        config = deps.dataset(gen["lineage"]["dataset"])
        judge = config.judged(gen["task"])
        extra = [await judge.judge(gen)] if judge is not None else []
        jailed = core.runs_code(gen["task"])
        if jailed:  # jailed processes: keep the event loop free meanwhile
            started = time.perf_counter()
            verifier, decision = await asyncio.to_thread(core.assess, gen, config, deps.sandbox, deps.validators,
                                                         extra)
            sandbox_s = time.perf_counter() - started
        else:
            verifier, decision = core.assess(gen, config, deps.sandbox, deps.validators, extra)
        out = core.verdict(gen, verifier, decision, config, deps.partitions, deps.clock())
        await sink.send("verdicts", gen["prompt_id"], "Verdict", out.verdict, partition=out.partition)
        if out.review:
            await sink.send("human-review", gen["prompt_id"], "Verdict", out.verdict)
        if out.outcome is not None:
            await sink.send("outcomes", gen["prompt_id"], "Outcome", out.outcome)
        if jailed and deps.sandbox is not None:  # each sample through the jail: off the event loop too
            limits = config.limits(gen["task"], deps.sandbox.limits)
            pairs = await asyncio.to_thread(preference_pairs, gen, deps.sandbox, limits)
        else:
            pairs = preference_pairs(gen)
        for pair in pairs:  # its samples told apart: chosen passed, rejected failed
            await sink.send("preference-pairs", pair["pair_id"], "PreferencePair", pair)
            m.preference_pairs.labels(gen["task"]).inc()
        # counting
        kind = "accepted" if decision.accepted else "rejected"
        if jailed:
            m.sandbox_seconds.labels(out.reason_code or "passed").observe(sandbox_s)
        m.verdicts.labels(gen["task"], kind, out.reason_code).inc()
        for score in decision.scores:
            if score["name"] in decision.abstained:
                m.validator_abstained.labels(score["name"], gen["task"]).inc()
            else:
                m.validator_score.labels(score["name"], gen["task"]).observe(score["score"])
        if out.review:
            m.review_sampled.labels(gen["task"], kind).inc()
        m.quality.labels(gen["task"]).observe(decision.score)
        m.records.labels(STAGE, kind).inc()

    return verify


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    verify = verifier(deps)

    async def handle(message: Any, sink: Writer) -> None:
        _, gen = deps.serde.decode(message.value, "Generation")
        await verify(gen, sink)

    concurrency = concurrency_for(deps)

    @app.agent(raw_topic(app, deps.names.generations), name=f"{deps.names.prefix}verification")
    async def verification(stream: Any) -> None:
        # in batches; with the jail or a judge, `concurrency` batches at once, each all at once
        await run_batched_stage(STAGE, stream, handle, sinks, max_batch=deps.worker.stage_batch,
                                in_flight=concurrency)

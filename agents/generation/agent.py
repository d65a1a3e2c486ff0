"""Generation agent.

Consumes: prompts (Prompt)
Produces: generations (Generation, with usage and the raw model outputs); dead-letters and
          outcomes for prompts it cannot serve (bad prompt, unknown task, the backend failed
          after its last retry). Fused with verification (one worker runs both stages and
          SYNTHSTREAM_WORKER_FUSE is on, the default): each generation is verified here, as
          soon as it is made, and what verification produces goes out instead (the verdict
          holds the whole generation); a generation it cannot verify goes to the generations
          topic as before, where the verification agent gives it its dead letter
State:    none; prompts are taken in batches (what has arrived, up to
          SYNTHSTREAM_WORKER_STAGE_BATCH), many batches and all of each batch's prompts in flight
          at once, bounded by the model client's adaptive limit; a batch's generations go out
          together and its prompts are acked once the broker has them, and Faust commits an
          offset only when every earlier prompt of the partition is acked, so a crash replays,
          never skips
Metrics:  synthstream_stage_records_total{stage="generation"}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="generation"}, synthstream_llm_* (model requests);
          fused, verification's own metrics too (its latency is the time verifying)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from synthstream.agents.deps import Deps
from synthstream.agents.generation import core
from synthstream.streams.runtime.records import Generation
from synthstream.streams.runtime.shell import Outbox, Sinks, raw_topic, run_batched_stage

logger = logging.getLogger(__name__)

STAGE = "generation"
Verify = Callable[[Generation, Outbox], Awaitable[None]]


def register(app: faust.App, deps: Deps, sinks: Sinks, verify: Verify | None = None,
             verify_in_flight: int = 1) -> None:
    """The generation agent; with ``verify`` (verification's ``verifier``), fused: it verifies
    what it generates, with up to ``verify_in_flight`` records at once (the jail's or a judge's)."""
    client, concurrency = deps.model_client, max(1, deps.generation_concurrency)
    verifying = deps.metrics.latency.labels("verification")
    verify_slots = asyncio.Semaphore(max(1, verify_in_flight))  # as many as the verification agent would

    async def verified_here(gen: Generation, out: Outbox) -> bool:
        """Verify ``gen`` into ``out``; False (and nothing in ``out``) when verification fails."""
        assert verify is not None
        scratch, started = out.scratch(), time.perf_counter()
        try:
            async with verify_slots:
                await verify(gen, scratch)
        except Exception as exc:  # PoisonRecord or a bug: the verification agent deals with it
            logger.warning("%s: could not verify %s here (%s: %s); it goes to the generations topic",
                           STAGE, gen.get("prompt_id"), type(exc).__name__, exc)
            return False
        out.take(scratch)
        verifying.observe(time.perf_counter() - started)
        return True

    async def handle(message: Any, out: Outbox) -> None:
        _, prompt = deps.serde.decode(message.value, "Prompt")
        gen = await core.generate(prompt, client, deps.clock)
        deps.metrics.records.labels(STAGE, "generated").inc()
        if verify is not None and await verified_here(gen, out):
            return
        await out.send("generations", gen["prompt_id"], "Generation", gen)

    in_flight = max(concurrency, verify_in_flight) if verify is not None else concurrency

    @app.agent(raw_topic(app, deps.names.prompts), name=f"{deps.names.prefix}generation")
    async def generation(stream: Any) -> None:
        # in batches, up to `in_flight` at once, each all at once: prompts wait on the model
        # server, whose client bounds the requests in flight (and, fused, on the jail or a judge)
        await run_batched_stage(STAGE, stream, handle, sinks, max_batch=deps.worker.stage_batch,
                                in_flight=in_flight)

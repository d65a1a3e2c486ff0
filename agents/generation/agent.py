"""Generation agent.

Consumes: prompts (Prompt)
Produces: generations (Generation, with usage and the raw model outputs); dead-letters and
          outcomes for prompts it cannot serve (bad prompt, unknown task, the backend failed
          after its last retry)
State:    none; prompts are taken in batches (what has arrived, up to
          SYNTHSTREAM_WORKER_STAGE_BATCH), many batches and all of each batch's prompts in flight
          at once, bounded by the model client's adaptive limit; a batch's generations go out
          together and its prompts are acked once the broker has them, and Faust commits an
          offset only when every earlier prompt of the partition is acked, so a crash replays,
          never skips
Metrics:  synthstream_stage_records_total{stage="generation"}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="generation"}, synthstream_llm_* (model requests)
"""

from __future__ import annotations

from typing import Any

import faust

from synthstream.agents.deps import Deps
from synthstream.agents.generation import core
from synthstream.streams.runtime.shell import Sinks, Writer, raw_topic, run_batched_stage

STAGE = "generation"


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    client, concurrency = deps.model_client, max(1, deps.generation_concurrency)

    async def handle(message: Any, out: Writer) -> None:
        _, prompt = deps.serde.decode(message.value, "Prompt")
        gen = await core.generate(prompt, client, deps.clock)
        await out.send("generations", gen["prompt_id"], "Generation", gen)
        deps.metrics.records.labels(STAGE, "generated").inc()

    @app.agent(raw_topic(app, deps.names.prompts), name=f"{deps.names.prefix}generation")
    async def generation(stream: Any) -> None:
        # in batches, up to `concurrency` at once, each all at once: prompts wait on the model
        # server, whose client bounds the requests in flight
        await run_batched_stage(STAGE, stream, handle, sinks, max_batch=deps.worker.stage_batch,
                                in_flight=concurrency)

"""Generation agent.

Consumes: prompts (Prompt)
Produces: generations (Generation); dead-letters and outcomes for prompts it cannot serve
State:    none
Metrics:  synthstream_stage_records_total{stage="generation"}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="generation"}
"""

from __future__ import annotations

from typing import Any

import faust

from agents.generation import core
from streams.errors import PoisonRecord
from streams.pipeline import Deps, Sinks, raw_topic, run_stage

STAGE = "generation"


def validate_prompt(prompt: dict[str, Any]) -> None:
    """Decodable but unusable prompts are poison, with the field that is wrong."""
    pid = prompt["prompt_id"]
    if not pid.strip():
        raise PoisonRecord("invalid_record", "prompt_id is empty")
    if not 0.0 <= prompt["threshold"] <= 1.0:
        raise PoisonRecord("invalid_record", f"threshold {prompt['threshold']} is outside [0, 1]", pid)
    if not prompt["instruction"].strip():
        raise PoisonRecord("invalid_record", "instruction is empty", pid)


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    async def handle(message: Any) -> None:
        _, prompt = deps.serde.decode(message.value, "Prompt")
        validate_prompt(prompt)
        try:
            gen = core.generate(prompt)
        except PoisonRecord as exc:
            exc.prompt_id = prompt["prompt_id"]
            raise
        gen["lineage"] = dict(prompt["lineage"], generator=core.GENERATOR, model=core.MODEL,
                              generated_at=deps.clock())
        await sinks.send("generations", gen["prompt_id"], "Generation", gen)
        deps.metrics.records.labels(STAGE, "generated").inc()

    @app.agent(raw_topic(app, deps.names.prompts), name=f"{deps.names.prefix}generation")
    async def generation(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

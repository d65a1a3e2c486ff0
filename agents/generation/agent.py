"""Generation agent.

Consumes: prompts (Prompt)
Produces: generations (Generation, with usage and the raw model outputs); dead-letters and
          outcomes for prompts it cannot serve (bad prompt, unknown task, the backend failed
          after its last retry)
State:    none; many prompts are in flight at once (one actor per allowed request), bounded by
          the model client's adaptive limit; Faust commits an offset only when every earlier
          prompt of the partition is done, so a crash replays, never skips
Metrics:  synthstream_stage_records_total{stage="generation"}, synthstream_stage_latency_seconds,
          synthstream_dead_letters_total{stage="generation"}, synthstream_llm_* (model requests)
"""

from __future__ import annotations

from typing import Any

import faust

from synthstream.agents.generation.backends.client import ModelClient
from synthstream.agents.families import TASKS
from synthstream.agents.generation.tasks import PromptModel
from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.agents.deps import Deps
from synthstream.streams.runtime.shell import Sinks, raw_topic, run_stage

STAGE = "generation"
PROCEDURAL = "procedural"


def validate_prompt(prompt: dict[str, Any]) -> None:
    """Decodable but unusable prompts are poison, with the field that is wrong."""
    pid = prompt["prompt_id"]
    if not pid.strip():
        raise PoisonRecord("invalid_record", "prompt_id is empty")
    if not 0.0 <= prompt["threshold"] <= 1.0:
        raise PoisonRecord("invalid_record", f"threshold {prompt['threshold']} is outside [0, 1]", pid)
    if not prompt["instruction"].strip():
        raise PoisonRecord("invalid_record", "instruction is empty", pid)
    if prompt["task"] not in TASKS:
        raise PoisonRecord("unknown_task", f"no generator for task {prompt['task']!r}", pid)
    model = prompt.get("model")
    if model is not None and model["api"] not in ("chat", "completion"):
        raise PoisonRecord("invalid_record", f"model.api {model['api']!r} is not chat or completion", pid)


async def generate(prompt: dict[str, Any], client: ModelClient | None, clock: Any) -> dict[str, Any]:
    """The Generation for one prompt (pure apart from the model calls)."""
    validate_prompt(prompt)
    task = TASKS[prompt["task"]]
    model = None
    if prompt.get("model") is not None:
        if client is None:
            raise PoisonRecord("invalid_record", "the prompt asks for a model but this worker has no model client",
                               prompt["prompt_id"])
        model = PromptModel(client.complete, prompt)
    try:
        out = await task.generate(prompt, model)
    except PoisonRecord as exc:
        exc.prompt_id, exc.task = prompt["prompt_id"], prompt["task"]
        raise
    gen = out.fields()
    gen.update(prompt_id=prompt["prompt_id"], task=prompt["task"], dimensions=dict(prompt["dimensions"]),
               threshold=prompt["threshold"], usage=model.usage_record() if model is not None else None)
    gen["lineage"] = dict(prompt["lineage"], generator=task.generator_id,
                          model=(model.served_by or model.name) if model is not None else PROCEDURAL,
                          generated_at=clock())
    return gen


def register(app: faust.App, deps: Deps, sinks: Sinks) -> None:
    client, concurrency = deps.model_client, max(1, deps.generation_concurrency)

    async def handle(message: Any) -> None:
        _, prompt = deps.serde.decode(message.value, "Prompt")
        gen = await generate(prompt, client, deps.clock)
        await sinks.send("generations", gen["prompt_id"], "Generation", gen)
        deps.metrics.records.labels(STAGE, "generated").inc()

    @app.agent(raw_topic(app, deps.names.prompts), name=f"{deps.names.prefix}generation", concurrency=concurrency)
    async def generation(stream: Any) -> None:
        await run_stage(STAGE, stream, handle, sinks)

"""The generation stage's core: one Prompt in, one Generation out, by the task's generator.

Pure apart from the model calls it makes through ``client`` (none for procedural prompts): no
Kafka, and the clock is passed in. A prompt it cannot serve raises PoisonRecord with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from synthstream.agents.families import REGISTRY, UnknownTask
from synthstream.agents.generation.backends.client import ModelClient
from synthstream.agents.generation.tasks import PromptModel
from synthstream.streams.runtime.errors import PoisonRecord
from synthstream.streams.runtime.records import Generation, Prompt

PROCEDURAL = "procedural"


def validate_prompt(prompt: Prompt) -> None:
    """Decodable but unusable prompts are poison, with the field that is wrong."""
    pid = prompt["prompt_id"]
    if not pid.strip():
        raise PoisonRecord("invalid_record", "prompt_id is empty")
    if not 0.0 <= prompt["threshold"] <= 1.0:
        raise PoisonRecord("invalid_record", f"threshold {prompt['threshold']} is outside [0, 1]", pid)
    if not prompt["instruction"].strip():
        raise PoisonRecord("invalid_record", "instruction is empty", pid)
    try:
        REGISTRY.task(prompt["task"])
    except UnknownTask:
        raise PoisonRecord("unknown_task", f"no generator for task {prompt['task']!r}", pid) from None
    model = prompt.get("model")
    if model is not None and model["api"] not in ("chat", "completion"):
        raise PoisonRecord("invalid_record", f"model.api {model['api']!r} is not chat or completion", pid)


async def generate(prompt: Prompt, client: ModelClient | None, clock: Callable[[], int]) -> Generation:
    """The Generation for one prompt, with its lineage and usage."""
    validate_prompt(prompt)
    task = REGISTRY.task(prompt["task"])
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
    fields = out.fields()
    lineage = dict(prompt["lineage"], generator=task.generator_id,
                   model=(model.served_by or model.name) if model is not None else PROCEDURAL, generated_at=clock())
    return Generation(
        prompt_id=prompt["prompt_id"], task=prompt["task"], problem=fields["problem"], equation=fields["equation"],
        steps=fields["steps"], answer=fields["answer"], response=fields["response"],
        reference_answer=fields["reference_answer"], dimensions=dict(prompt["dimensions"]),
        threshold=prompt["threshold"], lineage=lineage,  # type: ignore[typeddict-item]
        messages=fields["messages"], samples=fields["samples"], sample_answers=fields["sample_answers"],
        code=fields["code"], grounding=fields["grounding"],
        usage=model.usage_record() if model is not None else None,  # type: ignore[typeddict-item]
        parse_error=fields["parse_error"], checks=fields["checks"])

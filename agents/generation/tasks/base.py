"""What every task generator shares: the model port it calls, its declared dimensions and params.

A generator turns one Prompt into the fields of one Generation. It is deterministic given the
prompt (its id and seed) and the model's outputs: every random choice comes from
``random.Random(prompt["seed"])`` and every request carries a seed derived from it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from synthstream.agents.generation.backends.client import ModelReply, ModelRequest, Sampling, Usage
from synthstream.streams.runtime.errors import PoisonRecord

Complete = Callable[[ModelRequest], Awaitable[ModelReply]]
SEED_MOD = 2**31 - 1


class Params(BaseModel):
    """Per-task parameters; subclasses declare theirs with defaults and bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptModel:
    """The model as one prompt sees it: its sampling settings, derived seeds, summed usage."""

    def __init__(self, complete: Complete, prompt: dict[str, Any]) -> None:
        cfg = prompt["model"]
        if cfg is None:
            raise ValueError("prompt has no model")
        self._complete = complete
        self.task = prompt["task"]
        self.name = cfg["name"]
        self.api = cfg["api"]
        self._cfg = cfg
        self._seed = prompt["seed"]
        self._calls = 0
        self.usage = Usage()
        self.served_by: str | None = None

    @property
    def choices_per_request(self) -> int:
        return self._cfg.get("n", 1)

    def sampling(self, *, max_tokens: int | None = None, stop: tuple[str, ...] = (), n: int | None = None) -> Sampling:
        seed = (self._seed + 7919 * self._calls) % SEED_MOD if self._cfg.get("seeded", True) else None
        return Sampling(temperature=self._cfg["temperature"], top_p=self._cfg["top_p"],
                        max_tokens=min(self._cfg["max_tokens"], max_tokens) if max_tokens else self._cfg["max_tokens"],
                        seed=seed, n=n or self.choices_per_request,
                        stop=tuple(dict.fromkeys((*stop, *self._cfg.get("stop", ())))))

    async def complete(self, *, prompt: str = "", messages: tuple[dict[str, str], ...] = (),
                       max_tokens: int | None = None, stop: tuple[str, ...] = (), n: int | None = None,
                       response_format: dict[str, Any] | None = None) -> list[str]:
        """One request; returns the text of every choice. ``response_format`` (chat only): the
        server's structured output, e.g. a JSON schema it enforces."""
        request = ModelRequest(task=self.task, api=self.api, model=self.name,
                               sampling=self.sampling(max_tokens=max_tokens, stop=stop, n=n),
                               prompt=prompt, messages=messages, response_format=response_format)
        self._calls += 1
        reply = await self._complete(request)
        self.usage.add(reply.usage)
        self.served_by = reply.model
        return reply.texts

    def usage_record(self) -> dict[str, Any]:
        u = self.usage
        return {"model": self.served_by or self.name, "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens, "requests": u.requests, "attempts": u.attempts,
                "latency_ms": round(u.latency_s * 1000.0, 3), "cost_usd": u.cost_usd}


@dataclass
class Output:
    """The task-specific part of a Generation; the agent adds ids, lineage and usage."""

    problem: str
    response: str
    answer: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    equation: str | None = None
    steps: list[str] = field(default_factory=list)
    reference_answer: str | None = None
    samples: list[str] = field(default_factory=list)
    sample_answers: list[str] = field(default_factory=list)
    code: dict[str, Any] | None = None
    grounding: dict[str, Any] | None = None
    parse_error: str | None = None
    checks: str | None = None  # template tasks: the declared output checks, as JSON, for the verifier

    def fields(self) -> dict[str, Any]:
        messages = self.messages or ([{"role": "user", "content": self.problem},
                                      {"role": "assistant", "content": self.response}]
                                     if self.response else [])
        return {"problem": self.problem, "response": self.response, "answer": self.answer, "messages": messages,
                "equation": self.equation, "steps": list(self.steps), "reference_answer": self.reference_answer,
                "samples": list(self.samples), "sample_answers": list(self.sample_answers), "code": self.code,
                "grounding": self.grounding, "parse_error": self.parse_error, "checks": self.checks}


class Task:
    """A task family. Subclasses set the class attributes and implement :meth:`run`."""

    name: ClassVar[str]
    version: ClassVar[int] = 1
    summary: ClassVar[str]
    #: dimension -> allowed categories; an empty tuple means any category is allowed
    dimensions: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: dimensions a spec must give (the generator cannot pick them itself)
    required_dimensions: ClassVar[tuple[str, ...]] = ()
    solvers: ClassVar[tuple[str, ...]] = ("model",)
    params_model: ClassVar[type[Params]] = Params
    default_instructions: ClassVar[tuple[str, ...]]
    #: params each prompt must take from a seed data set's row (seeds.fields maps them); () for none
    seed_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check_seed(cls, params: dict[str, str]) -> str | None:
        """Why a seed row's mapped params cannot make a prompt of this task (None: they can); the
        producer reports the row with this reason instead of publishing it."""
        return None

    @property
    def generator_id(self) -> str:
        return f"{self.name}@{self.version}"

    def params(self, raw: dict[str, str]) -> Params:
        """Typed params from the prompt's string map; bad ones poison the prompt, with the field."""
        try:
            return self.params_model.model_validate({k: _unjson(v) for k, v in raw.items()})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PoisonRecord("invalid_record", f"params.{where}: {first['msg']}") from exc

    async def generate(self, prompt: dict[str, Any], model: PromptModel | None) -> Output:
        params = self.params(prompt.get("params") or {})
        if model is None and "procedural" not in self.solvers:
            raise PoisonRecord("invalid_record", f"task {self.name} needs a model; the prompt has none")
        return await self.run(prompt, params, model, random.Random(prompt["seed"]))

    async def run(self, prompt: dict[str, Any], params: Any, model: PromptModel | None,
                  rng: random.Random) -> Output:
        raise NotImplementedError


class ModelTask(Task):
    """A task only a model can do: its generator (``write``) always gets the model."""

    solvers: ClassVar[tuple[str, ...]] = ("model",)

    async def run(self, prompt: dict[str, Any], params: Any, model: PromptModel | None,
                  rng: random.Random) -> Output:
        if model is None:  # generate() refuses such a prompt first; this keeps write() honest
            raise PoisonRecord("invalid_record", f"task {self.name} needs a model; the prompt has none")
        return await self.write(prompt, params, model, rng)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel, rng: random.Random) -> Output:
        raise NotImplementedError


def _unjson(value: str) -> Any:
    """Params travel as strings; numbers and booleans the spec wrote come back as such."""
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value

"""math.seeded: the user's own problems with their reference answers, solved by the model.

Each prompt carries one row of a seed data set (``seeds:`` in the spec, or ``synthstream
produce --from FILE``): its ``question`` and its ``answer`` params, mapped from the row's fields.
The model solves the question ``samples`` times; the majority answer is verified exactly
against the row's answer, as the procedural families are against their computed truth
(agents/verification/checks.verify_math_answer). A GSM8K-style answer ("... #### 42") counts
from its last ``####``; the answer must be one exact number (an integer, a fraction, a
decimal), which the producer checks per row before publishing.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from pydantic import Field, field_validator

from synthstream.agents.generation.tasks.answers import NoAnswer, canonical, extract
from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel
from synthstream.agents.generation.tasks.math_open import solve, voted
from synthstream.streams.runtime.errors import PoisonRecord


class SeededParams(Params):
    question: str | None = Field(None, description="the problem (from the seed row; seeds.fields maps it)")
    answer: str | None = Field(None, description="its reference answer, one exact number (from the seed row)")
    samples: int = Field(3, ge=1, le=9, description="independent solutions drawn; the majority answer is checked")

    @field_validator("question", "answer", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def reference(answer: str) -> str:
    """The row's answer in canonical form; NoAnswer when it is not one exact number."""
    text = answer.rsplit("####", 1)[-1] if "####" in answer else answer
    return canonical(extract(text, "scalar").value, "scalar")


class SeededMathTask(ModelTask):
    name = "math.seeded"
    summary = "your own problems with reference answers (a seed data set): k solutions, checked against the answer"
    dimensions: ClassVar[dict[str, tuple[str, ...]]] = {}
    params_model = SeededParams
    seed_fields: ClassVar[tuple[str, ...]] = ("question", "answer")
    default_instructions = ("Solve the problem step by step and give the exact answer.",)

    @classmethod
    def check_seed(cls, params: dict[str, str]) -> str | None:
        try:
            reference(params["answer"])
        except NoAnswer:
            return f"answer {params['answer'][-80:]!r} is not one exact number the verifier can compare with"
        return None

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel, rng: random.Random) -> Output:
        if not params.question or not params.answer:
            raise PoisonRecord("invalid_record", "math.seeded needs the question and answer params of a seed row; "
                                                 "give the spec a seeds: section (or produce --from FILE)")
        try:
            truth = reference(params.answer)
        except NoAnswer as exc:
            raise PoisonRecord("invalid_record", f"the seed row's answer is not one exact number: {exc}") from None
        user = f"{prompt['instruction'].strip()}\n\n{params.question.strip()}"
        out = voted(user, await solve(model, params.question.strip(), params.samples))
        out.reference_answer = truth
        return out

"""An optional LLM judge: the generation backend's model grades a record against a rubric.

It runs only where the spec gives ``judge`` a weight above 0, through the same model client (and
so the same adaptive limit, retries, token and cost metrics) as generation. The reply must contain
``Score: N`` with N from 1 to 10 (or the first such number); score = (N - 1) / 9. When the model
cannot be reached or its reply has no score, the judge *abstains*: its judgement is reported with
the reason and counts for nothing, so a judge outage never rejects (or accepts) a record by itself.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from synthstream.agents.generation.backends.client import BackendFailure, ModelReply, ModelRequest, Sampling
from synthstream.agents.verification.text_checks import transcript
from synthstream.agents.verification.validators.base import Judgement, clamp
from synthstream.streams.runtime.records import Reason

NAME, VERSION = "judge", "rubric-1-10@1"
DEFAULT_RUBRIC = ("You grade synthetic training data for a language model. Judge the assistant's reply to the "
                  "user: is it correct, does it answer what was asked, is it clear and free of filler? Reply with "
                  "one line 'Score: N' where N is an integer from 1 (useless or wrong) to 10 (excellent), then one "
                  "sentence saying why.")
_SCORE = re.compile(r"(?i)score\s*[:=]?\s*\**\s*(10|[1-9])(?:\s*/\s*10)?\b")
_BARE = re.compile(r"\b(10|[1-9])\s*(?:/\s*10)?\b")
Complete = Callable[[ModelRequest], Awaitable[ModelReply]]


@dataclass(frozen=True)
class JudgeConfig:
    model: str | None = None  # None: the client's default (the spec's model)
    api: str = "chat"
    rubric: str = DEFAULT_RUBRIC
    max_tokens: int = 64


def read_score(text: str) -> int | None:
    found = _SCORE.search(text) or _BARE.search(text)
    return int(found.group(1)) if found else None


class JudgeValidator:
    name, version = NAME, VERSION

    def __init__(self, complete: Complete, config: JudgeConfig = JudgeConfig()) -> None:
        self.complete = complete
        self.config = config

    def request(self, gen: dict[str, Any]) -> ModelRequest:
        sampling = Sampling(temperature=0.0, top_p=1.0, max_tokens=self.config.max_tokens, seed=0)
        task = "judge"  # the model metrics' task label: one series for all judging
        if self.config.api == "completion":
            prompt = f"{self.config.rubric}\n\n{transcript(gen)}\n\nScore:"
            return ModelRequest(task=task, api="completion", sampling=sampling, model=self.config.model, prompt=prompt)
        messages = ({"role": "system", "content": self.config.rubric},
                    {"role": "user", "content": f"Grade this conversation.\n\n{transcript(gen)}"})
        return ModelRequest(task=task, api="chat", sampling=sampling, model=self.config.model, messages=messages)

    async def judge(self, gen: dict[str, Any]) -> Judgement:
        request = self.request(gen)
        try:
            reply = await self.complete(request)
        except BackendFailure as exc:
            return Judgement(NAME, VERSION, 0.0, [Reason("judge_unavailable", f"{exc.detail[:200]}")], abstain=True)
        text = (reply.texts or [""])[0].strip()
        if request.api == "completion":
            text = "Score:" + text
        n = read_score(text)
        if n is None:
            return Judgement(NAME, VERSION, 0.0, [Reason("judge_unreadable", f"no score 1-10 in {text[:120]!r}")], abstain=True)
        why = text.splitlines()[1:] or [""]
        reasons = [] if n >= 7 else [Reason("judge_low", f"{n}/10 {' '.join(why).strip()[:160]}".rstrip())]
        return Judgement(NAME, VERSION, clamp((n - 1) / 9), reasons)

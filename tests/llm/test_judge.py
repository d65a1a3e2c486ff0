"""The LLM-judge validator: what it asks, how it reads a score, and that a judge that cannot answer
abstains instead of deciding; then through the real model client over HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from synthstream.agents.generation.backends.client import BackendFailure, ModelReply, ModelRequest
from synthstream.agents.verification.validators import decide
from synthstream.agents.verification.validators.judge import JudgeConfig, JudgeValidator, read_score
from tests.fakellm import FakeLLM, Fault
from tests.llm.test_client_faults import make_client
from tests.records import GENERATION


@pytest.mark.parametrize("text, score", [
    ("Score: 8\nClear.", 8), ("**Score:** 10/10", 10), ("score=3", 3), ("I'd give it 7/10.", 7),
    ("Score: 0", None), ("no idea", None), (" 9\nGood", 9),
])
def test_read_score(text: str, score: int | None) -> None:
    assert read_score(text) == score


class Scripted:
    def __init__(self, *replies: str | Exception) -> None:
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    async def __call__(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return ModelReply([reply], ["stop"], "m")


def judge(complete: Any, **config: Any):
    return asyncio.run(JudgeValidator(complete, JudgeConfig(**config)).judge(GENERATION))


def test_a_chat_judge_sends_the_rubric_and_the_transcript() -> None:
    model = Scripted("Score: 10\nCorrect and clear.")
    j = judge(model)
    (req,) = model.requests
    assert req.api == "chat" and req.task == "judge" and req.sampling.temperature == 0.0
    assert req.messages[0]["role"] == "system" and "Score: N" in req.messages[0]["content"]
    assert "USER: Solve for x: 2*x + 1 = 5" in req.messages[1]["content"]
    assert (j.name, j.score, j.reasons, j.abstain) == ("judge", 1.0, [], False)


def test_a_completion_judge_ends_its_prompt_at_the_score() -> None:
    model = Scripted(" 4\nThe steps skip the division.")
    j = judge(model, api="completion", rubric="Grade it from 1 to 10 and answer 'Score: N'.")
    assert model.requests[0].prompt.endswith("\n\nScore:")
    assert j.score == pytest.approx(3 / 9) and j.reasons == ["judge_low: 4/10 The steps skip the division."]


def test_a_judge_that_cannot_answer_abstains_and_counts_for_nothing() -> None:
    down = judge(Scripted(BackendFailure("backend_exhausted", "m: gave up after 7 attempts")))
    assert down.abstain and down.reasons == ["judge_unavailable: m: gave up after 7 attempts"]
    unreadable = judge(Scripted("I cannot grade this."))
    assert unreadable.abstain and unreadable.reasons[0].startswith("judge_unreadable")
    from synthstream.agents.verification.validators import Judgement

    d = decide([Judgement("task", "v", 1.0), down], {"task": 0.5, "judge": 0.5}, 0.85)
    assert d.accepted and d.score == 1.0 and d.scores[1]["reasons"] == down.reasons


def test_the_judge_through_the_model_client_over_http() -> None:
    def responder(api: str, body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages"))
        return "Score: 9\nCorrect." if "x = 2" in text else "Score: 2\nWrong answer."

    with FakeLLM(responder=responder) as llm:
        llm.add(Fault("429", times=2, retry_after="0.05"))  # the judge shares generation's retries and limit
        client, metrics = make_client(llm)

        async def main() -> list[Any]:
            try:
                v = JudgeValidator(client.complete)
                wrong = dict(GENERATION, messages=[{"role": "user", "content": "Solve 2x+1=5"},
                                                   {"role": "assistant", "content": "x = 3"}])
                return [await v.judge(GENERATION), await v.judge(wrong)]
            finally:
                await client.close()

        good, bad = asyncio.run(main())
    assert good.score == pytest.approx(8 / 9) and not good.reasons
    assert bad.score == pytest.approx(1 / 9) and bad.reasons == ["judge_low: 2/10 Wrong answer."]
    assert metrics.registry.get_sample_value("synthstream_llm_requests_total",
                                             {"model": "fake-model", "task": "judge", "outcome": "ok"}) == 2

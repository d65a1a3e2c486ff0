"""The LLM judge: rubric criteria per family asked for as JSON (structured output where the server
takes it), one retry on a reply that does not validate, abstention when it cannot answer, several
judges averaged; then through the real model client against the fault-injecting server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from synthstream.agents.generation.backends.client import BackendFailure, ModelReply, ModelRequest
from synthstream.agents.spec import JudgeSpec, Spec
from synthstream.agents.verification.validators import Judgement, decide
from synthstream.agents.verification.validators.judge import (JudgeConfig, JudgePanel, JudgeValidator, Unreadable,
                                                              UnreachableJudge, criteria_for, read_grades)
from synthstream.streams.runtime.settings import Settings
from tests.fakellm import FakeLLM, Fault
from tests.llm.test_client_faults import make_client
from tests.records import GENERATION

DIALOGUE = dict(GENERATION, task="dialogue.chat", dimensions={"topic": "current_events", "style": "formal"},
                messages=[{"role": "user", "content": "What does a central bank do?"},
                          {"role": "assistant", "content": "It sets interest rates and supervises banks."}])
QA = dict(GENERATION, task="qa.grounded", dimensions={"domain": "history"},
          messages=[{"role": "user", "content": "Passage: Rome was founded in 753 BC.\n\nQuestion: When?"},
                    {"role": "assistant", "content": "753 BC"}])


def grades(**values: Any) -> str:
    return json.dumps({**values, "reason": values.pop("reason", "fine")} if "reason" in values
                      else {**values, "reason": "fine"})


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


def judge(complete: Any, gen: dict = DIALOGUE, **config: Any) -> Judgement:
    return asyncio.run(JudgeValidator(complete, JudgeConfig(**config)).judge(gen))


ALL5 = grades(on_topic=5, answers=5, coherent=5, correct=5, style=5)


def test_each_family_has_its_criteria_with_the_record_s_dimensions() -> None:
    names = [n for n, _ in criteria_for(DIALOGUE)]
    assert names == ["on_topic", "answers", "coherent", "correct", "style"]
    assert dict(criteria_for(DIALOGUE))["on_topic"] == "Is the conversation about the topic current events?"
    assert [n for n, _ in criteria_for(QA)] == ["correct", "supported", "complete"]
    assert [n for n, _ in criteria_for(GENERATION)] == ["explanation"]  # math: the answer is checked exactly
    no_style = dict(DIALOGUE, dimensions={"topic": "science"})  # a criterion needing a missing dimension is left out
    assert "style" not in dict(criteria_for(no_style))


def test_the_judge_asks_for_json_grades_as_structured_output() -> None:
    model = Scripted(ALL5)
    j = judge(model, guidance="Prefer answers that cite a source.")
    (req,) = model.requests
    assert req.api == "chat" and req.task == "judge" and req.sampling.temperature == 0.0
    system, user = req.messages
    assert "integer from 1 (fails it) to 5" in system["content"] and "Prefer answers that cite" in system["content"]
    assert '"on_topic": 1-5' in system["content"]
    assert "- answers: Does every assistant turn answer" in user["content"] and "USER: What does a central bank" \
        in user["content"]
    fmt = req.response_format
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"]["required"] == [
        "on_topic", "answers", "coherent", "correct", "style", "reason"]
    assert (j.name, j.score, j.reasons, j.veto, j.abstain) == ("judge", 1.0, [], False, False)


@pytest.mark.parametrize("text, error", [
    ("Sure! ```json\n{\"correct\": 4, \"supported\": \"5\", \"complete\": 3.0, \"reason\": \"ok\"}\n```", None),
    ("no json here", "no JSON object"),
    ('{"correct": 4, "supported": 5, "complete": 3', "no JSON object"),
    ('{"correct": 4, "supported": 5,, "complete": 3}', "not valid JSON"),
    ('{"correct": 4, "supported": 6, "complete": 3}', "'supported' must be an integer from 1 to 5, got 6"),
    ('{"correct": 4, "complete": 3}', "'supported' must be an integer from 1 to 5, got None"),
    ('{"correct": true, "supported": 5, "complete": 3}', "'correct' must be an integer"),
])
def test_reading_the_grades(text: str, error: str | None) -> None:
    criteria = criteria_for(QA)
    if error is None:
        assert read_grades(text, criteria) == ({"correct": 4, "supported": 5, "complete": 3}, "ok")
    else:
        with pytest.raises(Unreadable, match=error.replace("(", r"\(").replace(")", r"\)")):
            read_grades(text, criteria)


def test_an_invalid_reply_is_asked_for_once_more_with_what_was_wrong() -> None:
    model = Scripted('{"correct": 5, "supported": 9}', grades(correct=2, supported=4, complete=4, reason="too vague"))
    j = judge(model, gen=QA)
    retry = model.requests[1].messages
    assert retry[2] == {"role": "assistant", "content": '{"correct": 5, "supported": 9}'}
    assert "'supported' must be an integer from 1 to 5, got 9" in retry[3]["content"]
    assert j.score == pytest.approx((1 / 4 + 3 / 4 + 3 / 4) / 3) and not j.veto
    assert j.reasons == ["judge_low: correct 2/5: too vague"]


def test_twice_invalid_or_no_answer_abstains_and_counts_for_nothing() -> None:
    unreadable = judge(Scripted("I think it is fine.", "Still fine, really."))
    assert unreadable.abstain and unreadable.reasons[0].startswith("judge_unreadable: no JSON object in the reply (twice)")
    down = judge(Scripted(BackendFailure("backend_exhausted", "m: gave up after 7 attempts")))
    assert down.abstain and down.reasons == ["judge_unavailable: m: gave up after 7 attempts"]
    d = decide([Judgement("task", "v", 1.0), down], {"task": 0.5, "judge": 0.5}, 0.85)
    assert d.accepted and d.score == 1.0 and d.abstained == ["judge"]
    gone = asyncio.run(UnreachableJudge("http://x/v1: URLError").judge(DIALOGUE))
    assert gone.abstain and gone.reasons == ["judge_unavailable: http://x/v1: URLError"]


def test_a_criterion_graded_1_vetoes() -> None:
    j = judge(Scripted(grades(on_topic=5, answers=1, coherent=4, correct=5, style=4, reason="ignores the question")))
    assert j.veto and j.reasons == ["judge_fail: answers 1/5: ignores the question"]
    d = decide([Judgement("task", "v", 1.0), j], {"task": 0.5, "judge": 0.5}, 0.5)
    assert not d.accepted and d.reasons[0].startswith("judge_fail")


def test_a_server_that_refuses_structured_output_is_asked_by_instruction() -> None:
    model = Scripted(BackendFailure("backend_rejected", "m: 400 response_format is not supported"), ALL5, ALL5)
    v = JudgeValidator(model)
    first = asyncio.run(v.judge(DIALOGUE))
    asyncio.run(v.judge(DIALOGUE))
    assert first.score == 1.0 and [r.response_format is not None for r in model.requests] == [True, False, False]


def test_a_panel_averages_the_judges_that_answered() -> None:
    strict = JudgeValidator(Scripted(grades(correct=1, supported=3, complete=3, reason="wrong")), JudgeConfig(label="a"))
    lenient = JudgeValidator(Scripted(grades(correct=5, supported=5, complete=5)), JudgeConfig(label="b"))
    absent = JudgeValidator(Scripted(BackendFailure("backend_exhausted", "down")), JudgeConfig(label="c"))
    j = asyncio.run(JudgePanel([strict, lenient, absent]).judge(QA))
    assert j.score == pytest.approx(((0 + 0.5 + 0.5) / 3 + 1.0) / 2)
    assert not j.veto  # one of the two that answered fails it: not most
    assert j.reasons == ["judge_fail: a: correct 1/5: wrong", "judge_unavailable: c: down"]
    nobody = asyncio.run(JudgePanel([JudgeValidator(Scripted(BackendFailure("backend_exhausted", "x")))
                                     for _ in range(2)]).judge(QA))
    assert nobody.abstain


def test_the_judge_is_on_by_default_for_dialogue_and_qa_only_with_a_model_server() -> None:
    spec = Spec.model_validate({"dataset": {"name": "d", "version": "1"}, "tasks": [
        {"name": "dialogue.chat", "weight": 1}, {"name": "qa.grounded", "weight": 1}, {"name": "math.linear", "weight": 1},
        {"name": "math.quadratic", "weight": 1, "validators": {"judge": 0.3}}]})
    gates = spec.gates(0.5)
    assert gates["dialogue.chat"]["judge"] == 0.5 and gates["qa.grounded"]["judge"] == 0.5
    assert "judge" not in gates["math.linear"] and gates["math.quadratic"]["judge"] == 0.3
    assert "judge" not in spec.gates()["dialogue.chat"]
    off = Spec.model_validate({"dataset": {"name": "d", "version": "1"}, "tasks": [{"name": "dialogue.chat", "weight": 1}],
                               "verification": {"validators": {"judge": 0}}})
    assert not off.judged(0.5)  # the spec switched it off
    embedded = Settings.from_env().replace(llm={"base_url": None}, judge={"base_url": None})
    assert not embedded.judge_by_default
    assert embedded.replace(llm={"base_url": "http://127.0.0.1:1/v1"}).judge_by_default
    assert embedded.replace(judge={"base_url": "http://127.0.0.1:1/v1"}).judge_by_default
    assert not embedded.replace(judge={"base_url": "http://127.0.0.1:1/v1", "auto": False}).judge_by_default


def rubric_responder(api: str, body: dict[str, Any]) -> str:
    """A scripted judge: the grades depend on the record; one record gets broken JSON first."""
    text = json.dumps(body.get("messages"))
    if "That reply is not valid" in text:
        return grades(correct=5, supported=5, complete=5, reason="fixed")
    if "Carthage" in text:
        return '{"correct": 5, "supported": 5, "complete": '  # cut off: malformed
    if "1066" in text:
        return grades(correct=1, supported=2, complete=3, reason="Rome was not founded in 1066")
    return grades(correct=5, supported=5, complete=4, reason="right")


def test_the_judge_through_the_model_client_against_the_fault_injecting_server() -> None:
    wrong = dict(QA, messages=[QA["messages"][0], {"role": "assistant", "content": "1066"}])
    broken = dict(QA, messages=[{"role": "user", "content": "Passage: Carthage ...\n\nQuestion: Where?"},
                                {"role": "assistant", "content": "Tunisia"}])
    with FakeLLM(responder=rubric_responder) as llm:
        llm.add(Fault("500", times=1), Fault("malformed", times=1))  # transport faults: the client retries them
        client, metrics = make_client(llm)

        async def main() -> list[Judgement]:
            try:
                v = JudgeValidator(client.complete, JudgeConfig(model="judge-model"))
                return [await v.judge(QA), await v.judge(wrong), await v.judge(broken)]
            finally:
                await client.close()

        good, bad, fixed = asyncio.run(main())
        bodies = [r["body"] for r in llm.requests]
    assert good.score == pytest.approx((1 + 1 + 0.75) / 3) and not good.reasons
    assert bad.veto and bad.reasons == ["judge_fail: correct 1/5, supported 2/5: Rome was not founded in 1066"]
    assert fixed.score == 1.0 and not fixed.abstain  # the malformed reply was asked for again, once
    assert all(b["response_format"]["type"] == "json_schema" and b["model"] == "judge-model" for b in bodies)
    assert len(bodies) == 2 + 1 + 1 + 2  # 2 transport retries, then one request each, and one retry for 'broken'
    sample = metrics.registry.get_sample_value
    assert sample("synthstream_llm_requests_total", {"model": "judge-model", "task": "judge", "outcome": "ok"}) == 4
    assert sample("synthstream_llm_tokens_total", {"model": "judge-model", "task": "judge", "kind": "completion"}) > 0


def test_the_worker_s_judge_uses_the_judge_settings(tmp_path) -> None:
    from synthstream.streams.app.worker import make_judge

    with FakeLLM(responder=rubric_responder) as judge_server:
        settings = Settings.from_env().replace(
            llm={"base_url": "http://127.0.0.1:9/v1", "model": "generator"},
            judge={"base_url": judge_server.url, "model": "big-judge", "api_key": "sk-judge"})
        panel = make_judge([JudgeSpec()], "spec-model", "completion", settings, None, by_default=True, probe=True)

        async def main() -> Judgement:
            return await panel.judge(QA)

        j = asyncio.run(main())
        (request,) = judge_server.requests
    assert not j.abstain and request["api"] == "chat" and request["body"]["model"] == "big-judge"
    unreachable = Settings.from_env().replace(judge={"base_url": "http://127.0.0.1:9/v1"})
    panel = make_judge([JudgeSpec()], "m", "chat", unreachable, None, probe=True)
    assert asyncio.run(panel.judge(QA)).reasons[0].startswith("judge_unavailable: http://127.0.0.1:9/v1: URLError")

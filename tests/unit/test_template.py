"""template.text (agents/generation/tasks/template.py, agents/families/template.py): spec errors
that name the part, strict and sandboxed templates, JSON outputs asked for as structured output
and retried once with the error, and every declared check, the Python one in the real jail."""

from __future__ import annotations

import asyncio
import json

import pytest

from synthstream.agents.families import REGISTRY
from synthstream.agents.generation.backends.client import ModelReply, Usage
from synthstream.agents.generation.tasks.base import PromptModel
from synthstream.agents.generation.tasks.template import TemplateTask, parse_json, render
from synthstream.agents.spec import parse_spec
from synthstream.streams.app.producer import plan_seeded
from synthstream.streams.app.seeds import Row
from synthstream.streams.runtime.errors import ConfigError, PoisonRecord

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
          "required": ["answer"]}


def spec_with(api: str = "chat", **params) -> dict:
    base = {"template": "Answer in JSON: {{ question }} (style: {{ style }})", "output": "json", "schema": SCHEMA}
    return {"dataset": {"name": "mine", "version": "1"}, "model": {"name": "m", "api": api},
            "tasks": [{"name": "template.text", "weight": 1, "dimensions": {"style": {"terse": 1}},
                       "params": {**base, **params}}],
            "seeds": {"path": "x.jsonl", "fields": {"question": "q", "answer": "a"}}}


@pytest.mark.parametrize("params, message", [
    ({"template": "{{ question "}, "the template does not parse"),
    ({"schema": None}, "output: json needs a schema"),
    ({"schema": {"type": "no-such-type"}}, "not a valid JSON Schema"),
    ({"checks": [{"type": "regex", "pattern": "("}]}, "does not compile"),
    ({"checks": [{"type": "python", "code": "x = 1"}]}, "defines check"),
    ({"checks": [{"type": "reference"}]}, "needs reference"),
    ({"checks": [{"type": "grep"}]}, "checks.0.type"),
])
def test_a_wrong_spec_says_which_part(params, message):
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec_with(**params))


def test_templates_are_strict_and_sandboxed():
    assert render("Q: {{ q }} / {{ dimensions.style }} / {{ row.q }}", {"q": "why?"}, {"style": "terse"}) == \
        "Q: why? / terse / why?"
    with pytest.raises(PoisonRecord, match=r"'qestion' is undefined; the prompt has \['q'\]"):
        render("{{ qestion }}", {"q": "why?"}, {})
    with pytest.raises(PoisonRecord, match="sandbox refuses"):
        render("{{ q.__class__.__mro__[1].__subclasses__() }}", {"q": "x"}, {})


def scripted(replies: list[str], seen: list):
    it = iter(replies)

    async def complete(request):
        seen.append(request)
        return ModelReply(texts=[next(it)], finish_reasons=["stop"], model="fake", usage=Usage())

    return complete


def prompt_for(spec: dict) -> dict:
    row = Row(3, {"q": "What is the capital of Peru?", "a": "Lima"})
    return next(p for p in plan_seeded(parse_spec(spec), iter([row]), "r", 0, "x.jsonl"))


def write(spec: dict, replies: list[str]) -> tuple:
    seen: list = []
    prompt = prompt_for(spec)
    task = TemplateTask()
    out = asyncio.run(task.write(prompt, task.params(prompt["params"]), PromptModel(scripted(replies, seen), prompt),
                                 None))
    return out, seen, prompt


def test_json_is_asked_for_as_structured_output_and_retried_once_with_the_error():
    out, seen, _ = write(spec_with(), ["Sure! Here you go: {answer: Lima}", '```json\n{"answer": "Lima"}\n```'])
    assert seen[0].response_format["type"] == "json_schema" and seen[0].response_format["json_schema"]["schema"] == SCHEMA
    assert seen[0].messages[-1]["content"] == "Answer in JSON: What is the capital of Peru? (style: terse)"
    assert "not JSON" in seen[1].messages[-1]["content"]  # the retry says what was wrong
    assert out.response == '{"answer": "Lima"}' and len(out.samples) == 2 and out.parse_error is None
    assert out.reference_answer is None and json.loads(out.checks)["output"] == "json"
    failed, _, _ = write(spec_with(), ['{"confidence": 1}', '{"confidence": 2}'])
    assert "does not match the schema at the top level: 'answer' is a required property" in failed.parse_error
    assert "(after 2 replies)" in failed.parse_error
    base, seen, _ = write(spec_with(api="completion", output="text", schema=None), ["Lima."])
    assert seen[0].response_format is None and base.response == "Lima." and base.samples == ["Lima."]


def test_parse_json_reads_fenced_replies():
    assert parse_json('```\n{"answer": "x"}\n```', SCHEMA) == ({"answer": "x"}, None)
    assert parse_json("[1]", SCHEMA)[1].startswith("does not match the schema")


def verdict_of(spec: dict, reply: str, sandbox=None):
    out, _, prompt = write(spec, [reply, reply])
    gen = dict(out.fields(), task="template.text", threshold=prompt["threshold"], prompt_id=prompt["prompt_id"])
    return REGISTRY.family_of("template.text").verify(gen, sandbox)


@pytest.mark.parametrize("check, reply, passed", [
    ({"type": "regex", "pattern": "^[A-Z]", "field": "answer"}, '{"answer": "Lima"}', True),
    ({"type": "regex", "pattern": "^[A-Z]", "field": "answer"}, '{"answer": "lima"}', False),
    ({"type": "regex", "pattern": ".", "field": "nope"}, '{"answer": "Lima"}', False),
    ({"type": "reference", "field": "answer"}, '{"answer": " LIMA "}', True),
    ({"type": "reference", "field": "answer"}, '{"answer": "Cusco"}', False),
    ({"type": "reference", "field": "answer", "mode": "fuzzy", "min_ratio": 80}, '{"answer": "Lima."}', True),
])
def test_declared_checks_decide(check, reply, passed):
    checked = verdict_of(spec_with(checks=[check], reference="answer"), reply)
    assert checked.accepted is passed, checked.reasons
    if not passed:
        assert checked.veto and checked.reasons


def test_a_numeric_reference_is_read_exactly():
    spec = spec_with(output="text", schema=None, checks=[{"type": "reference", "mode": "numeric"}], reference="answer")
    spec["seeds"]["fields"] = {"question": "q", "answer": "n"}
    row = Row(1, {"q": "Half of 9?", "n": "9/2"})
    prompt = next(p for p in plan_seeded(parse_spec(spec), iter([row]), "r", 0, "x"))
    for reply, ok in (("4.5", True), ("4.4", False)):
        task = TemplateTask()
        out = asyncio.run(task.write(prompt, task.params(prompt["params"]), PromptModel(scripted([reply], []), prompt),
                                     None))
        gen = dict(out.fields(), task="template.text", threshold=0.85, prompt_id="p")
        assert REGISTRY.family_of("template.text").verify(gen).accepted is ok


CHECK = ("def check(record):\n    answer = record['json']['answer']\n"
         "    return 1.0 if answer == 'Lima' else 0.5 if answer.lower() == 'lima' else False\n")


@pytest.mark.parametrize("reply, accepted, score", [('{"answer": "Lima"}', True, 1.0), ('{"answer": "lima"}', False, 0.5),
                                                    ('{"answer": "Quito"}', False, 0.0)])
def test_a_python_check_runs_in_the_jail(sandbox, reply, accepted, score):
    checked = verdict_of(spec_with(checks=[{"type": "python", "code": CHECK}]), reply, sandbox)
    assert checked.accepted is accepted and checked.score == score, checked.reasons


def test_a_python_check_that_raises_or_escapes_is_an_error_not_a_pass(sandbox):
    raising = "def check(record):\n    return record['json']['missing']\n"
    checked = verdict_of(spec_with(checks=[{"type": "python", "code": raising}]), '{"answer": "Lima"}', sandbox)
    assert not checked.accepted and "KeyError" in " ".join(checked.reasons)
    escaping = "def check(record):\n    import os\n    return os.path.exists('/etc/passwd') and 0.7\n"
    checked = verdict_of(spec_with(checks=[{"type": "python", "code": escaping}]), '{"answer": "Lima"}', sandbox)
    assert checked.score != 0.7  # the jail has no /etc/passwd of the host (or refuses the import)
    no_jail = verdict_of(spec_with(checks=[{"type": "python", "code": CHECK}]), '{"answer": "Lima"}', None)
    assert not no_jail.accepted and "sandbox_unavailable" in " ".join(no_jail.reasons)


def test_several_samples_are_each_checked_and_make_preference_pairs(sandbox):
    from synthstream.agents.verification.preferences import preference_pairs
    from tests.records import GENERATION

    spec = spec_with(samples=3, checks=[{"type": "python", "code": CHECK}])
    # sample 1: invalid, retried, invalid; sample 2 fails the check; sample 3 passes
    out, seen, prompt = write(spec, ["no json", "still none", '{"answer": "Quito"}', '{"answer": "Lima"}'])
    assert len(seen) == 4 and out.samples == ["no json", "still none", '{"answer": "Quito"}', '{"answer": "Lima"}']
    assert out.sample_answers == ["", '{"answer": "Quito"}', '{"answer": "Lima"}']
    assert out.response == '{"answer": "Quito"}' and out.parse_error is None  # the first valid one is the record
    gen = dict(GENERATION, **{k: v for k, v in out.fields().items() if k in GENERATION}, task="template.text",
               prompt_id="t-1", threshold=0.85)
    [pair] = preference_pairs(gen, sandbox)
    assert (pair["chosen"], pair["rejected"]) == ('{"answer": "Lima"}', '{"answer": "Quito"}')
    assert pair["rejected_reasons"][0].startswith("check_failed") and pair["prompt"][-1]["role"] == "user"
    assert preference_pairs(dict(gen, checks=json.dumps({"output": "json", "checks": []}))) == []  # nothing to tell apart
    none, _, _ = write(spec, ["x", "y", "z", "w", "v", "u"])
    assert none.parse_error.endswith("(after 2 replies; no sample of 3 was valid)") and none.sample_answers == ["", "", ""]


def test_rows_with_other_reference_answers_are_never_each_others_copies():
    """'What is the capital of Peru? ... Lima' and '... of Spain? ... Madrid' differ in two words
    (fuzz.ratio 92, a near copy by wording); their expected answers differ, so dedup keeps both.
    The same row's outputs still meet in one scope."""
    from synthstream.agents.dedup.core import DedupIndex, Duplicate, Unique
    from synthstream.agents.dedup.fields import dedup_route
    from synthstream.agents.families import default_fields

    def gen(pid: str, country: str, city: str, reference: str | None) -> dict:
        return {"prompt_id": pid, "task": "template.text", "lineage": {"dataset": "d"},
                "problem": f"What is the capital of {country}? Answer with the city's name.",
                "response": json.dumps({"answer": city, "source": "atlas"}), "reference_answer": reference}

    fields = default_fields("template.text")
    index = DedupIndex()
    decide = [index.check(g["prompt_id"], r.text, r.scope)[0] for g in (
        gen("a", "Peru", "Lima", "Lima"), gen("b", "Spain", "Madrid", "Madrid"), gen("c", "Peru", "Lima ", "Lima"),
        gen("d", "Peru", "Lima", None)) for r in [dedup_route(g, fields, 4)]]
    assert [type(d) for d in decide[:2]] == [Unique, Unique]
    assert isinstance(decide[2], Duplicate)  # the same row again
    assert isinstance(decide[3], Unique)  # no reference: a scope of its own, where wording alone decides

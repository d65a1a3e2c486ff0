"""Code, dialogue and grounded-QA generators and their verifiers, on scripted and recorded model output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from synthstream.agents.families import TASKS
from synthstream.agents.generation.tasks import PromptModel
from synthstream.agents.generation.tasks.code import (CodeParseError, body_from_function, code_block, completion_body,
                                          load_catalogue, written_spec)
from synthstream.agents.generation.tasks.dialogue import clean_turn
from synthstream.agents.generation.tasks.qa import load_corpus, parse_qa
from synthstream.agents.verification.sandbox import Limits, Sandbox, run_humaneval
from synthstream.agents.verification.core import verify
from tests.unit.test_math_tasks import MODEL, ScriptedModel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model_outputs"


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]


def run_task(task: str, texts: list[str], dims: dict[str, str], seed: int = 5, api: str = "completion",
             **params: str) -> tuple[Any, ScriptedModel, dict[str, Any]]:
    model = ScriptedModel(texts)
    p = {"prompt_id": "p", "task": task, "seed": seed, "instruction": TASKS[task].default_instructions[0],
         "dimensions": dims, "params": params, "threshold": 0.85, "model": dict(MODEL, api=api)}
    out = asyncio.run(TASKS[task].generate(p, PromptModel(model.complete, p)))
    gen = dict(out.fields(), task=task, threshold=0.85, dimensions=dims)
    return out, model, gen


# ---- code ---------------------------------------------------------------------------------------

def test_every_catalogue_solution_passes_its_tests_in_the_jail(sandbox: Sandbox) -> None:
    for spec in load_catalogue():
        result = run_humaneval(sandbox, spec.prompt, spec.canonical, spec.test, spec.entry_point)
        assert result.status == "passed", (spec.id, result)


def test_jail_verdicts_for_wrong_slow_and_hostile_programs(sandbox: Sandbox) -> None:
    spec = load_catalogue()[0]
    wrong = run_humaneval(sandbox, spec.prompt, "    return 0\n", spec.test, spec.entry_point)
    assert wrong.status == "failed" and wrong.detail.startswith("assertion failed at test line"), wrong

    def loading(program: str, limits: Limits = Limits()) -> tuple[str, str]:
        result = run_humaneval(sandbox, "", program + "\ndef f():\n    return 1\n",
                               "def check(candidate):\n    assert candidate() == 1\n", "f", limits)
        return result.status, result.detail

    assert loading("while True:\n    pass\n", Limits(wall_s=1.0, cpu_s=3))[0] == "timeout"
    status, detail = loading("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\n")
    assert status == "error" and "PermissionError" in detail, detail  # seccomp: no AF_INET sockets
    status, detail = loading(f"open({str(Path.home() / '.bashrc')!r}).read()\n")
    assert status == "error" and ("FileNotFoundError" in detail or "PermissionError" in detail), detail
    assert loading("import os\nassert os.environ.get('SYNTHSTREAM_LLM_API_KEY') is None\n") == ("passed", "passed")


def test_catalogue_completion_becomes_humaneval_fields() -> None:
    out, model, gen = run_task("code.python", ["    return sum(n for n in numbers if n % 2 == 0)\n\n\n"],
                               {"source": "catalogue", "difficulty": "easy"}, seed=0)
    spec = next(s for s in load_catalogue() if s.entry_point == out.code["entry_point"])
    assert spec.difficulty == "easy" and model.requests[0].prompt == spec.prompt
    assert "\ndef " in model.requests[0].sampling.stop
    assert out.code == {"prompt": spec.prompt, "completion": "    return sum(n for n in numbers if n % 2 == 0)\n",
                        "test": spec.test, "entry_point": spec.entry_point, "spec_source": "catalogue"}
    assert out.response == f"```python\n{spec.prompt}{out.code['completion']}```"


def test_a_right_body_is_accepted_and_a_wrong_one_rejected(sandbox: Sandbox) -> None:
    target = next(s for s in load_catalogue() if s.entry_point == "reverse_string")
    for seed in range(200):  # find a seed that picks reverse_string among the easy entries
        out, _, gen = run_task("code.python", ["    return text[::-1]\n"], {"source": "catalogue", "difficulty": "easy"},
                               seed=seed)
        if out.code["entry_point"] == target.entry_point:
            break
    assert verify(gen, sandbox).accepted
    wrong = dict(gen, code=dict(gen["code"], completion="    return text\n"))
    checked = verify(wrong, sandbox)
    assert not checked.accepted and checked.reasons[0].startswith("tests_failed")


def test_model_written_spec_becomes_humaneval_fields() -> None:
    import random

    from synthstream.agents.generation.tasks.code import VERBS

    verb = random.Random(5).choice(VERBS)  # the generator's first seeded draw when the topic is given
    text = ('words(text: str) -> int:\n    """Count the words."""\n    return len(text.split())\n\n'
            f"assert {verb}words('a b') == 2\nassert {verb}words('') == 0\n")
    out, model, gen = run_task("code.python", [text], {"source": "model", "topic": "strings"}, seed=5)
    assert model.requests[0].prompt.endswith(f"### Topic: strings\ndef {verb}")
    assert out.parse_error is None and out.code["spec_source"] == "model"
    assert out.code["entry_point"] == f"{verb}words" and out.code["test"].count("assert candidate(") == 2
    assert out.code["prompt"].endswith('"""Count the words."""\n')


@pytest.mark.parametrize("text,why", [
    ("    # TODO\n", "no statements"),
    ("    return [x for x in numbers\n", "does not parse"),
    ("", "no statements"),
])
def test_unusable_completions_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(CodeParseError, match=why):
        completion_body("def f(numbers):\n    \"\"\"Doc.\"\"\"\n", text)


def test_chat_replies_with_fences_imports_and_helpers() -> None:
    reply = ("Here you go:\n```python\nimport math\n\ndef helper(x):\n    return x * 2\n\n"
             "def f(n: int) -> int:\n    \"\"\"Doc.\"\"\"\n    return helper(math.floor(n))\n```\nHope it helps!")
    body = body_from_function(code_block(reply), "f")
    assert body.startswith("    import math\n    def helper(x):") and body.rstrip().endswith("return helper(math.floor(n))")
    with pytest.raises(CodeParseError, match="no function named 'g'"):
        body_from_function(code_block(reply), "g")


@pytest.mark.parametrize("source,why", [
    ("def f(x):\n    return x\nassert f(1) == 1\nassert f(2) == 2\n", "no docstring"),
    ('def f(x):\n    """D."""\n    return x\nassert f(1) == 1\n', "only 1 assert"),
    ("x = 1\n", "no function definition"),
])
def test_model_written_specs_need_a_docstring_and_tests(source: str, why: str) -> None:
    with pytest.raises(CodeParseError, match=why):
        written_spec(source)


def test_recorded_code_outputs_parse_or_are_refused_as_recorded() -> None:
    """Real completions of the embedded model (and a few hand-written bad ones): what parses
    must make a program that compiles; what is refused must say why."""
    import ast

    catalogue = {s.entry_point: s for s in load_catalogue()}
    seen = {"parsed": 0, "refused": 0}
    for row in rows("code.jsonl"):
        try:
            if row["source"] == "model":
                ws = written_spec(row["source_text"])
                program_text = ws.prompt + ws.completion + "\n" + ws.test
                assert ws.test.count("assert candidate(") >= 2
            else:
                spec = catalogue[row["entry_point"]]
                program_text = spec.prompt + completion_body(spec.prompt, row["text"]) + "\n" + spec.test
            ast.parse(program_text)
            got = "parsed"
        except CodeParseError as exc:
            assert len(str(exc)) > 10
            got = "refused"
        assert got == row["expect"], row
        seen[got] += 1
    assert seen["parsed"] >= 10 and seen["refused"] >= 4


# ---- dialogue -----------------------------------------------------------------------------------

def test_dialogue_alternates_turns_and_is_verified() -> None:
    turns = [" How do telescopes work?", " They gather light with a lens or a mirror.", " Which kind is better?",
             " Mirrors, for large telescopes, because big lenses sag."]
    out, model, gen = run_task("dialogue.chat", turns, {"topic": "science", "style": "casual", "turns": "2"})
    assert [m["role"] for m in out.messages] == ["user", "assistant", "user", "assistant"]
    assert model.requests[0].prompt.endswith("User:") and model.requests[1].prompt.endswith("Assistant:")
    assert "about science" in model.requests[0].prompt and "casual style" in model.requests[0].prompt
    assert len({r.sampling.seed for r in model.requests}) == 4
    assert verify(gen).accepted


def test_repetitive_dialogue_is_rejected() -> None:
    same = " Hi, this is a friendly conversation."
    _, _, gen = run_task("dialogue.chat", [same] * 4, {"turns": "2"})
    checked = verify(gen)
    assert not checked.accepted and any(r.startswith("turn_repeated") for r in checked.reasons)


def test_empty_turn_is_a_parse_error() -> None:
    out, _, gen = run_task("dialogue.chat", [" Hello there, assistant.", "   "], {"turns": "2"})
    assert out.parse_error == "turn 2 (assistant) is empty" and not verify(gen).accepted


def test_chat_api_dialogue_uses_roles() -> None:
    out, model, _ = run_task("dialogue.chat", ["What is AI?", "Software that learns.", "Is it safe?", "Mostly."],
                             {"turns": "2", "topic": "technology", "style": "formal"}, api="chat")
    assert model.requests[1].messages[0]["role"] == "system" and model.requests[1].messages[1]["role"] == "user"
    assert out.messages[-1]["content"] == "Mostly."


@pytest.mark.parametrize("raw,clean", [
    (" Sure, I can help.\nUser: thanks", "Sure, I can help."),
    ("Assistant: Fine.", "Fine."),
    ("  two\n lines ", "two lines"),
])
def test_turn_cleaning(raw: str, clean: str) -> None:
    assert clean_turn(raw) == clean


def test_recorded_dialogue_turns_clean_to_one_line_without_role_labels() -> None:
    import re

    cleaned = [(row["text"], clean_turn(row["text"])) for row in rows("dialogue.jsonl")]
    for raw, turn in cleaned:
        assert "\n" not in turn and not re.match(r"(?i)\s*(user|assistant)\s*:", turn)
        assert not re.search(r"(?i)\b(user|assistant):", turn), turn  # a leaked next turn was cut off
        assert bool(turn) == bool(re.sub(r"(?i)(user|assistant):", "", raw).strip()) or "\nUser:" in raw
    assert sum(1 for _, turn in cleaned if turn) >= 15


# ---- grounded QA --------------------------------------------------------------------------------

def test_qa_is_grounded_in_a_bundled_passage() -> None:
    out, model, gen = run_task("qa.grounded", [" How long is it?\nAnswer: about 6,650 kilometres"],
                               {"domain": "geography"})
    g = out.grounding
    assert g["evidence"] in g["context"] and g["doc_id"].startswith("geography/")
    assert model.requests[0].prompt.endswith("Question:") and g["evidence"] in model.requests[0].prompt
    assert out.fields()["messages"][0]["content"].endswith(f"Question: {g['question']}")
    assert out.fields()["messages"][1] == {"role": "assistant", "content": "about 6,650 kilometres"}


def test_qa_verifier_checks_support_and_giveaways() -> None:
    base = {"task": "qa.grounded", "threshold": 0.85, "dimensions": {}, "grounding": {
        "doc_id": "d", "chunk": 0, "context": "The Nile flows north into the Mediterranean Sea. It is long.",
        "evidence": "The Nile flows north into the Mediterranean Sea.", "question": "Where does the Nile flow?",
        "answer": "Into the Mediterranean Sea"}}
    assert verify(base).accepted
    unsupported = dict(base, grounding=dict(base["grounding"], answer="Into the Atlantic Ocean"))
    assert verify(unsupported).reasons[0].startswith("answer_unsupported")
    giveaway = dict(base, grounding=dict(base["grounding"], question="Does the Nile flow into the Mediterranean Sea?",
                                         answer="Mediterranean Sea"))
    assert any(r.startswith("answer_in_question") for r in verify(giveaway).reasons)
    multiple = dict(base, grounding=dict(base["grounding"], question="Which of the following is true?"))
    assert any(r.startswith("question_needs_options") for r in verify(multiple).reasons)
    moved = dict(base, grounding=dict(base["grounding"], evidence="The Amazon flows east into the Atlantic."))
    assert verify(moved).reasons[0].startswith("evidence_not_in_passage")


@pytest.mark.parametrize("text", [" What is the Nile?", " Where?\nAnswer: ", ""])
def test_unreadable_qa_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_qa(text)


def test_recorded_qa_outputs_parse_or_are_refused() -> None:
    read = 0
    for row in rows("qa.jsonl"):
        try:
            parse_qa(row["text"])
            read += 1
        except ValueError as exc:
            assert str(exc)
    assert read >= 8


def test_users_can_bring_their_own_corpus(tmp_path: Path) -> None:
    (tmp_path / "law").mkdir()
    (tmp_path / "law" / "contracts.md").write_text("# Contracts\n\nA contract is an agreement that the law will "
                                                   "enforce between two or more parties.\n")
    (tmp_path / "readme.txt").write_text("This corpus holds short texts written for the synthstream tests.\n")
    passages = load_corpus(str(tmp_path))
    assert {(p.doc_id, p.domain) for p in passages} == {("law/contracts", "law"), ("readme", "general")}
    out, _, _ = run_task("qa.grounded", [" What is a contract?\nAnswer: an agreement"], {"domain": "law"},
                         corpus=str(tmp_path))
    assert out.grounding["doc_id"] == "law/contracts"


def test_stock_phrases_are_boilerplate_and_cost_score() -> None:
    from synthstream.agents.verification.text_checks import check_dialogue

    msgs = [{"role": "user", "content": "How do bees find flowers?"},
            {"role": "assistant", "content": "They follow a sister's waggle dance to the food. I hope this helps!"},
            {"role": "user", "content": "And how far do they fly?"},
            {"role": "assistant", "content": "Often a few kilometres from the hive, farther when food is scarce."}]
    critical, soft, score = check_dialogue({"messages": msgs, "dimensions": {"turns": "2"}})
    assert not critical and soft == ["boilerplate: assistant turn(s) [2] pad with stock phrases ('I hope this helps', ...)"]
    clean = [dict(m, content=m["content"].replace(" I hope this helps!", "")) for m in msgs]
    assert check_dialogue({"messages": clean, "dimensions": {"turns": "2"}})[2] == pytest.approx(score + 0.15)


def test_a_turn_longer_than_the_spec_allows_is_refused_with_the_numbers() -> None:
    long_answer = " " + "Bees dance to share where food is. " * 5
    out, _, gen = run_task("dialogue.chat", [" How do bees talk?", long_answer], {"turns": "1"}, max_turn_chars="60")
    assert out.parse_error == "turn 2 (assistant) has 174 characters; the spec allows 60 (params.max_turn_chars)"
    assert not verify(gen).accepted

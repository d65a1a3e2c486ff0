"""Code tasks in the HumanEval format: ``prompt`` (signature and docstring), ``completion`` (the
body the model writes), ``test`` (defines ``check(candidate)``) and ``entry_point``.

Two sources of function specifications (the ``source`` dimension):

- ``catalogue``: a bundled catalogue of specifications with human-written tests
  (``data/code_catalogue.jsonl``; ``params.catalogue`` points at your own file of the same shape);
  the model writes the implementation;
- ``model``: the model writes the specification, the implementation and the tests (assert
  statements, turned into ``check``) for a topic; verification then runs its tests.

Parsers tolerate what models emit (code fences, preambles, trailing chatter, a whole function
where only the body was asked for) and reject what they cannot use, with the reason.
"""

from __future__ import annotations

import ast
import asyncio
import json
import random
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel
from synthstream.streams.runtime.errors import PoisonRecord

CATALOGUE = Path(__file__).resolve().parent / "data" / "code_catalogue.jsonl"
TOPICS = ("strings", "lists", "numbers", "dictionaries", "counting", "sorting", "searching", "validation",
          "text processing", "geometry")
VERBS = ("count_", "find_", "is_", "sum_", "make_", "get_", "remove_", "filter_", "to_", "has_", "reverse_",
         "max_", "min_", "join_", "split_")
COMPLETION_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```", "\nassert ")
SPEC_STOP = ("\n### ", "\n\n\n\n")
SYSTEM = ("You are an expert Python programmer. Reply with one ```python code block that contains the complete "
          "function, and nothing else.")
SPEC_SYSTEM = ("You are an expert Python programmer. Write one small, self-contained Python function with a type-"
               "annotated signature and a docstring, then at least three assert statements that test it. Reply "
               "with one ```python code block and nothing else.")
SPEC_HEADER = ("Small Python functions, each with a docstring and assert statements that test it.\n\n")
_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


class CodeParseError(ValueError):
    """The model's code cannot be used; the message says why."""


@dataclass(frozen=True)
class Spec:
    id: str
    difficulty: str
    entry_point: str
    prompt: str
    test: str
    canonical: str = ""


@lru_cache(maxsize=8)
def load_catalogue(path: str = str(CATALOGUE)) -> tuple[Spec, ...]:
    """Read a catalogue file (one JSON object per line); errors name the line and the field."""
    specs = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise PoisonRecord("invalid_record", f"cannot read code catalogue {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            specs.append(Spec(row["id"], row.get("difficulty", "medium"), row["entry_point"], row["prompt"],
                              row["test"], row.get("canonical", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise PoisonRecord("invalid_record", f"code catalogue {path} line {n}: {exc!r}") from exc
    if not specs:
        raise PoisonRecord("invalid_record", f"code catalogue {path} has no entries")
    return tuple(specs)


# ---- parsing ------------------------------------------------------------------------------------

def code_block(text: str) -> str:
    """The first fenced code block, else the text from the first def/import line on."""
    m = _FENCE.search(text)
    if m:
        return m.group(1)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("def ", "import ", "from ", "async def ")):
            return "\n".join(lines[i:])
    return text


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise CodeParseError(f"code does not parse: {exc.msg} (line {exc.lineno})") from None


def completion_body(prompt: str, text: str) -> str:
    """The body a base model wrote after ``prompt``: indented lines up to the first top-level line."""
    kept = []
    for line in text.splitlines():
        if line.strip() and not line[0].isspace():
            break
        kept.append(line)
    body = "\n".join(kept).rstrip() + "\n"
    statements = [ln for ln in kept if ln.strip() and not ln.strip().startswith("#")]
    if not statements:
        raise CodeParseError("the completion has no statements (empty, or only comments)")
    _parse(prompt + body)
    return body


def body_from_function(source: str, entry_point: str) -> str:
    """The body of ``entry_point`` from a whole module a chat model wrote, with its imports and
    helper functions moved inside, so that prompt + body is a complete program."""
    tree = _parse(source)
    lines = source.splitlines()
    target = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                   and n.name == entry_point), None)
    if target is None:
        raise CodeParseError(f"no function named {entry_point!r} in the reply")
    extra = [n for n in tree.body if n is not target and isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    stmts = target.body
    if stmts and isinstance(stmts[0], ast.Expr) and isinstance(getattr(stmts[0], "value", None), ast.Constant) \
            and isinstance(stmts[0].value.value, str):
        stmts = stmts[1:]  # the docstring is already in the prompt
    if not stmts:
        raise CodeParseError(f"function {entry_point!r} has only a docstring")
    body = textwrap.dedent("\n".join(lines[stmts[0].lineno - 1: target.end_lineno]))
    helpers = "\n".join(textwrap.dedent("\n".join(lines[n.lineno - 1: n.end_lineno])) for n in extra)
    return textwrap.indent(((helpers + "\n") if helpers else "") + body, "    ").rstrip() + "\n"


@dataclass(frozen=True)
class WrittenSpec:
    entry_point: str
    prompt: str
    completion: str
    test: str
    asserts: int


def written_spec(source: str) -> WrittenSpec:
    """A model-written function and its asserts, turned into HumanEval fields."""
    tree = _parse(source)
    lines = source.splitlines()
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not funcs:
        raise CodeParseError("no function definition in the reply")
    fn = funcs[0]
    doc = ast.get_docstring(fn)
    if not doc:
        raise CodeParseError(f"function {fn.name!r} has no docstring")
    doc_node = fn.body[0]
    rest = fn.body[1:]
    if not rest:
        raise CodeParseError(f"function {fn.name!r} has only a docstring")
    header = "\n".join(lines[fn.lineno - 1: doc_node.end_lineno]) + "\n"
    body = "\n".join(lines[rest[0].lineno - 1: fn.end_lineno]) + "\n"
    asserts = []
    for node in tree.body:
        if isinstance(node, ast.Assert) and any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
                                                and c.func.id == fn.name for c in ast.walk(node)):
            src = "\n".join(lines[node.lineno - 1: node.end_lineno])
            asserts.append(re.sub(rf"\b{re.escape(fn.name)}\s*\(", "candidate(", src))
    if len(asserts) < 2:
        raise CodeParseError(f"only {len(asserts)} assert statement(s) call {fn.name!r}; at least 2 are needed")
    test = "def check(candidate):\n" + "".join(f"    {a}\n" for a in asserts)
    return WrittenSpec(fn.name, header, body, test, len(asserts))


# ---- the task -----------------------------------------------------------------------------------

class CodeParams(Params):
    catalogue: str | None = Field(None, description="a JSONL catalogue of your own (id, entry_point, prompt, test, "
                                                    "difficulty); default: the bundled one")
    few_shot: int = Field(2, ge=0, le=4, description="worked examples in a completion prompt for model-written specs")
    samples: int = Field(1, ge=1, le=8, description="independent implementations of a catalogue spec drawn; each is tested, and one "
                                                  "that passes with one that fails make a preference pair")
    # the sandbox's limits for this task's tests (the verifier reads them from the spec)
    timeout_s: float = Field(5.0, ge=0.5, le=120, description="wall seconds for one program and its tests")
    cpu_s: int = Field(5, ge=1, le=120, description="CPU seconds per sandboxed process")
    memory_mb: int = Field(512, ge=64, le=8192, description="address space per sandboxed process")


class CodeTask(ModelTask):
    name = "code.python"
    summary = "Python functions with tests (HumanEval format): catalogue specs or model-written specs and tests"
    dimensions = {"source": ("catalogue", "model"), "difficulty": ("easy", "medium", "hard"), "topic": ()}
    required_dimensions = ("source",)
    params_model = CodeParams
    default_instructions = ("Implement the function so that it does what its docstring says.",
                            "Write the body of this Python function.")

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel,
                    rng: random.Random) -> Output:
        dims = prompt["dimensions"]
        if dims.get("source", "catalogue") == "model":
            return await self._model_spec(prompt, params, model, rng, dims.get("topic") or rng.choice(TOPICS))
        specs = load_catalogue(params.catalogue or str(CATALOGUE))
        wanted = [s for s in specs if s.difficulty == dims.get("difficulty", s.difficulty)] or list(specs)
        return await implement(prompt, rng.choice(wanted), model, "catalogue", params.samples)

    async def _model_spec(self, prompt: dict[str, Any], params: Any, model: PromptModel, rng: random.Random,
                          topic: str) -> Output:

        ask = f"{prompt['instruction'].strip()}\n\nTopic: {topic}."
        if model.api == "chat":
            [text] = (await model.complete(messages=({"role": "system", "content": SPEC_SYSTEM},
                                                     {"role": "user", "content": ask}), n=1))[:1]
            source = code_block(text)
        else:
            shots = load_catalogue(str(CATALOGUE))
            examples = [shots[i] for i in random.Random(f"code-spec-shots:{params.few_shot}").sample(
                range(len(shots)), params.few_shot)]
            blocks = "".join(f"### Topic: {TOPICS[i % len(TOPICS)]}\n{_as_written(s)}\n" for i, s in enumerate(examples))
            verb = rng.choice(VERBS)  # a base model left at 'def ' starts names with digits
            head = f"{SPEC_HEADER}{blocks}### Topic: {topic}\ndef {verb}"
            [text] = (await model.complete(prompt=head, stop=SPEC_STOP, n=1))[:1]
            source = f"def {verb}{text}"
        code = {"prompt": "", "completion": "", "test": "", "entry_point": "", "spec_source": "model"}
        try:
            ws = written_spec(source)
        except CodeParseError as exc:
            return Output(problem=ask, response=text, samples=[text], code=code, parse_error=str(exc))
        code.update(prompt=ws.prompt, completion=ws.completion, test=ws.test, entry_point=ws.entry_point)
        user = f"{prompt['instruction'].strip()}\n\n```python\n{ws.prompt}```"
        return Output(problem=user, response=f"```python\n{ws.prompt}{ws.completion}```", answer=ws.entry_point,
                      samples=[text], code=code)


async def implement(prompt: dict[str, Any], spec: Spec, model: PromptModel, source: str, samples: int = 1) -> Output:
    """The model writes the body of a given spec (a catalogue's or a seed row's), ``samples``
    times independently. The record's completion is the first sample that parses; every raw
    sample is kept (``samples``) with its parsed body, or '' (``sample_answers``), so the
    verifier can test each one: samples that pass and fail make preference pairs."""
    user = f"{prompt['instruction'].strip()}\n\n```python\n{spec.prompt}```"
    if model.api == "chat":
        messages = ({"role": "system", "content": SYSTEM}, {"role": "user", "content": user})
        jobs = [model.complete(messages=messages, n=1) for _ in range(samples)]
        parse = lambda text: body_from_function(code_block(text), spec.entry_point)  # noqa: E731
    else:
        jobs = [model.complete(prompt=spec.prompt, stop=COMPLETION_STOP, n=1) for _ in range(samples)]
        parse = lambda text: completion_body(spec.prompt, text)  # noqa: E731
    texts = [replies[0] for replies in await asyncio.gather(*jobs)]
    bodies, errors = [], []
    for text in texts:
        try:
            bodies.append(parse(text))
        except CodeParseError as exc:
            bodies.append("")
            errors.append(str(exc))
    code = {"prompt": spec.prompt, "completion": "", "test": spec.test, "entry_point": spec.entry_point,
            "spec_source": source}
    kept = bodies if samples > 1 else []
    first = next((i for i, body in enumerate(bodies) if body), None)
    if first is None:
        why = errors[0] if samples == 1 else f"no sample parses ({len(texts)} samples; the first: {errors[0]})"
        return Output(problem=user, response=texts[0], samples=texts, sample_answers=kept, code=code, parse_error=why)
    code["completion"] = bodies[first]
    response = f"```python\n{spec.prompt}{code['completion']}```"
    return Output(problem=user, response=response, answer=spec.entry_point, samples=texts, sample_answers=kept,
                  code=code)


def seed_spec(prompt: str, test: str, entry_point: str) -> Spec:
    """A seed row's function spec: ``prompt`` a signature with a docstring that defines
    ``entry_point``; ``test`` HumanEval's ``def check(candidate)`` or MBPP's assert statements
    (a JSON list or lines) calling the function, turned into ``check``. CodeParseError says what
    is wrong."""
    tree = _parse(prompt if prompt.rstrip().endswith(("pass", "...")) else prompt + "    pass\n")
    names = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    if entry_point not in names:
        raise CodeParseError(f"the prompt defines {names or 'no function'}, not the entry point {entry_point!r}")
    text = test.strip()
    if text.startswith("["):
        try:
            text = "\n".join(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise CodeParseError(f"the tests look like a JSON list but are not one: {exc}") from None
    if "def check(" not in text:
        asserts = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("assert ")]
        if not asserts:
            raise CodeParseError("the tests have neither a def check(candidate) nor assert statements")
        call = re.compile(rf"\b{re.escape(entry_point)}\s*\(")
        text = "def check(candidate):\n" + "".join(f"    {call.sub('candidate(', a)}\n" for a in asserts)
    try:
        compile(text, "<tests>", "exec")
    except SyntaxError as exc:
        raise CodeParseError(f"the tests do not compile: {exc.msg} (line {exc.lineno})") from None
    return Spec(id="seed", difficulty="", entry_point=entry_point, prompt=prompt if prompt.endswith("\n") else prompt + "\n",
                test=text if text.endswith("\n") else text + "\n")


class SeedCodeParams(Params):
    prompt: str | None = Field(None, description="the signature and docstring (from the seed row)")
    test: str | None = Field(None, description="def check(candidate), or assert statements calling the function")
    entry_point: str | None = Field(None, description="the function's name")
    samples: int = Field(1, ge=1, le=8, description="independent implementations drawn; each is tested, and one "
                                                  "that passes with one that fails make a preference pair")
    timeout_s: float = Field(5.0, ge=0.5, le=120, description="wall seconds for one program and its tests")
    cpu_s: int = Field(5, ge=1, le=120, description="CPU seconds per sandboxed process")
    memory_mb: int = Field(512, ge=64, le=8192, description="address space per sandboxed process")

    @field_validator("test", mode="before")
    @classmethod
    def _lines(cls, value: Any) -> Any:
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value  # MBPP's test_list


class SeededCodeTask(ModelTask):
    name = "code.seeded"
    summary = "your own function specs with tests (HumanEval or MBPP rows): the model implements, the jail tests"
    dimensions: dict[str, tuple[str, ...]] = {}
    params_model = SeedCodeParams
    seed_fields = ("prompt", "test", "entry_point")
    default_instructions = ("Implement the function so that it does what its docstring says.",)

    @classmethod
    def check_seed(cls, params: dict[str, str]) -> str | None:
        try:
            seed_spec(params["prompt"], params["test"], params["entry_point"])
        except CodeParseError as exc:
            return str(exc)
        return None

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel, rng: random.Random) -> Output:
        if not (params.prompt and params.test and params.entry_point):
            raise PoisonRecord("invalid_record", "code.seeded needs the prompt, test and entry_point params of a "
                                                 "seed row; give the spec a seeds: section (or produce --from FILE)")
        try:
            spec = seed_spec(params.prompt, params.test, params.entry_point)
        except CodeParseError as exc:
            raise PoisonRecord("invalid_record", f"the seed row's function spec: {exc}") from None
        return await implement(prompt, spec, model, "seed", params.samples)


def _as_written(spec: Spec) -> str:
    """A catalogue entry the way the model is asked to write one: function, then asserts."""
    asserts = [ln.strip().replace("candidate(", f"{spec.entry_point}(") for ln in spec.test.splitlines()
               if ln.strip().startswith("assert ")][:3]
    doc_only = spec.prompt.split('"""')[1].strip().splitlines()[0]
    header = spec.prompt.split('"""')[0] + f'"""{doc_only}"""\n'
    return header + spec.canonical + "\n" + "\n".join(asserts) + "\n"

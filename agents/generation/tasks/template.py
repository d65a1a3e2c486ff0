"""template.text: a task the user defines in the spec, over their own rows.

The prompt is a Jinja2 template (a sandboxed environment with strict undefined: a name the row
and the dimensions do not have is an error, never an empty string) over the prompt's params (a
seed row's mapped fields), its dimensions (``dimensions.style``, or the name itself) and
``row`` (all params). The output is free text or JSON: with ``output: json`` and a JSON Schema,
a chat model is asked for structured output (``response_format`` with the schema, what vLLM's
guided decoding and OpenAI's structured outputs read); every reply is parsed and validated with
``jsonschema``, and a reply that fails gets one more request that says what was wrong (up to
``retries``), the raw replies kept as the samples. What the output must pass (a regex, the
JSON Schema, a comparison with a reference field, a Python ``check(record)`` run in the code
sandbox) travels with the generation to the verifier (agents/families/template.py).

Every part of the spec is checked when the spec is loaded: the template's syntax, the schema,
the regexes and the check's code, each error naming the task and the part.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthstream.agents.generation.tasks.base import ModelTask, Output, Params, PromptModel
from synthstream.streams.runtime.errors import PoisonRecord

CONFIG = ("template", "system", "output", "schema", "checks", "retries", "reference")
_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL)


class Check(BaseModel):
    """One declared check of the output."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["regex", "reference", "python"]
    pattern: str | None = Field(None, description="regex: matched with re.search against the field")
    field: str | None = Field(None, description="a (dotted) field of the JSON output to check; default: the whole "
                                                "output text")
    mode: Literal["exact", "numeric", "fuzzy"] = Field("exact", description="reference: exact (case and spacing "
                                                       "ignored), numeric (the math verifier: exact values, any "
                                                       "notation) or fuzzy (rapidfuzz ratio)")
    min_ratio: float = Field(90.0, gt=0, le=100, description="fuzzy: the rapidfuzz ratio needed")
    code: str | None = Field(None, description="python: defines check(record) -> bool or a score in [0, 1]; "
                                               "record has response, json and params")

    @model_validator(mode="after")
    def _complete(self) -> "Check":
        if self.type == "regex":
            if not self.pattern:
                raise ValueError("a regex check needs a pattern")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"regex {self.pattern!r} does not compile: {exc}") from None
        if self.type == "python":
            if not self.code or "def check(" not in self.code:
                raise ValueError("a python check needs code that defines check(record)")
            try:
                compile(self.code, "<check>", "exec")
            except SyntaxError as exc:
                raise ValueError(f"the check's code does not compile: {exc.msg} (line {exc.lineno})") from None
        return self


class TemplateParams(Params):
    """The spec's task params; the prompt's other params are the row's fields."""

    model_config = ConfigDict(extra="allow", frozen=True)
    template: str = Field(description="the Jinja2 template of the user message")
    system: str | None = Field(None, description="a system message for chat models")
    output: Literal["text", "json"] = Field("text", description="free text, or JSON (validated by schema)")
    schema_: dict[str, Any] | None = Field(None, alias="schema", description="output: json: the JSON Schema the "
                                                                             "output must satisfy")
    checks: list[Check] = Field(default_factory=list, description="what the output must pass")
    reference: str | None = Field(None, description="the param (a row field) a reference check compares with")
    retries: int = Field(1, ge=0, le=3, description="more requests when the JSON does not parse or validate")
    samples: int = Field(1, ge=1, le=8, description="independent outputs drawn; each passes the checks or not, and one "
                                                  "that passes with one that fails make a preference pair")

    @field_validator("template")
    @classmethod
    def _template(cls, text: str) -> str:
        try:
            environment().parse(text)
        except Exception as exc:  # jinja2.TemplateSyntaxError, with its line
            raise ValueError(f"the template does not parse: {exc}") from None
        return text

    @model_validator(mode="after")
    def _consistent(self) -> "TemplateParams":
        if self.output == "json":
            if self.schema_ is None:
                raise ValueError("output: json needs a schema (a JSON Schema the output must satisfy)")
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(self.schema_)
            except SchemaError as exc:
                raise ValueError(f"the schema is not a valid JSON Schema: {exc.message}") from None
        if any(c.type == "reference" for c in self.checks) and not self.reference:
            raise ValueError("a reference check needs reference: <the param holding the expected value>")
        return self

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items()}


def environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def render(template: str, row: dict[str, Any], dimensions: dict[str, str]) -> str:
    """The user message; PoisonRecord naming what the template asked for and the row lacks."""
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    values = {**dimensions, **row, "row": row, "dimensions": dimensions}
    try:
        return environment().from_string(template).render(**values).strip()
    except UndefinedError as exc:
        raise PoisonRecord("invalid_record", f"the template uses {exc.message}; the prompt has "
                                             f"{sorted(row)} and dimensions {sorted(dimensions)}") from None
    except SecurityError as exc:
        raise PoisonRecord("invalid_record", f"the template tried something the sandbox refuses: {exc}") from None


def parse_json(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """The reply as JSON (a code fence around it is fine), or why it is not valid."""
    from jsonschema import Draft202012Validator

    fenced = _FENCE.search(text)
    body = (fenced.group(1) if fenced else text).strip()
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "the top level"
        return value, f"does not match the schema at {where}: {first.message}"
    return value, None


class TemplateTask(ModelTask):
    name = "template.text"
    summary = "your own task: a Jinja2 template over your rows, free text or JSON with a schema, your checks"
    dimensions: ClassVar[dict[str, tuple[str, ...]]] = {}
    params_model = TemplateParams
    default_instructions = ("(the template is the prompt)",)

    async def write(self, prompt: dict[str, Any], params: Any, model: PromptModel, rng: random.Random) -> Output:
        row = params.row()
        user = render(params.template, row, dict(prompt["dimensions"]))
        declared = json.dumps({"output": params.output, "schema": params.schema_,
                               "checks": [c.model_dump(exclude_none=True) for c in params.checks]}, sort_keys=True)
        reference = str(row[params.reference]) if params.reference and params.reference in row else None
        if params.reference and reference is None:
            raise PoisonRecord("invalid_record", f"the reference param {params.reference!r} is not in the prompt's "
                                                 f"params {sorted(row)}")
        messages: list[dict[str, str]] = ([{"role": "system", "content": params.system}] if params.system else [])
        messages.append({"role": "user", "content": user})
        structured = ({"type": "json_schema", "json_schema": {"name": "output", "schema": params.schema_,
                                                              "strict": False}}
                      if params.output == "json" and model.api == "chat" else None)
        drawn = [await self._sample(params, model, list(messages), structured) for _ in range(params.samples)]
        replies = [r for sample_replies, _, _ in drawn for r in sample_replies]
        first = next((k for k, (_, _, problem) in enumerate(drawn) if problem is None), 0)
        _, response, problem = drawn[first]
        outputs = [out if why is None else "" for _, out, why in drawn] if params.samples > 1 else []
        tries = len(drawn[first][0])
        return Output(problem=user, response=response, answer=response if params.output == "json" else "",
                      reference_answer=reference, samples=replies, sample_answers=outputs, checks=declared,
                      parse_error=f"the output {problem} (after {tries} replies"
                                  + (f"; no sample of {params.samples} was valid)" if params.samples > 1 else ")")
                      if problem else None,
                      messages=[*([m for m in messages[:1] if m["role"] == "system"]),
                                {"role": "user", "content": user}, {"role": "assistant", "content": response}])

    @staticmethod
    async def _sample(params: Any, model: PromptModel, messages: list[dict[str, str]],
                      structured: dict[str, Any] | None) -> tuple[list[str], str, str | None]:
        """One output: (every raw reply, the output, why it is not valid or None), with up to
        ``retries`` more requests that say what was wrong."""
        replies: list[str] = []
        problem = None
        text = ""
        for _ in range(params.retries + 1):
            if model.api == "chat":
                [text] = (await model.complete(messages=tuple(messages), n=1, response_format=structured))[:1]
            else:
                [text] = (await model.complete(prompt="\n\n".join(m["content"] for m in messages) + "\n", n=1))[:1]
            replies.append(text)
            if params.output == "text":
                break
            value, problem = parse_json(text, params.schema_)
            if problem is None:
                text = json.dumps(value, ensure_ascii=False, sort_keys=True)
                break
            messages += [{"role": "assistant", "content": text},
                         {"role": "user", "content": f"That reply {problem}. Reply with the JSON only."}]
        output = replies[-1].strip() if params.output == "text" or problem is not None else text
        return replies, output, problem

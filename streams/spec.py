"""Declarative dataset specs: what to generate, in which proportions, and how strictly to verify."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.generation.core import DIFFICULTIES
from streams.errors import ConfigError

KNOWN_TASKS: dict[str, dict[str, set[str]]] = {
    # task -> dimension -> allowed categories (empty set: any category)
    "math.linear": {"difficulty": set(DIFFICULTIES), "domain": set()},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    version: str = Field(min_length=1)


class TaskSpec(_Strict):
    name: str
    weight: float = Field(gt=0)
    instructions: list[str] = Field(min_length=1)
    dimensions: dict[str, dict[str, float]] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    threshold: float | None = Field(None, ge=0, le=1)

    @field_validator("name")
    @classmethod
    def _known_task(cls, name: str) -> str:
        if name not in KNOWN_TASKS:
            raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(sorted(KNOWN_TASKS))}")
        return name

    @model_validator(mode="after")
    def _check_dimensions(self) -> "TaskSpec":
        allowed = KNOWN_TASKS[self.name]
        for dim, weights in self.dimensions.items():
            if not weights:
                raise ValueError(f"dimension {dim!r} has no categories")
            if any(w <= 0 for w in weights.values()):
                raise ValueError(f"dimension {dim!r}: every weight must be > 0")
            if dim in allowed and allowed[dim] and not set(weights) <= allowed[dim]:
                bad = sorted(set(weights) - allowed[dim])
                raise ValueError(f"dimension {dim!r}: unknown categories {bad}; expected some of {sorted(allowed[dim])}")
        missing = [d for d, cats in allowed.items() if cats and d not in self.dimensions]
        if missing:
            raise ValueError(f"task {self.name} needs dimensions {missing}")
        return self


class VerificationSpec(_Strict):
    threshold: float = Field(0.85, ge=0, le=1)


class Spec(_Strict):
    dataset: DatasetSpec
    seed: int = 0
    tasks: list[TaskSpec] = Field(min_length=1)
    verification: VerificationSpec = VerificationSpec()

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def threshold_for(self, task: TaskSpec) -> float:
        return task.threshold if task.threshold is not None else self.verification.threshold

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


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"spec {path} is invalid:"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - field {where}: {err['msg']}")
    return "\n".join(lines)


def parse_spec(data: Any, source: Path | str = "<spec>") -> Spec:
    path = Path(source)
    if not isinstance(data, dict):
        raise ConfigError(f"spec {path} is invalid: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from exc


def load_spec(path: Path | str) -> Spec:
    """Load and validate a YAML spec; every problem is a ConfigError naming file and field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read spec {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"spec {path} is not valid YAML: {exc}") from exc
    return parse_spec(data, path)

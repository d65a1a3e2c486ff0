"""What the stages are given: the runtime's parts, this worker's adapters, and each data set's
stage configuration (built from its spec by the application layer, read by the stages)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from synthstream.agents.dedup.decontam import Decontaminator
from synthstream.agents.dedup.fields import DedupFields
from synthstream.agents.families import default_fields, default_weights, judged_by_default
from synthstream.agents.generation.backends.client import ModelClient
from synthstream.agents.semantic.service import EmbeddingService
from synthstream.agents.verification.sandbox import Limits, Sandbox
from synthstream.agents.verification.validators import Validator
from synthstream.agents.verification.validators.judge import JudgePanel, JudgeValidator, UnreachableJudge

Judge = JudgeValidator | JudgePanel | UnreachableJudge
from synthstream.streams.runtime.metrics import Metrics
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.streams.runtime.settings import WorkerSettings
from synthstream.streams.runtime.shell import now_ms
from synthstream.streams.runtime.topics import TopicNames

if TYPE_CHECKING:
    from synthstream.agents.spec import Spec


@dataclass(frozen=True)
class DatasetConfig:
    """One data set's stage configuration; whatever its spec leaves unset is the task family's
    default (and a data set no spec describes gets the defaults throughout)."""

    name: str
    targets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # dimension -> category -> share
    gates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # task -> validator -> weight
    judge: Judge | None = None  # runs where a task's gate weighs 'judge' above 0
    review_fraction: float = 0.0  # share of verdicts sent to human-review
    sandbox_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # task -> Limits field -> value
    dedup_fields: Mapping[str, DedupFields] = field(default_factory=dict)  # task -> fields
    dedup_thresholds: tuple[float, float] | None = None  # (ratio, token_sort); None: the worker's
    dedup_semantic: float | None = None  # the semantic tier's cosine; None: the worker's
    topics: Mapping[str, str] = field(default_factory=dict)  # topic -> description, for the topic validator
    judge_by_default: float = 0.0  # the judge's weight for tasks no spec describes whose family is judged by default
    decontam: Decontaminator | None = None  # the benchmarks this data set's records must not copy

    @classmethod
    def from_spec(cls, spec: Spec, judge: Judge | None = None, judge_by_default: float = 0.0) -> DatasetConfig:
        """``judge_by_default``: the judge's weight for the families judged by default (0: off)."""
        gates = spec.gates(judge_by_default if judge is not None else 0.0)
        return cls(spec.dataset.name, spec.targets(), gates, judge, spec.verification.review_fraction,
                   spec.sandbox_limits(), spec.dedup_fields(), (spec.dedup.ratio, spec.dedup.token_sort),
                   spec.dedup.semantic, dict(spec.verification.topics))

    def gate(self, task: str) -> Mapping[str, float]:
        described = self.gates.get(task)
        if described:
            return described
        if self.judge is not None and self.judge_by_default > 0 and judged_by_default(task):
            return {**default_weights(task), "judge": self.judge_by_default}
        return default_weights(task)

    def judged(self, task: str) -> Judge | None:
        return self.judge if self.judge is not None and self.gate(task).get("judge", 0) > 0 else None

    def dedup(self, task: str) -> DedupFields:
        return self.dedup_fields.get(task) or default_fields(task)

    def limits(self, task: str, base: Limits) -> Limits:
        """The sandbox's limits for a task: the spec's where it sets them, else ``base``."""
        spec = self.sandbox_limits.get(task)
        if not spec:
            return base
        return replace(base, **{k: (int(v) if k != "wall_s" else float(v)) for k, v in spec.items()})


@dataclass
class Deps:
    """Everything an agent needs, passed in (never imported as globals)."""

    names: TopicNames
    serde: SchemaRegistry
    metrics: Metrics
    worker: WorkerSettings
    datasets: dict[str, DatasetConfig] = field(default_factory=dict)
    clock: Callable[[], int] = now_ms
    model_client: ModelClient | None = None  # when generation (or a judge) runs here
    generation_concurrency: int = 1
    sandbox: Sandbox | None = None  # when verification runs here
    verification_concurrency: int = 0  # records verified at once; 0: as many as the jail takes, when code is verified
    validators: list[Validator] = field(default_factory=list)  # besides each task's own verifier
    bootstrap: str | None = None  # where dedup and bias re-read their topics from (None: nothing to re-read)
    partitions: int = 1  # of the pipeline's topics: verdicts go to partition_for(scope, partitions)
    embeddings: EmbeddingService | None = None  # the worker's one embedding service (verification and dedup)

    def dataset(self, name: str) -> DatasetConfig:
        return self.datasets.get(name) or DatasetConfig(name)

"""What the stages are given: the runtime's parts and each data set's stage configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthstream.streams.runtime.metrics import Metrics
from synthstream.streams.runtime.serde import SchemaRegistry
from synthstream.streams.runtime.settings import WorkerSettings
from synthstream.streams.runtime.shell import now_ms
from synthstream.streams.runtime.topics import TopicNames


@dataclass
class Deps:
    """Everything an agent needs, passed in (never imported as globals)."""

    names: TopicNames
    serde: SchemaRegistry
    metrics: Metrics
    worker: WorkerSettings
    targets: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    clock: Callable[[], int] = now_ms
    model_client: Any = None  # synthstream.agents.generation.backends.client.ModelClient, when generation runs here
    generation_concurrency: int = 1
    sandbox: Any = None  # synthstream.agents.verification.sandbox.Sandbox, when verification runs here
    validators: list[Any] = field(default_factory=list)  # synthstream.agents.verification.validators, besides the task's own
    gates: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # dataset -> task -> weights
    judges: dict[str, Any] = field(default_factory=dict)  # dataset -> JudgeValidator, where the spec weighs one
    review_fractions: dict[str, float] = field(default_factory=dict)  # dataset -> share of verdicts to review
    sandbox_limits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # dataset -> task -> limits
    bootstrap: str | None = None  # where dedup replays its changelog from (None: nothing to replay)
    partitions: int = 1  # of the pipeline's topics: verdicts are routed to partition_for(scope, partitions)
    dedup_fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # dataset -> task -> DedupFields
    dedup_thresholds: dict[str, tuple[float, float]] = field(default_factory=dict)  # dataset -> (ratio, token_sort)
